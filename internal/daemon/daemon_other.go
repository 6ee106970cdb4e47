//go:build !unix && !windows

package daemon

import (
	"fmt"
	"runtime"

	"github.com/vigil-agent/vigil/internal/caller"
)

// ErrUnsupported is what Listen returns where vigil has no listener.
var ErrUnsupported = fmt.Errorf("vigil serve is not implemented on %s", runtime.GOOS)

// Listen fails: vigil has no listener on this platform.
func Listen(string, ListenOptions) (*Socket, error) { return nil, ErrUnsupported }

// admitted refuses everyone: nothing here says who connected.
func admitted(*caller.Info) bool { return false }
