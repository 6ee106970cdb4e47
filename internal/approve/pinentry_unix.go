//go:build unix

package approve

import (
	"os/exec"
	"syscall"
)

// stopSignals end a pinentry politely first: see stopLocked.
var stopSignals = []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL}

// ownProcessGroup starts the program in a process group of its own, so
// that what it starts ends with it.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends sig to the program's process group.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	return syscall.Kill(-cmd.Process.Pid, sig)
}
