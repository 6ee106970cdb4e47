package vault

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// threeKeys returns a store with three keys and the entry of the middle one.
func threeKeys(t *testing.T) (*Vault, Entry, []Entry) {
	t.Helper()
	v := newVault(t)
	var es []Entry
	for i, kt := range []KeyType{Ed25519, ECDSAP256, Ed25519} {
		e, err := v.Generate(pass1, kt, fmt.Sprintf("key %d %s", i, kt))
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return v, es[1], es
}

// wantOneProblem unlocks v and checks that every key but the one at path
// loads, and that the problem names path and wraps want.
func wantOneProblem(t *testing.T, v *Vault, path string, want error, wantText string) {
	t.Helper()
	keys, problems, err := v.Unlock(pass1)
	if err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if len(keys) != 2 {
		t.Errorf("Unlock loaded %d keys, want the 2 undamaged ones", len(keys))
	}
	for _, k := range keys {
		if k.Path == path {
			t.Errorf("damaged key %s loaded", path)
		}
		signVerify(t, k)
	}
	if len(problems) != 1 {
		t.Fatalf("problems = %v, want one", problems)
	}
	p := problems[0]
	if p.Path != path || !strings.Contains(p.Error(), path) || !errors.Is(p, want) || !strings.Contains(p.Error(), wantText) {
		t.Errorf("problem = %q (path %s), want one naming %s, wrapping %v, saying %q", p, p.Path, path, want, wantText)
	}
}

func TestDamagedKeyFile(t *testing.T) {
	other := newVault(t)
	foreign, err := other.Generate(pass1, Ed25519, "from another store")
	if err != nil {
		t.Fatal(err)
	}
	foreignData, err := os.ReadFile(foreign.Path)
	if err != nil {
		t.Fatal(err)
	}
	replaceLine := func(data []byte, prefix, with string) []byte {
		lines := strings.Split(string(data), "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, prefix) {
				lines[i] = prefix + with
			}
		}
		return []byte(strings.Join(lines, "\n"))
	}

	tests := []struct {
		name   string
		damage func(data []byte, es []Entry) []byte
		want   string
	}{
		{"empty", func([]byte, []Entry) []byte { return nil }, "empty file"},
		{"truncated mid-line", func(d []byte, _ []Entry) []byte { return d[:len(d)/2] }, "truncated (no final newline)"},
		{"truncated at a line", func(d []byte, _ []Entry) []byte {
			return d[:bytes.Index(d, []byte("\nkid "))+1]
		}, "truncated (4 of 6 lines)"},
		{"truncated sealed line", func(d []byte, _ []Entry) []byte { return append(d[:len(d)-11], '\n') }, "sealed key"},
		{"garbage", func([]byte, []Entry) []byte { return []byte("\x00\x01garbage\n") }, "not a vigil key file"},
		{"extra line", func(d []byte, _ []Entry) []byte { return append(d, "more\n"...) }, "7 lines"},
		{"CRLF", func(d []byte, _ []Entry) []byte { return bytes.ReplaceAll(d, []byte("\n"), []byte("\r\n")) }, ""},
		{"bit flip in sealed", func(d []byte, _ []Entry) []byte {
			flipBase64(d, bytes.Index(d, []byte("sealed "))+20)
			return d
		}, "altered or damaged"},
		{"comment edited", func(d []byte, _ []Entry) []byte { return replaceLine(d, "comment ", "someone else's") }, "altered or damaged"},
		{"created edited", func(d []byte, _ []Entry) []byte { return replaceLine(d, "created ", "2001-01-01T00:00:00Z") }, "altered or damaged"},
		{"created not UTC", func(d []byte, _ []Entry) []byte { return replaceLine(d, "created ", "2026-10-20T12:00:02+02:00") }, "canonical"},
		{"kid edited", func(d []byte, _ []Entry) []byte { return replaceLine(d, "kid ", "0000000000000000") }, "does not hold"},
		{"public key of another key", func(d []byte, es []Entry) []byte {
			return replaceLine(d, "public ", strings.TrimSpace(string(ssh.MarshalAuthorizedKey(es[0].Public))))
		}, "not the one its name says"},
		{"from another store", func([]byte, []Entry) []byte { return foreignData }, "not the one its name says"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, victim, es := threeKeys(t)
			data, err := os.ReadFile(victim.Path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(victim.Path, tt.damage(data, es), 0o600); err != nil {
				t.Fatal(err)
			}
			wantOneProblem(t, v, victim.Path, ErrCorrupt, tt.want)
			// The damaged file can be removed by the fingerprint its name
			// spells, and then everything is clean again.
			if _, err := v.Remove(victim.Fingerprint); err != nil {
				t.Fatalf("Remove(%s): %v", victim.Fingerprint, err)
			}
			if keys := unlockAll(t, v, pass1); len(keys) != 2 {
				t.Errorf("%d keys after removing the damaged one", len(keys))
			}
		})
	}

	// A foreign file under its own name: parsed fine, but sealed under a
	// store key this store does not have.
	t.Run("foreign store key", func(t *testing.T) {
		v, _, _ := threeKeys(t)
		path := filepath.Join(v.Dir(), filepath.Base(foreign.Path))
		if err := os.WriteFile(path, foreignData, 0o600); err != nil {
			t.Fatal(err)
		}
		keys, problems, err := v.Unlock(pass1)
		if err != nil || len(keys) != 3 || len(problems) != 1 || !strings.Contains(problems[0].Error(), "another store") {
			t.Errorf("Unlock = %d keys, %v, %v", len(keys), problems, err)
		}
	})
}

