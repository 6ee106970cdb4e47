//go:build unix

package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Listen creates the socket at path, mode 0600. A stale socket left by a
// dead agent is replaced; a live one is never touched (ErrInUse).
func Listen(path string, opt ListenOptions) (*Socket, error) {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Dir(path)
	if opt.OwnDir {
		if err := ensurePrivateDir(dir); err != nil {
			return nil, err
		}
	} else if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("socket directory is open to other users; the socket itself is 0600 and every peer's uid is checked",
			"dir", dir, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := listenPrivate(path)
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	s := &Socket{Listener: ln, Path: path}
	if fi, err := os.Lstat(path); err == nil {
		s.file = fi
	}
	return s, nil
}

// removeStale deletes a socket at path that nobody answers on. A socket
// that answers is ErrInUse; anything that is not a socket is left alone.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket: not touching it", path)
	}
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s: %w by another agent", path, ErrInUse)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: cannot tell whether it is in use: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

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
