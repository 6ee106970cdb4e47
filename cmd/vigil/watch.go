package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/vigil-agent/vigil/internal/watch/ui"
)

var watchCommand = &command{
	name:     "watch",
	synopsis: "[--socket PATH]",
	summary:  "answer the agent's prompts and revoke grants in this terminal",
	help: `Shows, in this terminal, each request that waits for a person's decision, with
its facts (program, parents, key, purpose, host, path), and the live grants.
Keys: a allows once; g grants for a while (then 1: 5 min, 2: 1 hour, 3: until
lock); d denies; up/down and r revoke the selected grant; q quits. The allow
keys are inactive for the first second a request is shown, so that a key
pressed by reflex does not approve it.

vigil watch is the "tui" approver (approver = [..., "tui"] in the config
file; by default it comes after pinentry and askpass, so it asks when
neither is configured): while one runs, prompts come here, on any machine
and over SSH, where no window can open. Answers are read from this terminal
only, never from the terminal of the program that asks. Several may run at
once: the first answer counts, and each is told when another connects. If
the last one quits while a request waits, that request is refused.

Only vigil watch run from vigil's own executable is admitted, and vigil
refuses an answer that allows a request within a second of showing it. Even
so, any program running as you could start vigil watch on a terminal it
controls and answer there: put "tui" first only where no window-based
approver can be used, and read the audit log's approver field, which names
the vigil watch (by pid) that answered.

vigil watch connects to the control socket beside the agent's: control.sock
beside agent.sock, or the agent's socket path with ".control" added. Only the
agent's own user may connect.
`,
	setup: controlSetup(func(path string, _ []string, stdout, _ io.Writer) error {
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			return fmt.Errorf("vigil watch reads its answers from a terminal, and its standard input is not one")
		}
		ctl := controlSocket(path)
		conn, err := dialAgent(ctl)
		if err != nil {
			return fmt.Errorf("no vigil control socket at %s (is vigil serve running at %s?): %w", ctl, path, err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return ui.Run(ctx, conn, path, os.Stdin, stdout)
	}),
}
