package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-agent/vigil/internal/audit"
)

// TestFlagsAfterSubcommand runs the usage lines the help prints for the
// commands that take a subcommand, with the flags where the help puts them
// (after the subcommand) and also before it and after its arguments. Each
// flag's value must reach the command: the output names it. Exit status 2
// would mean the command line was not understood.
func TestFlagsAfterSubcommand(t *testing.T) {
	home := isolate(t)
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, "state"))
	logDir := filepath.Join(home, "audit")
	log, err := audit.Open(logDir, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := log.Append(audit.Event{Kind: audit.KindLock, Decision: audit.Allowed}); err != nil {
		t.Fatal(err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	// Not a socket, not a store: every command that reaches them fails
	// naming the path, which shows the flag was read.
	sock := filepath.Join(home, "no-agent.sock")
	store := filepath.Join(home, "not-a-store")
	if err := os.WriteFile(store, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const url = "sparse+https://registry.example/index/"
	tests := []struct {
		line string // as typed, split on spaces
		code int
		want string // in stdout or stderr
	}{
		{"audit verify --dir " + logDir, 0, "audit log " + logDir + ": 1 record in 1 file, chain intact"},
		{"audit verify -dir " + logDir, 0, "audit log " + logDir + ": 1 record in 1 file"},
		{"audit verify --dir=" + logDir, 0, "audit log " + logDir + ": 1 record in 1 file"},
		{"audit --dir " + logDir + " verify", 0, "audit log " + logDir + ": 1 record in 1 file"},
		{"audit --dir " + logDir + " --json", 0, `"kind":"lock"`},
		{"key list --store " + store, 1, store + ": not a directory"},
		{"key --store " + store + " list", 1, store + ": not a directory"},
		{"key export-public laptop --store " + store, 1, store + ": not a directory"},
		{"key hosts --clear laptop --store " + store, 1, store + ": not a directory"},
		{"key hosts laptop github.com --store " + store, 1, store + ": not a directory"},
		{"grants --json --socket " + sock, 1, "not running at " + sock},
		{"grants revoke all --socket " + sock, 1, "not running at " + sock},
		{"grants revoke --socket " + sock + " 3", 1, "not running at " + sock},
		{"grants --socket " + sock + " revoke all", 1, "not running at " + sock},
		{"grants revoke --all --socket " + sock, 1, "not running at " + sock},
		{"grants --all revoke --socket " + sock, 1, "not running at " + sock},
		{"grants revoke 3 --all --socket " + sock, 2, "--all goes with revoke"},
		{"pins --json --socket " + sock, 1, "not running at " + sock},
		{"pins forget /usr/bin/ssh --socket " + sock, 1, "not running at " + sock},
		{"pins forget --socket " + sock + " all", 1, "not running at " + sock},
		{"cargo keygen --registry-url " + url + " --socket " + sock, 1, "not running at " + sock},
		{"cargo public-key --socket " + sock + " --registry-url " + url, 1, "not running at " + sock},
		{"cargo --socket " + sock + " --registry-url " + url + " keygen", 1, "not running at " + sock},
		{"git setup --pub " + filepath.Join(home, "missing.pub") + " --yes", 1, "missing.pub: no such file"},
		{"why-not github.com --socket " + sock, 1, "not running at " + sock},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			code, stdout, stderr := runVigil(strings.Fields(tt.line)...)
			if code != tt.code || !strings.Contains(stdout+stderr, tt.want) {
				t.Errorf("vigil %s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", tt.line, code, tt.code, tt.want, stdout, stderr)
			}
		})
	}
}

// TestFlagsEnd: after "--", an argument that starts with "-" is an
// argument, not a flag.
func TestFlagsEnd(t *testing.T) {
	isolate(t)
	store := shortDir(t) // an empty store
	code, _, stderr := runVigil("key", "export-public", "--store", store, "--", "-dash")
	if code != 1 || !strings.Contains(stderr, `no such key with fingerprint or comment "-dash"`) {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
}

// TestFlagValueDashDash: "--" given as a flag's value is that value; the
// arguments after it are still parsed, flags included.
func TestFlagValueDashDash(t *testing.T) {
	isolate(t)
	store := shortDir(t) // an empty store
	code, _, stderr := runVigil("key", "hosts", "--store", store, "--clear", "--", "KEY")
	if code != 1 || !strings.Contains(stderr, `no such key with fingerprint or comment "KEY"`) {
		t.Errorf("a -- after a bool flag ends the flags: exit %d, stderr %s", code, stderr)
	}
	code, _, stderr = runVigil("key", "import", "--comment", "--", "/nonexistent/key", "--store", store)
	if code != 1 || !strings.Contains(stderr, "/nonexistent/key") {
		t.Errorf("--comment --: exit %d, stderr %s", code, stderr)
	}
}
