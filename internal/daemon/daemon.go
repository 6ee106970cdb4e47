// Package daemon owns the agent's socket: creating it safely, accepting
// connections, checking who connected, and shutting down cleanly.
package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/vigil-agent/vigil/internal/caller"
)

// Handler serves one accepted connection until it ends or ctx is done.
type Handler interface {
	ServeConn(ctx context.Context, c net.Conn, who *caller.Info)
}

// ErrInUse means another agent already answers on the socket path.
var ErrInUse = errors.New("already in use")

// OpenSSHPipe is where OpenSSH for Windows looks for the agent when
// SSH_AUTH_SOCK is not set, and so where vigil listens on Windows.
const OpenSSHPipe = `\\.\pipe\openssh-ssh-agent`

// Socket is a listening agent socket made by Listen: a socket file, which
// Close removes if it is still the one Listen created, or on Windows a
// named pipe.
type Socket struct {
	net.Listener
	Path string
	file os.FileInfo // the socket file; nil for a named pipe
}

// ListenOptions says how careful Listen must be with the socket's directory.
type ListenOptions struct {
	// OwnDir: the directory is vigil's own (the default location). It is
	// created 0700 if missing, and an existing one that is a symlink, owned
	// by someone else or open to group or others is refused.
	// Otherwise the directory is used as given, as ssh-agent -a does, with
	// a warning if others can enter it. Named pipes have no directory.
	OwnDir bool
	Log    *slog.Logger
}

// Close stops listening and removes the socket file if it is still ours.
func (s *Socket) Close() error {
	err := s.Listener.Close()
	if s.file == nil {
		return err
	}
	if fi, lerr := os.Lstat(s.Path); lerr == nil && os.SameFile(fi, s.file) {
		if rerr := os.Remove(s.Path); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// Serve accepts connections on ln until ctx is done, then waits for every
// connection handler to return. Only the owner of the process and root are
// served; anyone else is disconnected and logged. On Windows the pipe's
// security descriptor does that check (see Listen), so ln must come from
// Listen there.
func Serve(ctx context.Context, ln net.Listener, h Handler, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
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
			if !admitted(who) {
				log.Warn("connection refused: peer is another user", "uid", who.UID, "pid", who.PID)
				c.Close()
				return
			}
			h.ServeConn(ctx, c, who)
		}()
	}
}
