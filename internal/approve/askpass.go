// Package approve implements the ways vigil asks a person for a decision.
package approve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// Askpass asks through a program with OpenSSH's SSH_ASKPASS contract: it is
// run with the prompt text as its only argument and SSH_ASKPASS_PROMPT=confirm
// in its environment, and it approves by exiting 0 with empty output or
// "yes". Anything else is a denial. ssh-askpass, ksshaskpass, lxqt-openssh-
// askpass and many scripts speak it.
type Askpass struct {
	Program string   // path of the askpass program
	Env     []string // its environment (DISPLAY, WAYLAND_DISPLAY, ...), without SSH_ASKPASS_PROMPT
}

// maxAnswer bounds what is read from the program: an answer is "yes" or
// nothing, so anything long is a denial anyway.
const maxAnswer = 1024

// Confirm runs the program once and reports whether the person approved.
// When ctx ends (deadline, or the client hung up) the program and anything it
// started are killed and Confirm returns ctx's error: the request is refused
// and a late answer is never used. An error other than ctx's means the
// program could not be run, and the caller must refuse too.
func (a *Askpass) Confirm(ctx context.Context, text string) (bool, error) {
	if a.Program == "" {
		return false, errors.New("approve: no askpass program configured")
	}
	cmd := exec.CommandContext(ctx, a.Program, text)
	cmd.Env = append(append([]string{}, a.Env...), "SSH_ASKPASS_PROMPT=confirm")
	// Never let the program answer through vigil's own stdin or terminal.
	cmd.Stdin = nil
	var out limitedBuffer
	cmd.Stdout = &out
	cmd.Stderr = io.Discard
	setProcessGroup(cmd)
	// Don't wait for pipes held open by grandchildren once it is killed.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return false, nil // a non-zero exit is the person saying no
	}
	if err != nil {
		return false, fmt.Errorf("approve: run %s: %w", a.Program, err)
	}
	answer := strings.TrimSpace(out.String())
	return answer == "" || strings.EqualFold(answer, "yes"), nil
}

type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxAnswer - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// String names the approver for the audit log.
func (a *Askpass) String() string { return "askpass " + a.Program }

// AskPassphrase runs the program as ssh-add does to read a passphrase: the
// prompt as its argument and no SSH_ASKPASS_PROMPT, its output (without the
// final newline) being the answer. A non-zero exit is a cancel. The caller
// wipes the result.
func (a *Askpass) AskPassphrase(ctx context.Context, prompt string) ([]byte, error) {
	if a.Program == "" {
		return nil, errors.New("approve: no askpass program configured")
	}
	cmd := exec.CommandContext(ctx, a.Program, prompt)
	cmd.Env = append([]string{}, a.Env...)
	var out limitedBuffer
	cmd.Stdout = &out
	cmd.Stderr = io.Discard
	setProcessGroup(cmd)
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	b := out.Bytes()
	defer clear(b)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, errors.New("approve: passphrase prompt cancelled")
	}
	return bytes.Clone(bytes.TrimSuffix(b, []byte("\n"))), nil
}
