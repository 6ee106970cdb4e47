package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// shortDir is a temporary directory with a path short enough for a unix
// socket inside it.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// testAgent serves an in-memory OpenSSH-style agent on a unix socket at
// path until the test ends.
func testAgent(t *testing.T, path string, keys ...agent.AddedKey) agent.Agent {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	kr := agent.NewKeyring()
	for _, k := range keys {
		if err := kr.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				agent.ServeAgent(kr, c)
			}()
		}
	}()
	return kr
}

// newEd25519 makes a key to add to a test agent.
func newEd25519(t *testing.T, comment string) agent.AddedKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return agent.AddedKey{PrivateKey: priv, Comment: comment}
}

func pubOf(t *testing.T, k agent.AddedKey) ssh.PublicKey {
	t.Helper()
	s, err := ssh.NewSignerFromKey(k.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey()
}

// runVigil runs the command in-process and returns its exit code and output.
func runVigil(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// isolate points vigil's config and runtime directories into the test's
// own temporary directories, away from the user's.
func isolate(t *testing.T) (home string) {
	t.Helper()
	home = shortDir(t)
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(home, "run"))
	t.Setenv("SSH_AUTH_SOCK", "")
	return home
}

func TestEnv(t *testing.T) {
	home := isolate(t)
	sock := filepath.Join(home, "run", "vigil", "agent.sock")
	testAgent(t, sock)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "SSH_AUTH_SOCK=" + sock + "; export SSH_AUTH_SOCK;\n"},
		{[]string{"-s"}, "SSH_AUTH_SOCK=" + sock + "; export SSH_AUTH_SOCK;\n"},
		{[]string{"-c"}, "setenv SSH_AUTH_SOCK " + sock + ";\n"},
		{[]string{"-f"}, "set -gx SSH_AUTH_SOCK " + sock + ";\n"},
	} {
		code, stdout, stderr := runVigil(append([]string{"env"}, tt.args...)...)
		if code != 0 || stdout != tt.want {
			t.Errorf("vigil env %v: exit %d, stdout %q, want %q; stderr %s", tt.args, code, stdout, tt.want, stderr)
		}
	}

	// The config file's socket, and --socket over it.
	other := filepath.Join(home, "other dir", "a.sock")
	testAgent(t, other)
	cfg := filepath.Join(home, ".config", "vigil", "config.toml")
	os.MkdirAll(filepath.Dir(cfg), 0o700)
	if err := os.WriteFile(cfg, []byte("socket = '"+other+"'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runVigil("env"); code != 0 || stdout != "SSH_AUTH_SOCK='"+other+"'; export SSH_AUTH_SOCK;\n" {
		t.Errorf("vigil env with socket in the config file: exit %d, stdout %q; stderr %s", code, stdout, stderr)
	}
	if code, stdout, _ := runVigil("env", "--socket", sock); code != 0 || !strings.Contains(stdout, "="+sock+";") {
		t.Errorf("vigil env --socket: exit %d, stdout %q", code, stdout)
	}
}

func TestEnvNoAgent(t *testing.T) {
	home := isolate(t)
	// Nobody listens.
	code, stdout, stderr := runVigil("env")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "no agent answers on "+filepath.Join(home, "run", "vigil", "agent.sock")) ||
		!strings.Contains(stderr, "vigil serve") {
		t.Errorf("vigil env without an agent: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// Something listens but is no agent: it hangs up at once.
	sock := filepath.Join(home, "mute.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				c.Close()
			}
		}
	}()
	code, stdout, stderr = runVigil("env", "--socket", sock)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "does not answer as an SSH agent") {
		t.Errorf("vigil env on a mute socket: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, _, stderr := runVigil("env", "-c", "-f"); code != 2 || !strings.Contains(stderr, "exclude each other") {
		t.Errorf("vigil env -c -f: exit %d, stderr %q", code, stderr)
	}
}
