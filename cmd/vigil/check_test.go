package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckRefusesWhatServeRefuses: vigil check runs serve's own approver
// checks (approverPrograms), so a config it accepts does not stop the agent
// from starting.
func TestCheckRefusesWhatServeRefuses(t *testing.T) {
	t.Setenv("SSH_ASKPASS", "")
	dir := t.TempDir()
	prog := filepath.Join(dir, "askpass")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, text, err string
	}{
		{"askpass executable", "askpass = \"" + prog + "\"\n", ""},
		{"askpass missing", "askpass = \"/nonexistent/prog\"\n", "approver /nonexistent/prog is not an executable file"},
		{"old approver form missing", "approver = \"/nonexistent/prog\"\n", "approver /nonexistent/prog is not an executable file"},
		{"pinentry a directory", "pinentry = \"" + dir + "\"\n", "is not an executable file"},
		{"askpass relative", "askpass = \"relative/prog\"\n", "want an absolute path"},
		{"askpass not in the approver list", "approver = [\"tui\"]\naskpass = \"/nonexistent/prog\"\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "c.toml")
			if err := os.WriteFile(cfg, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := runVigil("check", "--config", cfg)
			if tt.err == "" && code != 0 {
				t.Errorf("vigil check: exit %d, stderr %q; want it accepted", code, stderr)
			}
			if tt.err != "" && (code != 1 || !strings.Contains(stderr, tt.err)) {
				t.Errorf("vigil check: exit %d, stderr %q; want exit 1 and %q", code, stderr, tt.err)
			}
		})
	}
}

// TestCheckShowsWhatIsInForce: a zero can mean "off" (grant_for = "0s"
// removes the button) and a default is a value too, so check prints the
// value in force for each setting, never a bare "(default)".
func TestCheckShowsWhatIsInForce(t *testing.T) {
	home := isolate(t)
	t.Setenv("SSH_ASKPASS", "")
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, "state"))
	t.Setenv("XDG_DATA_HOME", filepath.Join(home, "data"))
	tests := []struct {
		text string
		want []string
	}{
		{"", []string{
			"socket            " + filepath.Join(home, "run", "vigil", "agent.sock") + " (default)\n",
			"approver          pinentry, askpass, tui (default)\n",
			"askpass           none\n",
			"prompt_timeout    1m0s\n",
			"grant_for         5m0s\n",
			"lifetime          0s (keys added without ssh-add -t are kept)\n",
			"audit_dir         " + filepath.Join(home, "state", "vigil", "audit") + " (default)\n",
			"on_audit_failure  refuse (default)\n",
			"store_dir         " + filepath.Join(home, "data", "vigil") + " (default)\n",
		}},
		{"grant_for = \"0s\"\nprompt_timeout = \"0s\"\nlifetime = \"2h\"\napprover = [\"tui\"]\naskpass = \"/bin/true\"\n", []string{
			"grant_for         0s (no \"allow for\" button)\n",
			"prompt_timeout    1m0s\n",
			"lifetime          2h0m0s\n",
			"approver          tui\n",
			"askpass           /bin/true (unused: the approver list leaves out askpass)\n",
		}},
	}
	for _, tt := range tests {
		cfg := filepath.Join(t.TempDir(), "c.toml")
		if err := os.WriteFile(cfg, []byte(tt.text), 0o600); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runVigil("check", "--config", cfg)
		if code != 0 {
			t.Fatalf("vigil check of %q: exit %d: %s", tt.text, code, stderr)
		}
		for _, line := range strings.Split(stdout, "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[1] == "(default)" {
				t.Errorf("vigil check of %q: %q shows no value", tt.text, line)
			}
		}
		for _, w := range tt.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("vigil check of %q: output lacks %q:\n%s", tt.text, w, stdout)
			}
		}
	}
}
