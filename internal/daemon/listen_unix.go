//go:build unix

package daemon

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// listenPrivate binds with umask 0177 so the socket is never, even for an
// instant, connectable by others, then makes sure of mode 0600.
func listenPrivate(path string) (*net.UnixListener, error) {
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ln, nil
}
