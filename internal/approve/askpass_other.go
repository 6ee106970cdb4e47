//go:build !unix

package approve

import "os/exec"

// setProcessGroup leaves the default: the program alone is killed on cancel.
func setProcessGroup(cmd *exec.Cmd) {}
