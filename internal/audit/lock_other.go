//go:build !unix || aix

package audit

import "os"

// lockDir is a no-op where golang.org/x/sys/unix has no flock: a second
// writer there is not refused, and Verify would report its records.
func lockDir(string) (*os.File, error) { return nil, nil }
