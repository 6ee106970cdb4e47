//go:build unix

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-agent/vigil/internal/fileperm"
)

// TestLoadRefusesWritableByOthers: the config's allow rules decide what is
// signed without asking, so a file or directory another user could write
// must not be used.
func TestLoadRefusesWritableByOthers(t *testing.T) {
	const rules = "[[rule]]\npurpose = \"file\"\naction = \"allow\"\n"
	tests := []struct {
		name      string
		dirMode   os.FileMode
		fileMode  os.FileMode // 0: no file
		missingOK bool
		err       string // "" : accepted
	}{
		{name: "private", dirMode: 0o700, fileMode: 0o600},
		{name: "readable by all", dirMode: 0o755, fileMode: 0o644},
		{name: "world-writable file", dirMode: 0o700, fileMode: 0o666, err: "mode 0666"},
		{name: "group-writable file", dirMode: 0o700, fileMode: 0o620, err: "mode 0620"},
		{name: "world-writable directory", dirMode: 0o777, fileMode: 0o600, err: "directory"},
		{name: "sticky world-writable directory", dirMode: 0o777 | os.ModeSticky, fileMode: 0o600, err: "directory"},
		{name: "missing file in a world-writable directory", dirMode: 0o777, missingOK: true, err: "directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "vigil")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "config.toml")
			if tt.fileMode != 0 {
				if err := os.WriteFile(path, []byte(rules), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.fileMode); err != nil {
					t.Fatal(err)
				}
			}
			// Chmod, not Mkdir's mode: the umask must not hide the case.
			if err := os.Chmod(dir, tt.dirMode); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, tt.missingOK)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if !errors.Is(err, fileperm.ErrInsecure) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Load error = %v, want an insecure error containing %q", err, tt.err)
			}
		})
	}
}

// TestLoadRefusesSymlinkIntoOpenDirectory: a private link to a file in a
// directory others can write is as open as the file's own directory.
func TestLoadRefusesSymlinkIntoOpenDirectory(t *testing.T) {
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(open, "config.toml")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "config.toml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(link, false); !errors.Is(err, fileperm.ErrInsecure) || !strings.Contains(err.Error(), open) {
		t.Fatalf("Load through a symlink = %v, want an insecure error naming %s", err, open)
	}
}

// TestLoadRefusesOtherOwner needs root to give a file away; CI runs as
// root. Without root, fileperm's own test covers the owner check.
func TestLoadRefusesOtherOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Log("not root: the file cannot be given to another user here; fileperm.TestCheckRootOwnedOK covers it")
		return
	}
	const stranger = 4242
	for _, what := range []string{"file", "directory"} {
		dir := filepath.Join(t.TempDir(), "vigil")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		given := path
		if what == "directory" {
			given = dir
		}
		if err := os.Chown(given, stranger, stranger); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path, false); !errors.Is(err, fileperm.ErrInsecure) || !strings.Contains(err.Error(), "owned by uid 4242") {
			t.Errorf("%s owned by another user: Load = %v, want an insecure error", what, err)
		}
	}
}
