//go:build !unix && !windows

package main

import (
	"flag"
	"io"

	"github.com/vigil-agent/vigil/internal/daemon"
)

// vigil serve has no listener on this platform yet (daemon.ErrUnsupported
// says what is missing). It fails at once, before it reads the config or
// opens the audit log, so that this is the error a user sees rather than a
// later symptom. The flags stay, so help and the man page are the same on
// every platform.
func init() {
	setup := serveCommand.setup
	serveCommand.setup = func(fs *flag.FlagSet) runFunc {
		setup(fs)
		return func([]string, io.Writer, io.Writer) error { return daemon.ErrUnsupported }
	}
}
