package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"golang.org/x/term"

	"github.com/vigil-agent/vigil/internal/secmem"
)

// readPassphrase asks for a passphrase the way ssh-add does: through
// $SSH_ASKPASS when SSH_ASKPASS_REQUIRE=force or there is no terminal,
// otherwise on the terminal (/dev/tty, never stdin, so a pipe cannot feed
// it), with echo off. The caller wipes the result.
func readPassphrase(prompt string) ([]byte, error) {
	askpass := os.Getenv("SSH_ASKPASS")
	tty, ttyErr := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if ttyErr == nil {
		defer tty.Close()
	}
	if askpass != "" && (os.Getenv("SSH_ASKPASS_REQUIRE") == "force" || ttyErr != nil) {
		return askpassPassphrase(askpass, prompt)
	}
	if ttyErr != nil {
		return nil, errors.New("no terminal to ask for the passphrase on (set SSH_ASKPASS to use a graphical prompt)")
	}
	fmt.Fprint(tty, prompt+" ")
	p, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	return p, nil
}

// readNewPassphrase asks twice and insists on a match.
func readNewPassphrase(what string) ([]byte, error) {
	p, err := readPassphrase("New passphrase for " + what + ":")
	if err != nil {
		return nil, err
	}
	again, err := readPassphrase("Same passphrase again:")
	if err != nil {
		secmem.Wipe(p)
		return nil, err
	}
	defer secmem.Wipe(again)
	if !bytes.Equal(p, again) {
		secmem.Wipe(p)
		return nil, errors.New("the passphrases do not match")
	}
	if len(p) == 0 {
		return nil, errors.New("an empty passphrase protects nothing")
	}
	return p, nil
}

func askpassPassphrase(program, prompt string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, program, prompt)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		secmem.Wipe(out)
		return nil, fmt.Errorf("%s: no passphrase given (%v)", program, err)
	}
	return bytes.TrimSuffix(out, []byte("\n")), nil
}
