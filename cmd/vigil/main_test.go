package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-agent/vigil/internal/audit"
)

func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("prompt_timeout = \"30s\"\n[[rule]]\nexe = \"/usr/bin/ssh-keygen\"\npurpose = \"file\"\naction = \"allow\"\n"), 0o600)
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[[rule]]\naction = \"allow\"\nprogram = \"/bin/sh\"\n"), 0o600)
	tests := []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{nil, 2, "", "Usage:"},
		{[]string{"--version"}, 0, "vigil devel", ""}, // no -X, no vcs stamp in tests
		{[]string{"version", "x"}, 2, "", "unexpected argument"},
		{[]string{"audit", "verify", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"audit", "bogus"}, 2, "", `unexpected argument "bogus"`},
		{[]string{"help", "version"}, 0, "Usage: vigil version\n", ""},
		{[]string{"key"}, 2, "", "generate, import, list, remove, export-public, passwd or hosts\n"},
		{[]string{"key", "list", "x"}, 2, "", "vigil key list takes no arguments\n"},
		{[]string{"key", "remove"}, 2, "", "vigil key remove takes 1 argument\n"},
		{[]string{"serve", "-h"}, 0, "", "Usage: vigil serve"},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"help"}, 0, "vigil serve", ""},
		{[]string{"help", "serve"}, 0, "--socket", ""},
		{[]string{"help", "check"}, 0, "[[rule]]", ""},
		{[]string{"version"}, 0, "vigil ", ""},
		{[]string{"serve", "--bogus"}, 2, "", "vigil: error: unknown flag --bogus\n"},
		{[]string{"serve", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"serve", "--prompt-timeout", "10ms", "--socket", filepath.Join(dir, "s")}, 2, "", "too short"},
		{[]string{"serve", "--prompt-timeout", "-5s", "--config", filepath.Join(dir, "missing.toml"), "--socket", filepath.Join(dir, "s")}, 2, "", "--prompt-timeout -5s: a duration cannot be negative"},
		{[]string{"serve", "--lifetime", "-1h", "--config", filepath.Join(dir, "missing.toml"), "--socket", filepath.Join(dir, "s")}, 2, "", "--lifetime -1h0m0s: a duration cannot be negative"},
		{[]string{"serve", "-s", "-c", "--config", filepath.Join(dir, "missing.toml"), "--socket", filepath.Join(dir, "s")}, 2, "", "-s, -c and -f exclude each other"},
		{[]string{"serve", "-c", "-f", "--config", filepath.Join(dir, "missing.toml"), "--socket", filepath.Join(dir, "s")}, 2, "", "-s, -c and -f exclude each other"},
		{[]string{"audit", "--since", "-1h", "--dir", dir}, 2, "", "--since -1h0m0s: a duration cannot be negative"},
		{[]string{"serve", "--config", filepath.Join(dir, "missing.toml")}, 1, "", "vigil: error: config"},
		{[]string{"serve", "--approver", dir, "--socket", filepath.Join(dir, "s")}, 1, "", "not an executable file"},
		{[]string{"check", "--config", good}, 0, "rule 1: allow key=any exe=/usr/bin/ssh-keygen purpose=file path=local-only", ""},
		{[]string{"check", "--config", bad}, 1, "", "rule.program"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr: %s)", code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderr)
			}
			if tt.code != 0 && stdout.Len() != 0 {
				t.Errorf("data on stdout on failure: %q", stdout.String())
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/run/user/1000/vigil/agent.sock": "/run/user/1000/vigil/agent.sock",
		"/tmp/my dir/a.sock":              `'/tmp/my dir/a.sock'`,
		"/tmp/it's":                       `'/tmp/it'\''s'`,
		"/tmp/$(reboot)":                  `'/tmp/$(reboot)'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		argv0 string
		args  []string
		want  string
	}{
		{"/usr/bin/vigil", []string{"serve"}, "serve"},
		{"/home/u/.local/bin/git-credential-vigil", []string{"get"}, "git-credential get"},
		{"git-credential-vigil", nil, "git-credential"},
		{"/opt/bin/git-credential-vigil.exe", []string{"store"}, "git-credential store"},
		{"/usr/bin/git-credential-vigilant", []string{"get"}, "get"},
	}
	for _, tt := range tests {
		if got := strings.Join(commandLine(tt.argv0, tt.args), " "); got != tt.want {
			t.Errorf("commandLine(%q, %q) = %q, want %q", tt.argv0, tt.args, got, tt.want)
		}
	}
}

// TestUsageExitCodes: bad usage found after the flags are parsed exits 2,
// as vigil(1) says, with its message.
func TestUsageExitCodes(t *testing.T) {
	isolate(t)
	askpassSaying(t, "pw")
	store := filepath.Join(t.TempDir(), "store")
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"help", "bogus"}, `no help for unknown command "bogus"`},
		{[]string{"help", "serve", "extra"}, "vigil help takes one COMMAND"},
		{[]string{"key", "generate", "--store", store}, "needs --comment"},
		{[]string{"key", "generate", "--store", store, "--type", "dsa", "--comment", "c"}, `unknown key type "dsa"`},
		{[]string{"key", "hosts", "--store", store, "--clear", "KEY", "extra"}, "--clear takes no hosts"},
		{[]string{"cargo", "keygen"}, "--registry NAME or --registry-url URL is required"},
		{[]string{"cargo", "keygen", "--registry", "a", "--registry-url", "b"}, "exclude each other"},
		{[]string{"cargo", "bogus", "--registry", "x"}, "usage: vigil cargo keygen|public-key"},
	} {
		code, stdout, stderr := runVigil(tt.args...)
		if code != 2 || !strings.Contains(stderr, "vigil: error: ") || !strings.Contains(stderr, tt.err) || stdout != "" {
			t.Errorf("vigil %q: exit %d, stderr %q, stdout %q; want 2 and %q", tt.args, code, stderr, stdout, tt.err)
		}
	}
	code, stdout, stderr := runVigil("help", "help")
	if code != 0 || !strings.HasPrefix(stdout, "Usage: vigil help [COMMAND]\n") {
		t.Errorf("vigil help help: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestAuditVerifyError: a broken chain is reported once as the audit
// package words it, with the log's directory, not as "audit log DIR: audit:".
func TestAuditVerifyError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "audit-000001.jsonl"), []byte("{\"bad\":1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runVigil("audit", "verify", "--dir", dir)
	if want := "vigil: error: audit: audit-000001.jsonl:1: "; code != 1 || !strings.HasPrefix(stderr, want) ||
		!strings.Contains(stderr, "(log in "+dir+")") || strings.Count(stderr, "audit:") != 1 {
		t.Errorf("vigil audit verify of a damaged log: exit %d, %q; want 1 and %q... (log in %s)", code, stderr, want, dir)
	}
}

// TestAuditKeyAsShown: --key takes a fingerprint as the table shows it,
// cut short with "…", and finds that key's records; when no record
// matches a filter, the table is its header alone, as for an empty log.
func TestAuditKeyAsShown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	log, err := audit.Open(dir, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"SHA256:a5g1stAkRkinYCqXv7yqlp3ZTfH1vz9Y0CMbLhEqkpA", "SHA256:Zq0XvQ9kIqDqOJZn1oCkY8o1d0xT3PqzWw1t4l0pX9s"}
	for i, k := range append(keys, keys[0]) {
		ev := audit.Event{Kind: audit.KindSign, Decision: audit.Allowed, Key: k, Caller: audit.Caller{Process: audit.Process{Exe: "/usr/bin/ssh"}}}
		ev.Intent.Purpose = fmt.Sprint("purpose-", i)
		if err := log.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	_, all, _ := runVigil("audit", "--dir", dir)
	lines := strings.Split(strings.TrimSuffix(all, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("vigil audit printed %q, want a header and 3 records", all)
	}
	shown := strings.Fields(lines[1])[5] // TIME is two fields
	if !strings.HasSuffix(shown, "…") || !strings.HasPrefix(keys[0], strings.TrimSuffix(shown, "…")) {
		t.Fatalf("the table shows the key as %q; the test expects %s cut short", shown, keys[0])
	}
	header := lines[0] + "\n"
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--key", shown}, header + lines[1] + "\n" + lines[3] + "\n"},
		{[]string{"--key", strings.TrimSuffix(shown, "…")}, header + lines[1] + "\n" + lines[3] + "\n"},
		{[]string{"--key", strings.TrimPrefix(keys[1], "SHA256:")[:10]}, header + lines[2] + "\n"},
		{[]string{"--key", keys[1]}, header + lines[2] + "\n"},
		{[]string{"--key", "SHA256:nomatch"}, header},
		{[]string{"--program", "nomatch"}, header},
		{[]string{"--key", "SHA256:nomatch", "--json"}, ""},
	} {
		code, stdout, stderr := runVigil(append([]string{"audit", "--dir", dir}, tt.args...)...)
		if code != 0 || stdout != tt.want || stderr != "" {
			t.Errorf("vigil audit %s: exit %d, stderr %q, stdout\n%s\nwant exit 0 and\n%s", strings.Join(tt.args, " "), code, stderr, stdout, tt.want)
		}
	}
}

// TestFlagParseErrors: a flag the command line gets wrong is one line that
// names the flag and the value, and a pointer to the help, not Go's message
// buried under the whole help text; exit 2.
func TestFlagParseErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "--since", "1d"}, `--since "1d": not a duration (such as 30s, 5m or 1h)`},
		{[]string{"serve", "--prompt-timeout=10"}, `--prompt-timeout "10": not a duration (such as 30s, 5m or 1h)`},
		{[]string{"check", "--config", "x", "-since", "1\x1b[2J"}, "unknown flag --since"},
		{[]string{"audit", "--since", "1\x1b[2J"}, `--since "1\x1b[2J": not a duration (such as 30s, 5m or 1h)`},
		{[]string{"status", "--json=maybe"}, `--json "maybe": not true or false (the flag alone means true)`},
		{[]string{"serve", "--b\x1bogus"}, `unknown flag --b\x1bogus`},
		{[]string{"grants", "--socket"}, "--socket needs a value"},
		{[]string{"key", "list", "---store", "x"}, "bad flag syntax: ---store"},
	} {
		code, stdout, stderr := runVigil(tt.args...)
		want := "vigil: error: " + tt.want + "\nRun \"vigil help " + tt.args[0] + "\" for usage.\n"
		if code != 2 || stdout != "" || stderr != want {
			t.Errorf("vigil %q: exit %d, stdout %q, stderr\n%s\nwant exit 2 and\n%s", tt.args, code, stdout, stderr, want)
		}
	}
}
