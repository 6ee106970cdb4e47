package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyReadingCommandsCreateNothing: a command that only reads the key
// store, given a store that is not there (a typo in --store), says so and
// leaves no directory behind (QA finding 6).
func TestKeyReadingCommandsCreateNothing(t *testing.T) {
	isolate(t)
	parent := filepath.Join(shortDir(t), "nope")
	store := filepath.Join(parent, "deeper")
	for _, args := range [][]string{
		{"list"},
		{"remove", "some key"},
		{"export-public", "some key"},
		{"passwd"},
		{"hosts", "some key"},
		{"hosts", "some key", "example.org"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := runVigil(append([]string{"key", args[0], "--store", store}, args[1:]...)...)
			if code != 1 || !strings.Contains(stderr, "vigil: error: no key store at "+store) {
				t.Errorf("exit %d, stderr %q; want 1 and \"no key store at %s\"", code, stderr, store)
			}
			if stdout != "" {
				t.Errorf("printed %q", stdout)
			}
			if _, err := os.Lstat(parent); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("vigil key %s created %s (%v)", args[0], parent, err)
			}
		})
	}
}

// TestKeyAddChecksBeforePassphrase: generate and import check their
// arguments (type, comment, file) before they create the store or ask for
// its passphrase, and refuse a second key with a comment already taken
// (QA finding 7).
func TestKeyAddChecksBeforePassphrase(t *testing.T) {
	home := isolate(t)
	calls := filepath.Join(home, "askpass.calls")
	askpass := filepath.Join(home, "askpass")
	script := "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '" + calls + "'\necho 'correct horse battery'\n"
	if err := os.WriteFile(askpass, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSH_ASKPASS", askpass)
	t.Setenv("SSH_ASKPASS_REQUIRE", "force")
	asked := func() int {
		b, err := os.ReadFile(calls)
		if errors.Is(err, fs.ErrNotExist) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(calls)
		return strings.Count(string(b), "\n")
	}
	store := filepath.Join(home, "store")

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"generate"}, "needs --comment"},
		{[]string{"generate", "--type", "foo", "--comment", "work"}, `unknown key type "foo"`},
		{[]string{"generate", "--comment", "bad\x1b[31m"}, "control character U+001B"},
		{[]string{"import", filepath.Join(home, "no-such.key")}, "no such file or directory"},
	} {
		code, _, stderr := runVigil(append([]string{"key", tt.args[0], "--store", store}, tt.args[1:]...)...)
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("vigil key %q: exit %d, stderr %q; want an error containing %q", tt.args, code, stderr, tt.want)
		}
		if n := asked(); n != 0 {
			t.Errorf("vigil key %q asked for a passphrase %d times before failing", tt.args, n)
		}
		if _, err := os.Lstat(store); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("vigil key %q created the store (%v)", tt.args, err)
		}
	}

	code, stdout, stderr := runVigil("key", "generate", "--store", store, "--comment", "work")
	if code != 0 {
		t.Fatalf("generate: exit %d, stderr %s", code, stderr)
	}
	first := strings.Fields(stdout)[1]
	asked()
	// With a store there: a taken comment and a bad type cost no
	// passphrase either.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"generate", "--type", "ecdsa-p256", "--comment", "work"}, `key ` + first + ` has the comment "work"`},
		{[]string{"generate", "--type", "dsa", "--comment", "other"}, `unknown key type "dsa"`},
	} {
		code, _, stderr := runVigil(append([]string{"key", tt.args[0], "--store", store}, tt.args[1:]...)...)
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("vigil key %q: exit %d, stderr %q; want an error containing %q", tt.args, code, stderr, tt.want)
		}
		if n := asked(); n != 0 {
			t.Errorf("vigil key %q asked for a passphrase %d times before failing", tt.args, n)
		}
	}
	if code, stdout, _ := runVigil("key", "list", "--store", store); code != 0 || strings.Count(stdout, "\n") != 2 {
		t.Errorf("key list after the refusals: exit %d\n%s", code, stdout)
	}
}
