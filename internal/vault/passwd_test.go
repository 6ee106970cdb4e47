package vault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fingerprints returns the sorted fingerprints of keys.
func fingerprints(keys []UnlockedKey) []string {
	var fps []string
	for _, k := range keys {
		fps = append(fps, k.Fingerprint)
	}
	slices.Sort(fps)
	return fps
}

// requireAll checks that pass unlocks exactly the keys want, with no problem.
func requireAll(t *testing.T, v *Vault, pass []byte, want []string) {
	t.Helper()
	keys, problems, err := v.Unlock(pass)
	if err != nil {
		t.Fatalf("Unlock(%q): %v", pass, err)
	}
	if len(problems) > 0 {
		t.Fatalf("Unlock(%q) problems: %v", pass, problems)
	}
	if got := fingerprints(keys); !slices.Equal(got, want) {
		t.Fatalf("Unlock(%q) = %v, want %v", pass, got, want)
	}
	for _, k := range keys {
		signVerify(t, k)
	}
}

func storeWithKeys(t *testing.T, n int) (*Vault, []string) {
	t.Helper()
	v := newVault(t)
	var fps []string
	for i := range n {
		kt := []KeyType{Ed25519, ECDSAP256, ECDSAP384}[i%3]
		e, err := v.Generate(pass1, kt, fmt.Sprint("key ", i))
		if err != nil {
			t.Fatal(err)
		}
		fps = append(fps, e.Fingerprint)
	}
	slices.Sort(fps)
	return v, fps
}

func TestChangePassphrase(t *testing.T) {
	for _, n := range []int{0, 1, 4} {
		t.Run(fmt.Sprint(n, " keys"), func(t *testing.T) {
			v, fps := storeWithKeys(t, n)
			before := kids(t, v)
			if err := v.ChangePassphrase(pass1, pass2); err != nil {
				t.Fatal(err)
			}
			if _, _, err := v.Unlock(pass1); !errors.Is(err, ErrBadPassphrase) {
				t.Errorf("old passphrase after change: %v", err)
			}
			requireAll(t, v, pass2, fps)
			if info, _ := v.Info(); info.ChangeInterrupted {
				t.Errorf("Info after a complete change = %+v", info)
			}
			// Every key is under one new store key.
			after := kids(t, v)
			if len(after) > 1 || (len(after) == 1 && len(before) == 1 && after[0] == before[0]) {
				t.Errorf("store keys before %v, after %v", before, after)
			}
			// New keys go under the new passphrase.
			e, err := v.Generate(pass2, Ed25519, "after")
			if err != nil {
				t.Fatal(err)
			}
			requireAll(t, v, pass2, sortedWith(fps, e.Fingerprint))
		})
	}
}

