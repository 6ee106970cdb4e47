// Package daemon owns the agent's socket: creating it safely, accepting
// connections, checking who connected, and shutting down cleanly.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-agent/vigil/internal/caller"
)

// Handler serves one accepted connection until it ends or ctx is done.
type Handler interface {
	ServeConn(ctx context.Context, c net.Conn, who *caller.Info)
}

// ErrInUse means another agent already answers on the socket path.
var ErrInUse = errors.New("already in use")

// Socket is a listening agent socket that removes its file on Close, but
// only if the file is still the one it created.
type Socket struct {
	*net.UnixListener
	Path string
	ino  uint64
}

// ListenOptions says how careful Listen must be with the socket's directory.
type ListenOptions struct {
	// OwnDir: the directory is vigil's own (the default location). It is
	// created 0700 if missing, and an existing one that is a symlink, owned
	// by someone else or open to group or others is refused.
	// Otherwise the directory is used as given, as ssh-agent -a does, with
	// a warning if others can enter it.
	OwnDir bool
	Log    *slog.Logger
}

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
	s := &Socket{UnixListener: ln, Path: path}
	if fi, err := os.Lstat(path); err == nil {
		s.ino = inode(fi)
	}
	return s, nil
}

// Close stops listening and removes the socket file if it is still ours.
func (s *Socket) Close() error {
	err := s.UnixListener.Close()
	if fi, lerr := os.Lstat(s.Path); lerr == nil && s.ino != 0 && inode(fi) == s.ino {
		if rerr := os.Remove(s.Path); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
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

// Serve accepts connections on ln until ctx is done, then waits for every
// connection handler to return. Only the owner of the process and root are
// served; anyone else is disconnected and logged.
func Serve(ctx context.Context, ln *net.UnixListener, h Handler, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	owner := uint32(os.Geteuid())
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait for some to be
			// released rather than spin or exit.
			log.Warn("accept failed", "err", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			who, err := caller.FromConn(c)
			if err != nil {
				log.Warn("connection refused: no peer credentials", "err", err)
				c.Close()
				return
			}
			defer who.Close()
			if who.UID != owner && who.UID != 0 {
				log.Warn("connection refused: peer is another user", "uid", who.UID, "pid", who.PID)
				c.Close()
				return
			}
			h.ServeConn(ctx, c, who)
		}()
	}
}
