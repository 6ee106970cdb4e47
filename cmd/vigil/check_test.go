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
