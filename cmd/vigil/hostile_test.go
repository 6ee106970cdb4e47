package main

import (
	"cmp"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	vagent "github.com/vigil-agent/vigil/internal/agent"
	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/broker"
	"github.com/vigil-agent/vigil/internal/daemon"
	"github.com/vigil-agent/vigil/internal/keystore"
	"github.com/vigil-agent/vigil/internal/pins"
	"github.com/vigil-agent/vigil/internal/policy"
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
	mustHaveNoControls(t, what, out)
	if !strings.Contains(out, `evil\x1b[2J`) {
		t.Errorf("%s does not show the escaped text:\n%q", what, out)
	}
}

// mustHaveNoControls is mustBeInert for output too narrow to hold the
// whole of hostile.
func mustHaveNoControls(t *testing.T, what, out string) {
	t.Helper()
	for _, r := range out {
		if (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r < 0xa0) ||
			(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			t.Errorf("%s prints %U raw:\n%q", what, r, out)
			return
		}
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

// TestAuditEscapesOnce: what a caller sent (an SSHSIG namespace, a git URL)
// goes into the audit log as sent, and vigil audit shows it escaped once,
// \x1b and not \\x1b. (Short texts: the table's columns are narrow.)
func TestAuditEscapesOnce(t *testing.T) {
	const namespace, path = "\u202e", "\x1b[2J\u202e"
	home := isolate(t)
	dir := filepath.Join(home, "audit")
	log, err := audit.Open(dir, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(home, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		daemon.Serve(ctx, ln, vagent.New(vagent.Config{Keys: keystore.New(nil), Audit: log,
			Extensions: map[string]vagent.Extension{broker.GitExtension: broker.NewGit(broker.GitConfig{})}}), nil)
	}()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	client := agent.NewClient(c)
	k := newEd25519(t, "k")
	if err := client.Add(k); err != nil {
		t.Fatal(err)
	}
	// No approver: the signature is refused, and recorded with its namespace.
	data := append([]byte("SSHSIG"), ssh.Marshal(struct {
		Namespace string
		Reserved  []byte
		HashAlg   string
		Hash      []byte
	}{namespace, nil, "sha512", make([]byte, 64)})...)
	if _, err := client.Sign(pubOf(t, k), data); err == nil {
		t.Fatal("signed with no one to ask")
	}
	// The key store is locked: the get is refused, and recorded with its URL.
	if _, err := client.Extension(broker.GitExtension, []byte("get\nprotocol=https\nhost=h\npath="+path+"\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	cancel()
	<-done
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runVigil("audit", "--dir", dir, "--json")
	if code != 0 {
		t.Fatalf("vigil audit --json: exit %d, %s", code, stderr)
	}
	var ns, resource string
	for line := range strings.Lines(stdout) {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		ns, resource = cmp.Or(r.Intent.Namespace, ns), cmp.Or(r.Intent.Resource, resource)
	}
	if ns != namespace || resource != "git https://h/"+path {
		t.Errorf("the log holds namespace %q and resource %q, not the text as sent", ns, resource)
	}
	code, stdout, stderr = runVigil("audit", "--dir", dir)
	if code != 0 {
		t.Fatalf("vigil audit: exit %d, %s", code, stderr)
	}
	mustHaveNoControls(t, "vigil audit", stdout)
	if strings.Contains(stdout, `\\`) {
		t.Errorf("vigil audit escapes twice:\n%s", stdout)
	}
	for _, want := range []string{`namespace:\u202e`, `git https://h/\x1b[2J\u202e`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("vigil audit does not show %s:\n%s", want, stdout)
		}
	}
}

// TestGrantsTable: a signing grant is listed by number, a cargo read grant
// by name with the registry it covers; paths and URLs are escaped.
func TestGrantsTable(t *testing.T) {
	now := time.Now()
	var b strings.Builder
	err := printGrants(&b, []vagent.ListedGrant{
		{Grant: policy.Grant{ID: 3, Scope: policy.Scope{Key: "SHA256:k", Exe: "/usr/bin/ssh-keygen", RunBy: "/usr/bin/git", Purpose: "git"},
			Expires: now.Add(time.Minute)}},
		{Grant: policy.Grant{Scope: policy.Scope{Exe: "/tmp/" + hostile, Purpose: "cargo-read"}, Expires: now.Add(time.Minute), Used: 2},
			Name: "cargo-read-1", Resource: "registry sparse+https://x/" + hostile},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	mustBeInert(t, "vigil grants", b.String())
	lines := strings.Split(b.String(), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "3 ") || !strings.HasPrefix(lines[2], "cargo-read-1 ") ||
		!strings.Contains(lines[2], `registry sparse+https://x/evil\x1b[2J`) || !strings.HasSuffix(lines[2], " 2") {
		t.Errorf("vigil grants prints:\n%s", b.String())
	}
}
