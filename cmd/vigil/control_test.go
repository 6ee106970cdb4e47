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
	"github.com/vigil-agent/vigil/internal/vault"
)

// vigilAgent serves vigil's agent, with a key store of one key whose
// passphrase is pass, on a unix socket at path until the test ends.
func vigilAgent(t *testing.T, path, pass string) {
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		daemon.Serve(ctx, ln, vagent.New(vagent.Config{Keys: keystore.New(nil), Store: v}), nil)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
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
	if want := "vigil: error: unlock refused: wrong passphrase, or the key store cannot be opened (the agent's log says which)\n"; code != 1 || stderr != want || stdout != "" {
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
