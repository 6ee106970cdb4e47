package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the agent die if the benchmark dies, so no agent
// outlives a crashed run.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
