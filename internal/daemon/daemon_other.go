//go:build !unix

package daemon

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vigil-agent/vigil/internal/caller"
)

// ErrUnsupported is what Listen returns where vigil has no listener yet.
// On Windows the agent belongs on the named pipe \\.\pipe\openssh-ssh-agent
// (through github.com/Microsoft/go-winio), with the client's pid from
// GetNamedPipeClientProcessId; until that exists, vigil serve fails here
// rather than listening on something OpenSSH for Windows does not use.
var ErrUnsupported = unsupported()

func unsupported() error {
	if runtime.GOOS == "windows" {
		return errors.New("vigil serve on Windows needs the named pipe listener: not implemented yet")
	}
	return fmt.Errorf("vigil serve is not implemented on %s", runtime.GOOS)
}

// Listen fails: vigil has no listener on this platform.
func Listen(string, ListenOptions) (*Socket, error) { return nil, ErrUnsupported }

// admitted refuses everyone: nothing here says who connected.
func admitted(*caller.Info) bool { return false }