// kids returns the distinct store-key IDs the key files are sealed under.
func kids(t *testing.T, v *Vault) []string {
	t.Helper()
	names, err := keyNames(v.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		k, err := v.readKey(n)
		if err != nil {
			t.Fatal(err)
		}
		if id := fmt.Sprintf("%x", k.kid); !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func sortedWith(fps []string, more ...string) []string {
	out := slices.Concat(fps, more)
	slices.Sort(out)
	return out
}

var errCrash = errors.New("simulated crash")

// TestChangePassphraseInterrupted stops ChangePassphrase after each number
// of rewritten files, as a crash would, and checks that every key still
// opens with either passphrase, and that a second change finishes the job.
func TestChangePassphraseInterrupted(t *testing.T) {
	const n = 4
	for stop := 0; stop <= n; stop++ {
		t.Run(fmt.Sprint("after ", stop), func(t *testing.T) {
			v, fps := storeWithKeys(t, n)
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
			if got, want := len(kids(t, v)), map[bool]int{true: 2, false: 1}[stop > 0 && stop < n]; got != want {
				t.Errorf("after %d of %d files, keys under %d store keys, want %d", stop, n, got, want)
			}

			// Either passphrase opens everything; a third opens nothing.
			requireAll(t, v, pass1, fps)
			requireAll(t, v, pass2, fps)
			if _, _, err := v.Unlock(pass3); !errors.Is(err, ErrBadPassphrase) {
				t.Errorf("Unlock(other) = %v", err)
			}
			if info, err := v.Info(); err != nil || !info.ChangeInterrupted {
				t.Errorf("Info = %+v, %v; want ChangeInterrupted", info, err)
			}
			// A key added meanwhile opens with both too.
			e, err := v.Generate(pass1, Ed25519, "added meanwhile")
			if err != nil {
				t.Fatal(err)
			}
			fps = sortedWith(fps, e.Fingerprint)
			requireAll(t, v, pass2, fps)

			// Finishing: the user runs the change again, with the old or
			// the new passphrase as the old one.
			from := [][]byte{pass1, pass2}[stop%2]
			if err := v.ChangePassphrase(from, pass3); err != nil {
				t.Fatal(err)
			}
			requireAll(t, v, pass3, fps)
			for _, p := range [][]byte{pass1, pass2} {
				if _, _, err := v.Unlock(p); !errors.Is(err, ErrBadPassphrase) {
					t.Errorf("Unlock(%q) after finishing = %v", p, err)
				}
			}
			if info, _ := v.Info(); info.ChangeInterrupted {
				t.Errorf("still interrupted after finishing")
			}
			if got := kids(t, v); len(got) != 1 {
				t.Errorf("store keys after finishing: %v", got)
			}
			data, err := os.ReadFile(filepath.Join(v.Dir(), headerName))
			if err != nil || strings.Count(string(data), "\nslot ") != 1 {
				t.Errorf("header after finishing:\n%s", data)
			}
		})
	}
}

func TestChangePassphraseRefusesDamage(t *testing.T) {
	v, fps := storeWithKeys(t, 3)
	victim := filepath.Join(v.Dir(), mustName(t, fps[1]))
	if err := os.WriteFile(victim, []byte("vigil-vault-key v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	header, _ := os.ReadFile(filepath.Join(v.Dir(), headerName))
	err := v.ChangePassphrase(pass1, pass2)
	if err == nil || !strings.Contains(err.Error(), victim) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ChangePassphrase with a damaged file = %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(v.Dir(), headerName)); string(after) != string(header) {
		t.Errorf("header changed")
	}
	if _, err := v.Remove(fps[1]); err != nil {
		t.Fatal(err)
	}
	if err := v.ChangePassphrase(pass1, pass2); err != nil {
		t.Fatal(err)
	}
	requireAll(t, v, pass2, []string{fps[0], fps[2]})
}

func TestChangePassphraseUpgradesKDF(t *testing.T) {
	v, fps := storeWithKeys(t, 2)
	stronger := KDFParams{Time: 2, MemoryKiB: 256, Threads: 2}
	v2, err := Open(Config{Dir: v.Dir(), KDF: stronger})
	if err != nil {
		t.Fatal(err)
	}
	if err := v2.ChangePassphrase(pass1, pass2); err != nil {
		t.Fatal(err)
	}
	if info, _ := v.Info(); info.KDF != stronger {
		t.Errorf("KDF after change = %+v, want %+v", info.KDF, stronger)
	}
	requireAll(t, v, pass2, fps)
}

func mustName(t *testing.T, fp string) string {
	t.Helper()
	n, ok := fingerprintName(fp)
	if !ok {
		t.Fatalf("bad fingerprint %s", fp)
	}
	return n
}

// TestConcurrentWriters changes the passphrase back and forth while two
// other Vaults on the same directory (as the CLI and the agent would be)
// add keys and record use. Without the directory lock, a key added during a
// change could be sealed under a store key the change then drops.
func TestConcurrentWriters(t *testing.T) {
	v := newVault(t)
	const changes, adds = 4, 12
	var wg sync.WaitGroup
	added := make(chan string, 2*adds)
	for w := range 2 {
		other := openVault(t, v.Dir())
		wg.Go(func() {
			for i := range adds {
				var e Entry
				var err error
				// The passphrase may change under us, even between two
				// tries: alternate until one is right.
				for try := range 50 {
					p := [][]byte{pass1, pass2}[try%2]
					if e, err = other.Generate(p, Ed25519, fmt.Sprint(w, "/", i)); !errors.Is(err, ErrBadPassphrase) {
						break
					}
				}
				if err != nil {
					t.Errorf("Generate: %v", err)
					return
				}
				added <- e.Fingerprint
				other.MarkUsed(e.Fingerprint, time.Now())
				if err := other.FlushUsage(); err != nil {
					t.Errorf("FlushUsage: %v", err)
				}
			}
		})
	}
	wg.Go(func() {
		from, to := pass1, pass2
		for range changes {
			if err := v.ChangePassphrase(from, to); err != nil {
				t.Errorf("ChangePassphrase: %v", err)
				return
			}
			from, to = to, from
		}
	})
	wg.Wait()
	close(added)
	var want []string
	for fp := range added {
		want = append(want, fp)
	}
	slices.Sort(want)
	final := [][]byte{pass1, pass2}[changes%2]
	requireAll(t, v, final, want)
}
