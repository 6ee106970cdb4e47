package daemon

import (
	"errors"
	"fmt"
	"strings"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"

	"github.com/vigil-agent/vigil/internal/caller"
)

// Listen creates the named pipe path (\\.\pipe\NAME), which only the
// current user can open: the pipe is owned by the user's SID and its
// protected DACL has a single entry, full access for that SID. A pipe that
// exists already, whoever made it, is never touched (ErrInUse, with what to
// do about it). opt is not used: a named pipe has no directory.
//
// Untested: this file is only compiled (GOOS=windows go vet).
func Listen(path string, _ ListenOptions) (*Socket, error) {
	user, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("listen: cannot tell which user runs vigil: %w", err)
	}
	sid := user.User.Sid.String()
	ln, err := winio.ListenPipe(path, &winio.PipeConfig{SecurityDescriptor: "O:" + sid + "D:P(A;;GA;;;" + sid + ")"})
	switch {
	case errors.Is(err, windows.ERROR_ALREADY_EXISTS), errors.Is(err, windows.ERROR_ACCESS_DENIED),
		errors.Is(err, windows.ERROR_PIPE_BUSY):
		return nil, pipeInUse(path)
	case err != nil:
		return nil, fmt.Errorf("listen: %w", err)
	}
	return &Socket{Listener: ln, Path: path}, nil
}

// pipeInUse explains how to free the pipe, or to choose another.
func pipeInUse(path string) error {
	other := `or run vigil serve --socket \\.\pipe\NAME with a pipe name of your own, and set SSH_AUTH_SOCK to it`
	if strings.EqualFold(path, OpenSSHPipe) {
		return fmt.Errorf("%s: %w, most likely by Windows' OpenSSH Authentication Agent service.\n"+
			"  To use vigil instead, stop and disable that service in an elevated PowerShell:\n"+
			"    Stop-Service ssh-agent; Set-Service ssh-agent -StartupType Disabled\n  %s", path, ErrInUse, other)
	}
	return fmt.Errorf("%s: %w by another program (another vigil?)\n  stop it, %s", path, ErrInUse, other)
}

// admitted lets every peer in: the pipe's DACL (see Listen) lets only this
// user open it, and Windows checks that when the client connects.
func admitted(*caller.Info) bool { return true }
