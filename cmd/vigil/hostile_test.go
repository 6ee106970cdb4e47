package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/agent"

	"github.com/vigil-agent/vigil/internal/pins"
	"github.com/vigil-agent/vigil/internal/vault"
)

// hostile is text a caller or a file controls, made to clear the screen,
// recolour it, reverse what follows and overwrite the line from its start.
const hostile = "evil\x1b[2J\x1b[31mX\u202eabc\rline"

// mustBeInert fails if out holds a character that acts on a terminal
// rather than showing: control characters other than newline and tab, and
// bidirectional controls.
func mustBeInert(t *testing.T, what, out string) {
	t.Helper()
	for _, r := range out {
		if (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r < 0xa0) ||
			(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			t.Errorf("%s prints %U raw:\n%q", what, r, out)
			return
		}
	}
	if !strings.Contains(out, `evil\x1b[2J`) {
		t.Errorf("%s does not show the escaped text:\n%q", what, out)
	}
}

// TestStatusEscapesComments: a key any program added with ssh-add, with a
// comment made of escape sequences, is shown escaped by vigil status.
func TestStatusEscapesComments(t *testing.T) {
	home := isolate(t)
	sock := filepath.Join(home, "agent.sock")
	vigilAgent(t, sock, "pw")
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	k := newEd25519(t, hostile)
	if err := agent.NewClient(c).Add(k); err != nil {
		t.Fatal(err)
	}
	c.Close()
	code, stdout, stderr := runVigil("status", "--socket", sock)
	if code != 0 {
		t.Fatalf("vigil status: exit %d, %s", code, stderr)
	}
	mustBeInert(t, "vigil status", stdout)
}

// TestPinsEscapesPaths: a pinned program's path is a file name, which can
// hold any byte but / and NUL.
func TestPinsEscapesPaths(t *testing.T) {
	var b strings.Builder
	if err := printPins(&b, []pins.Pin{{Exe: "/tmp/" + hostile, SHA256: strings.Repeat("ab", 32), Since: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	mustBeInert(t, "vigil pins", b.String())
}

// TestKeyCommandsEscapeText: the store refuses control characters in a
// comment but keeps invisible ones such as a bidi override, and its hosts
// file may come from elsewhere: vigil key list and hosts escape both.
func TestKeyCommandsEscapeText(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	v, err := vault.Open(vault.Config{Dir: dir, KDF: vault.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Init([]byte("pw")); err != nil {
		t.Fatal(err)
	}
	e, err := v.Generate([]byte("pw"), vault.Ed25519, "evil\\x1b[2J\u202eabc")
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runVigil("key", "list", "--store", dir)
	if code != 0 {
		t.Fatalf("vigil key list: exit %d, %s", code, stderr)
	}
	if strings.ContainsRune(stdout, '\u202e') || !strings.Contains(stdout, `evil\\x1b[2J\u202eabc`) {
		t.Errorf("vigil key list shows the comment unescaped:\n%q", stdout)
	}
	hosts := `{"` + e.Fingerprint + `": ["` + strings.ReplaceAll(strings.ReplaceAll(hostile, "\x1b", `\u001b`), "\r", `\r`) + `"]}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "vault.hosts"), []byte(hosts), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runVigil("key", "hosts", "--store", dir, e.Fingerprint)
	if code != 0 {
		t.Fatalf("vigil key hosts: exit %d, %s", code, stderr)
	}
	mustBeInert(t, "vigil key hosts", stdout)
}

// TestGitSetupEscapesComments: vigil git setup lists the agent's keys,
// whose comments whoever added them chose, when it cannot pick one.
func TestGitSetupEscapesComments(t *testing.T) {
	home, _ := gitHome(t)
	sock := filepath.Join(home, "agent.sock")
	testAgent(t, sock, newEd25519(t, hostile), newEd25519(t, "other"))
	t.Setenv("SSH_AUTH_SOCK", sock)
	code, _, stderr := runVigil("git", "setup", "--email", "me@example.com", "--yes")
	if code != 1 {
		t.Fatalf("two keys, no --key: exit %d, %s", code, stderr)
	}
	mustBeInert(t, "vigil git setup", strings.TrimPrefix(stderr, "vigil: error: "))
}

// TestCheckEscapesConfigText: the config file's strings can hold any
// character through TOML's \u escapes; vigil check shows them escaped.
func TestCheckEscapesConfigText(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(cfg, []byte(`socket = "/tmp/evil\u001b[2J\u001b[31mX\u202eabc\rline"
[[offer]]
key = "evil\u001b[2J"
hosts = ["evil\u001b[2J\u202e"]
`), 0o600)
	code, stdout, stderr := runVigil("check", "--config", cfg)
	if code != 0 {
		t.Fatalf("vigil check: exit %d, %s", code, stderr)
	}
	mustBeInert(t, "vigil check", stdout)
}
