//go:build !unix

package vault

import "time"

// cpuTime is not measured here; BenchmarkUnlock reports 0.
func cpuTime() time.Duration { return 0 }