func TestDamagedHeader(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func([]byte) []byte
		want   error
	}{
		{"truncated", func(d []byte) []byte { return d[:len(d)-5] }, ErrCorrupt},
		{"empty", func([]byte) []byte { return nil }, ErrCorrupt},
		{"bad params", func(d []byte) []byte { return bytes.Replace(d, []byte(" t=1 "), []byte(" t=0 "), 1) }, ErrCorrupt},
		{"huge memory", func(d []byte) []byte { return bytes.Replace(d, []byte(" m=64 "), []byte(" m=4294967295 "), 1) }, ErrCorrupt},
		// A damaged slot cannot be told from a wrong passphrase.
		{"changed params", func(d []byte) []byte { return bytes.Replace(d, []byte(" t=1 "), []byte(" t=2 "), 1) }, ErrBadPassphrase},
		{"bit flip in sealed", func(d []byte) []byte {
			flipBase64(d, bytes.Index(d, []byte("sealed="))+12)
			return d
		}, ErrBadPassphrase},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, _, _ := threeKeys(t)
			path := filepath.Join(v.Dir(), headerName)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.damage(data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err = v.Unlock(pass1)
			if !errors.Is(err, tt.want) {
				t.Errorf("Unlock = %v, want %v", err, tt.want)
			}
			if tt.want == ErrCorrupt && !strings.Contains(err.Error(), path) {
				t.Errorf("%q does not name %s", err, path)
			}
			// Listing needs no header.
			if list, problems, err := v.List(); len(list) != 3 || len(problems) != 0 || err != nil {
				t.Errorf("List = %d, %v, %v", len(list), problems, err)
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	root := os.Geteuid() == 0
	tests := []struct {
		name string
		root bool // needs chown
		harm func(t *testing.T, v *Vault, victim Entry)
		// whole: the store is refused; otherwise victim alone is.
		whole bool
		want  string
	}{
		{"dir 0755", false, func(t *testing.T, v *Vault, _ Entry) { chmod(t, v.Dir(), 0o755) }, true, "mode 0755, want 0700"},
		{"dir 0710", false, func(t *testing.T, v *Vault, _ Entry) { chmod(t, v.Dir(), 0o710) }, true, "mode 0710"},
		{"dir of another user", true, func(t *testing.T, v *Vault, _ Entry) { chown(t, v.Dir()) }, true, "owned by uid 65534"},
		{"header 0644", false, func(t *testing.T, v *Vault, _ Entry) { chmod(t, filepath.Join(v.Dir(), headerName), 0o644) }, true, "mode 0644, want 0600"},
		{"header of another user", true, func(t *testing.T, v *Vault, _ Entry) { chown(t, filepath.Join(v.Dir(), headerName)) }, true, "owned by uid 65534"},
		{"header symlink", false, func(t *testing.T, v *Vault, _ Entry) {
			h := filepath.Join(v.Dir(), headerName)
			if err := os.Rename(h, h+".real"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(h+".real", h); err != nil {
				t.Fatal(err)
			}
		}, true, "symbolic link"},
		{"key 0644", false, func(t *testing.T, _ *Vault, e Entry) { chmod(t, e.Path, 0o644) }, false, "mode 0644, want 0600"},
		{"key 0620", false, func(t *testing.T, _ *Vault, e Entry) { chmod(t, e.Path, 0o620) }, false, "mode 0620"},
		{"key of another user", true, func(t *testing.T, _ *Vault, e Entry) { chown(t, e.Path) }, false, "owned by uid 65534"},
		{"key symlink", false, func(t *testing.T, v *Vault, e Entry) {
			real := filepath.Join(v.Dir(), "elsewhere")
			if err := os.Rename(e.Path, real); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(real, e.Path); err != nil {
				t.Fatal(err)
			}
		}, false, "symbolic link"},
		{"key is a directory", false, func(t *testing.T, _ *Vault, e Entry) {
			if err := os.Remove(e.Path); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(e.Path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, false, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && !root {
				t.Fatal("chown needs root: run the tests as root, as CI does")
			}
			v, victim, _ := threeKeys(t)
			tt.harm(t, v, victim)
			if !tt.whole {
				wantOneProblem(t, v, victim.Path, ErrInsecure, tt.want)
				return
			}
			_, _, err := v.Unlock(pass1)
			if !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Unlock = %v, want ErrInsecure saying %q", err, tt.want)
			}
			if _, err := v.Generate(pass1, Ed25519, ""); !errors.Is(err, ErrInsecure) {
				t.Errorf("Generate = %v, want ErrInsecure", err)
			}
			if strings.HasPrefix(tt.name, "dir") {
				if _, err := Open(Config{Dir: v.Dir()}); !errors.Is(err, ErrInsecure) {
					t.Errorf("Open = %v, want ErrInsecure", err)
				}
				if _, _, err := v.List(); !errors.Is(err, ErrInsecure) {
					t.Errorf("List = %v, want ErrInsecure", err)
				}
			}
		})
	}
	t.Run("stricter is fine", func(t *testing.T) {
		v, victim, _ := threeKeys(t)
		chmod(t, victim.Path, 0o400)
		chmod(t, v.Dir(), 0o700)
		if keys := unlockAll(t, v, pass1); len(keys) != 3 {
			t.Errorf("%d keys", len(keys))
		}
	})
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func chown(t *testing.T, path string) {
	t.Helper()
	if err := os.Lchown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
}

// flipBase64 changes the base64 digit at d[i] to another one.
func flipBase64(d []byte, i int) {
	if d[i] == 'A' {
		d[i] = 'B'
	} else {
		d[i] = 'A'
	}
}
