//go:build !unix

package approve

import (
	"os/exec"
	"syscall"
)

// stopSignals: without process groups or signals, the program is killed.
var stopSignals = []syscall.Signal{syscall.SIGKILL}

// ownProcessGroup leaves the default.
func ownProcessGroup(cmd *exec.Cmd) {}

// signalGroup kills the program alone.
func signalGroup(cmd *exec.Cmd, _ syscall.Signal) error { return cmd.Process.Kill() }
