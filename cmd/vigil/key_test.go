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
