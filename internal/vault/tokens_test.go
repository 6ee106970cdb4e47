package vault

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-agent/vigil/internal/credential"
)

const (
	labelFake  = "cargo:sparse+http://127.0.0.1:8765/index/"
	labelOther = "cargo:https://github.com/rust-lang/crates.io-index"
	secretA    = "cio-secret-token-AAAA"
	secretB    = "Bearer secret-token-BBBB"
)

func tok(s string) credential.Token { return credential.UncheckedToken(s) }

func openTokens(t *testing.T, v *Vault, pass []byte) *Tokens {
	t.Helper()
	ts, err := v.OpenTokens(pass)
	if err != nil {
		t.Fatalf("OpenTokens: %v", err)
	}
	t.Cleanup(ts.Close)
	return ts
}

func mustGet(t *testing.T, ts *Tokens, label, want string) {
	t.Helper()
	got, err := ts.Get(label)
	if err != nil {
		t.Fatalf("Get(%q): %v", label, err)
	}
	if got.Reveal() != want {
		t.Fatalf("Get(%q) returned another token (%d bytes, want %d)", label, got.Len(), len(want))
	}
}

func TestTokensRoundTrip(t *testing.T) {
	v := newVault(t)
	ts := openTokens(t, v, pass1)
	if _, err := ts.Get(labelFake); !errors.Is(err, ErrNoToken) {
		t.Fatalf("Get before Put: %v, want ErrNoToken", err)
	}
	if err := ts.Put(labelFake, tok(secretA)); err != nil {
		t.Fatal(err)
	}
	if err := ts.Put(labelOther, tok(secretB)); err != nil {
		t.Fatal(err)
	}
	mustGet(t, ts, labelFake, secretA)
	mustGet(t, ts, labelOther, secretB)

	// Another handle, opened later, reads what the first stored.
	mustGet(t, openTokens(t, v, pass1), labelFake, secretA)

	// Put replaces.
	if err := ts.Put(labelFake, tok(secretB)); err != nil {
		t.Fatal(err)
	}
	mustGet(t, ts, labelFake, secretB)

	list, problems, err := v.ListTokens()
	if err != nil || len(problems) > 0 {
		t.Fatalf("ListTokens: %v %v", problems, err)
	}
	if len(list) != 2 || list[0].Label != labelOther || list[1].Label != labelFake {
		t.Fatalf("ListTokens = %+v", list)
	}
	for _, e := range list {
		data, err := os.ReadFile(e.Path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("secret-token")) {
			t.Errorf("%s holds the token in clear:\n%s", e.Path, data)
		}
		fi, err := os.Stat(e.Path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %#o, want 0600", e.Path, fi.Mode().Perm())
		}
	}

	if err := ts.Remove(labelFake); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Get(labelFake); !errors.Is(err, ErrNoToken) {
		t.Fatalf("Get after Remove: %v, want ErrNoToken", err)
	}
	if err := ts.Remove(labelFake); !errors.Is(err, ErrNoToken) {
		t.Fatalf("second Remove: %v, want ErrNoToken", err)
	}
	if err := v.RemoveToken(labelOther); err != nil {
		t.Fatal(err)
	}
	if list, _, _ := v.ListTokens(); len(list) != 0 {
		t.Fatalf("ListTokens after removing both = %+v", list)
	}
}

// Token files are invisible to everything that handles keys.
func TestTokensBesideKeys(t *testing.T) {
	v := newVault(t)
	e, err := v.Generate(pass1, Ed25519, "alice")
	if err != nil {
		t.Fatal(err)
	}
	ts := openTokens(t, v, pass1)
	if err := ts.Put(labelFake, tok(secretA)); err != nil {
		t.Fatal(err)
	}
	entries, problems, err := v.List()
	if err != nil || len(problems) > 0 || len(entries) != 1 || entries[0].Fingerprint != e.Fingerprint {
		t.Fatalf("List = %+v, %v, %v", entries, problems, err)
	}
	keys := unlockAll(t, v, pass1)
	if len(keys) != 1 {
		t.Fatalf("Unlock returned %d keys", len(keys))
	}
	keys[0].Wipe()
}

