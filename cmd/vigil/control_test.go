package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vagent "github.com/vigil-agent/vigil/internal/agent"
	"github.com/vigil-agent/vigil/internal/daemon"
	"github.com/vigil-agent/vigil/internal/keystore"
	"github.com/vigil-agent/vigil/internal/pins"
	"github.com/vigil-agent/vigil/internal/vault"
)

// vigilAgent serves vigil's agent, with a key store of one key whose
// passphrase is pass and no approver, on a unix socket at path until the
// test ends. It returns the agent's pins.
func vigilAgent(t *testing.T, path, pass string) *pins.Store {
	t.Helper()
	v, err := vault.Open(vault.Config{Dir: filepath.Join(t.TempDir(), "store"), KDF: vault.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Init([]byte(pass)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Generate([]byte(pass), vault.Ed25519, "store key"); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	pinned := pins.Memory()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		daemon.Serve(ctx, ln, vagent.New(vagent.Config{Keys: keystore.New(nil), Store: v, Pins: pinned}), nil)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return pinned
}

// askpassSaying points SSH_ASKPASS at a program that prints pass.
func askpassSaying(t *testing.T, pass string) {
	t.Helper()
	prog := filepath.Join(t.TempDir(), "askpass")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\necho '"+pass+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSH_ASKPASS", prog)
	t.Setenv("SSH_ASKPASS_REQUIRE", "force")
}

// TestUnlockMessages: vigil unlock says a wrong passphrase was refused by
// vigil, not that the agent may not be vigil; an agent that does not serve
// unlock@vigil is called not vigil.
func TestUnlockMessages(t *testing.T) {
	isolate(t)
	dir := shortDir(t)
	sock := filepath.Join(dir, "vigil.sock")
	vigilAgent(t, sock, "right")

	askpassSaying(t, "wrong")
	code, stdout, stderr := runVigil("unlock", "--socket", sock)
	if want := "vigil: error: unlock refused: wrong passphrase\n"; code != 1 || stderr != want || stdout != "" {
		t.Errorf("wrong passphrase: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, stdout, stderr, want)
	}

	askpassSaying(t, "right")
	if code, stdout, stderr := runVigil("unlock", "--socket", sock); code != 0 || stdout != "unlocked: 1 key\n" {
		t.Errorf("right passphrase: exit %d, stdout %q, stderr %q; want unlocked: 1 key", code, stdout, stderr)
	}

	other := filepath.Join(dir, "other.sock")
	testAgent(t, other)
	code, _, stderr = runVigil("unlock", "--socket", other)
	if want := "the agent at " + other + " is not vigil: it does not serve unlock@vigil"; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("another agent: exit %d, stderr %q; want %q", code, stderr, want)
	}
}

// TestStatusCounts: vigil status counts in words that agree with the
// number: 1 signature, 2 signatures.
func TestStatusCounts(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want []string
	}{
		{1, []string{"unlocked; 1 signature in this window\n", "ends after 1 more signature\n", "pending:  1 prompt\n"}},
		{2, []string{"unlocked; 2 signatures in this window\n", "ends after 2 more signatures\n", "pending:  2 prompts\n"}},
		{0, []string{"unlocked; 0 signatures in this window\n", "pending:  0 prompts\n"}},
	} {
		var b strings.Builder
		st := vagent.Status{Pending: tt.n, Window: vagent.WindowStatus{Open: true, Signatures: tt.n, SignaturesLeft: tt.n, IdleLeft: time.Minute}}
		if err := printStatus(&b, "/run/agent.sock", st); err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("n = %d: status lacks %q:\n%s", tt.n, w, b.String())
			}
		}
	}
}

// TestRefusalReasons: when the agent refuses, the command says why (the
// reason it sent back, escaped), and tells "no such pin" from "not
// approved"; what is wrong without asking the agent is bad usage, exit 2.
func TestRefusalReasons(t *testing.T) {
	isolate(t)
	sock := filepath.Join(shortDir(t), "vigil.sock")
	pinned := vigilAgent(t, sock, "pw")
	if err := pinned.Store("/usr/bin/git", strings.Repeat("a", 64)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"grants", "revoke", "99"}, 1, "vigil: error: not revoked: no grant 99\n"},
		{[]string{"grants", "revoke", "abc"}, 2, `vigil: error: "abc" is not a grant ID (the ID column of vigil grants) or all` + "\n"},
		{[]string{"grants", "revoke", "1\x1b[2J"}, 2, `vigil: error: "1\x1b[2J" is not a grant ID (the ID column of vigil grants) or all` + "\n"},
		{[]string{"pins", "forget", "/usr/bin/nope"}, 1, "vigil: error: pins not forgotten: no such pin: /usr/bin/nope\n"},
		{[]string{"pins", "forget", "/usr/bin/git"}, 1, "vigil: error: pins not forgotten: not approved: no approver configured (set --approver or SSH_ASKPASS): refusing without asking\n"},
		{[]string{"pins", "forget", "relative/git"}, 2, `vigil: error: "relative/git" is not an absolute path (the PROGRAM column of vigil pins) or all` + "\n"},
	} {
		code, stdout, stderr := runVigil(append(tt.args, "--socket", sock)...)
		if code != tt.code || stderr != tt.stderr || stdout != "" {
			t.Errorf("vigil %s: exit %d, stdout %q, stderr %q; want exit %d and %q", strings.Join(tt.args, " "), code, stdout, stderr, tt.code, tt.stderr)
		}
	}
	if len(pinned.List()) != 1 {
		t.Errorf("pins left: %+v, want the one pin", pinned.List())
	}
}
