//go:build unix

package approve

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts the program in its own process group and makes
// cancellation kill the whole group: a shell-script askpass that started a
// dialog must not leave the dialog on screen after the request is gone.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