func TestTokensRefuse(t *testing.T) {
	v := newVault(t)
	if _, err := v.OpenTokens(pass2); !errors.Is(err, ErrBadPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	empty := openVault(t, filepath.Join(t.TempDir(), "none"))
	if _, err := empty.OpenTokens(pass1); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("uninitialised store: %v", err)
	}
	ts := openTokens(t, v, pass1)
	for _, label := range []string{"", "a\nb", strings.Repeat("x", maxLabel+1), "bad\xff"} {
		if err := ts.Put(label, tok(secretA)); err == nil {
			t.Errorf("Put(%q) accepted", label)
		}
	}
	if err := ts.Put(labelFake, credential.Token{}); err == nil {
		t.Error("Put of an empty token accepted")
	}
	if err := ts.Put(labelFake, tok(strings.Repeat("t", MaxStoredToken+1))); err == nil {
		t.Error("Put of an oversized token accepted")
	}
	if err := ts.Put(labelFake, tok(strings.Repeat("t", MaxStoredToken))); err != nil {
		t.Errorf("Put of a token of MaxStoredToken bytes: %v", err)
	}
	mustGet(t, ts, labelFake, strings.Repeat("t", MaxStoredToken))

	ts.Close()
	ts.Close()
	if _, err := ts.Get(labelFake); !errors.Is(err, ErrTokensClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := ts.Put(labelFake, tok(secretA)); !errors.Is(err, ErrTokensClosed) {
		t.Errorf("Put after Close: %v", err)
	}
	if err := ts.Remove(labelFake); !errors.Is(err, ErrTokensClosed) {
		t.Errorf("Remove after Close: %v", err)
	}
}

func TestTokensErrorsHoldNoSecret(t *testing.T) {
	v := newVault(t)
	ts := openTokens(t, v, pass1)
	if err := ts.Put(labelFake, tok(secretA)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(v.Dir(), tokenFileName(labelFake))
	data, _ := os.ReadFile(path)
	damaged := bytes.Replace(data, []byte("label cargo:"), []byte("label cargx:"), 1)
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ts.Get(labelFake)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get of an edited file: %v, want ErrCorrupt", err)
	}
	if strings.Contains(fmt.Sprint(err), secretA) {
		t.Fatalf("error holds the token: %v", err)
	}
}

// A file altered on disk fails to open, whatever was changed.
func TestTokensDamaged(t *testing.T) {
	v := newVault(t)
	ts := openTokens(t, v, pass1)
	for _, l := range []string{labelFake, labelOther} {
		if err := ts.Put(l, tok(secretA)); err != nil {
			t.Fatal(err)
		}
	}
	fake := filepath.Join(v.Dir(), tokenFileName(labelFake))
	other := filepath.Join(v.Dir(), tokenFileName(labelOther))
	orig, err := os.ReadFile(fake)
	if err != nil {
		t.Fatal(err)
	}
	restore := func() {
		if err := os.WriteFile(fake, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(fake, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// listed: ListTokens, which has no passphrase, notices it too.
	cases := []struct {
		name   string
		listed bool
		damage func()
	}{
		{"renamed over another label", true, func() {
			data, _ := os.ReadFile(other)
			os.WriteFile(fake, data, 0o600)
		}},
		{"sealed bytes flipped", false, func() {
			d := bytes.Clone(orig)
			i := bytes.Index(d, []byte("sealed ")) + len("sealed ") + 10
			flipBase64(d, i)
			os.WriteFile(fake, d, 0o600)
		}},
		{"created edited", false, func() {
			os.WriteFile(fake, bytes.Replace(orig, []byte("created 2026"), []byte("created 2027"), 1), 0o600)
		}},
		{"kid edited", false, func() {
			d := bytes.Clone(orig)
			i := bytes.Index(d, []byte("kid ")) + len("kid ")
			if d[i] == '0' {
				d[i] = '1'
			} else {
				d[i] = '0'
			}
			os.WriteFile(fake, d, 0o600)
		}},
		{"truncated", true, func() { os.WriteFile(fake, orig[:len(orig)-5], 0o600) }},
		{"empty", true, func() { os.WriteFile(fake, nil, 0o600) }},
		{"world readable", true, func() { os.Chmod(fake, 0o644) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer restore()
			c.damage()
			_, err := ts.Get(labelFake)
			if err == nil || errors.Is(err, ErrNoToken) {
				t.Fatalf("Get of a damaged file: %v", err)
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInsecure) {
				t.Errorf("error %v wraps neither ErrCorrupt nor ErrInsecure", err)
			}
			_, problems, err := v.ListTokens()
			if err != nil || c.listed != (len(problems) == 1 && problems[0].Path == fake) {
				t.Errorf("ListTokens: %v, %v", problems, err)
			}
		})
	}
	mustGet(t, ts, labelFake, secretA)
}

// A handle opened before a passphrase change refuses to go on; and, the
// known gap the package documentation describes, a token stored before the
// change does not open after it. When ChangePassphrase learns to reseal
// token files, the last check here must become "the token survives".
// A passphrase change (vigil key passwd) reseals the tokens with the keys:
// they open with the new passphrase, not with the old, and a handle opened
// before the change is stale.
func TestTokensAfterPassphraseChange(t *testing.T) {
	v, fps := storeWithKeys(t, 2)
	ts := openTokens(t, v, pass1)
	if err := ts.Put(labelFake, tok(secretA)); err != nil {
		t.Fatal(err)
	}
	if err := ts.Put(labelOther, tok(secretB)); err != nil {
		t.Fatal(err)
	}
	if err := v.ChangePassphrase(pass1, pass2); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Get(labelFake); !errors.Is(err, ErrStale) {
		t.Fatalf("Get through a stale handle: %v, want ErrStale", err)
	}
	if err := ts.Put(labelOther, tok(secretB)); !errors.Is(err, ErrStale) {
		t.Fatalf("Put through a stale handle: %v, want ErrStale", err)
	}
	if _, err := v.OpenTokens(pass1); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("OpenTokens with the old passphrase: %v", err)
	}
	fresh := openTokens(t, v, pass2)
	mustGet(t, fresh, labelFake, secretA)
	mustGet(t, fresh, labelOther, secretB)
	requireAll(t, v, pass2, fps)
	// Keys and tokens are all under the one new store key.
	if k := tokenKIDs(t, v); len(k) != 1 || !slices.Equal(k, kids(t, v)) {
		t.Errorf("tokens under store keys %v, keys under %v", k, kids(t, v))
	}
	// And again: a second change carries them on.
	if err := v.ChangePassphrase(pass2, pass3); err != nil {
		t.Fatal(err)
	}
	mustGet(t, openTokens(t, v, pass3), labelFake, secretA)
}

// tokenKIDs returns the distinct store-key IDs the token files are sealed
// under.
func tokenKIDs(t *testing.T, v *Vault) []string {
	t.Helper()
	names, err := tokenNames(v.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		k, err := v.readToken(n)
		if err != nil {
			t.Fatal(err)
		}
		if id := fmt.Sprintf("%x", k.kid); !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// TestTokensPassphraseChangeInterrupted stops ChangePassphrase after each
// number of rewritten files (keys first, then tokens), as a crash would:
// every token still opens with either passphrase, and a second change
// finishes the job.
func TestTokensPassphraseChangeInterrupted(t *testing.T) {
	const nKeys, nTokens = 2, 3
	labels := func(i int) (string, string) {
		return fmt.Sprintf("cargo:sparse+https://r%d.example/index/", i), fmt.Sprintf("token-%d-%s", i, secretA)
	}
	for stop := 0; stop <= nKeys+nTokens; stop++ {
		t.Run(fmt.Sprint("after ", stop), func(t *testing.T) {
			v, fps := storeWithKeys(t, nKeys)
			ts := openTokens(t, v, pass1)
			for i := range nTokens {
				l, s := labels(i)
				if err := ts.Put(l, tok(s)); err != nil {
					t.Fatal(err)
				}
			}
			v.testOnlyAfterRewrite = func(i int) error {
				if i == stop {
					return errCrash
				}
				return nil
			}
			if err := v.ChangePassphrase(pass1, pass2); !errors.Is(err, errCrash) {
				t.Fatalf("ChangePassphrase = %v, want the simulated crash", err)
			}
			v.testOnlyAfterRewrite = nil
			if got, want := len(tokenKIDs(t, v)), map[bool]int{true: 2, false: 1}[stop > nKeys && stop < nKeys+nTokens]; got != want {
				t.Errorf("after %d files, tokens under %d store keys, want %d", stop, got, want)
			}
			for _, p := range [][]byte{pass1, pass2} {
				ts := openTokens(t, v, p)
				for i := range nTokens {
					l, s := labels(i)
					mustGet(t, ts, l, s)
				}
				requireAll(t, v, p, fps)
			}
			if err := v.ChangePassphrase([][]byte{pass1, pass2}[stop%2], pass3); err != nil {
				t.Fatal(err)
			}
			ts = openTokens(t, v, pass3)
			for i := range nTokens {
				l, s := labels(i)
				mustGet(t, ts, l, s)
			}
			if k := tokenKIDs(t, v); len(k) != 1 || !slices.Equal(k, kids(t, v)) {
				t.Errorf("after finishing, tokens under %v, keys under %v", k, kids(t, v))
			}
		})
	}
}

// A token that cannot be decrypted stops a passphrase change before it
// changes anything, as a damaged key does.
func TestChangePassphraseRefusesDamagedToken(t *testing.T) {
	v := newVault(t)
	ts := openTokens(t, v, pass1)
	if err := ts.Put(labelFake, tok(secretA)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(v.Dir(), tokenFileName(labelFake))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Another label in the clear part: the seal no longer matches.
	bad := bytes.Replace(data, []byte("label "+labelFake), []byte("label "+labelFake+"x"), 1)
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	header, _ := os.ReadFile(filepath.Join(v.Dir(), headerName))
	err = v.ChangePassphrase(pass1, pass2)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("ChangePassphrase with a damaged token: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(v.Dir(), headerName)); !bytes.Equal(after, header) {
		t.Error("the header changed")
	}
}

func TestTokensConcurrent(t *testing.T) {
	v := newVault(t)
	a, b := openTokens(t, v, pass1), openTokens(t, v, pass1)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts := a
			if i%2 == 1 {
				ts = b
			}
			label := fmt.Sprintf("cargo:https://r%d.example/index/", i%3)
			for j := range 5 {
				want := fmt.Sprintf("token-%d-%d", i, j)
				if err := ts.Put(label, tok(want)); err != nil {
					t.Error(err)
					return
				}
				if _, err := ts.Get(label); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	list, problems, err := v.ListTokens()
	if err != nil || len(problems) > 0 || len(list) != 3 {
		t.Fatalf("ListTokens = %+v, %v, %v", list, problems, err)
	}
	if ents, _ := os.ReadDir(v.Dir()); len(ents) != 1+3 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %q, want the header and 3 tokens", names)
	}
}

func FuzzTokenFile(f *testing.F) {
	k := &tokenFile{label: labelFake, sealed: bytes.Repeat([]byte{7}, 24+16+5)}
	f.Add(k.marshal())
	f.Add([]byte(tokenMagic + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := parseTokenFile(data)
		if err != nil {
			return
		}
		if !bytes.Equal(k.marshal(), data) {
			t.Fatalf("parsed file does not marshal back to its bytes")
		}
	})
}
