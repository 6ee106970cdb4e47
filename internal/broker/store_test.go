package broker

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/credential/cargo"
	"github.com/vigil-agent/vigil/internal/vault"
)

var storePass = []byte("store passphrase")

func newTestVault(t *testing.T) *vault.Vault {
	t.Helper()
	v, err := vault.Open(vault.Config{Dir: filepath.Join(t.TempDir(), "store"),
		KDF: vault.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Init(storePass); err != nil {
		t.Fatal(err)
	}
	return v
}

// The TokenStore contract, for every implementation.
func TestTokenStores(t *testing.T) {
	v := newTestVault(t)
	ts, err := v.OpenTokens(storePass)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ts.Close)
	for name, s := range map[string]TokenStore{"memory": NewMemoryStore(), "vault": NewVaultStore(ts)} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Get(indexURL); !errors.Is(err, ErrNoToken) {
				t.Fatalf("Get of nothing: %v", err)
			}
			if err := s.Remove(indexURL); !errors.Is(err, ErrNoToken) {
				t.Fatalf("Remove of nothing: %v", err)
			}
			if err := s.Put(indexURL, credential.Token{}); err == nil {
				t.Fatal("stored an empty token")
			}
			for _, tok := range []string{"first", secret} {
				if err := s.Put(indexURL, credential.UncheckedToken(tok)); err != nil {
					t.Fatal(err)
				}
				if got, err := s.Get(indexURL); err != nil || got.Reveal() != tok {
					t.Fatalf("Get after Put: %v", err)
				}
			}
			if _, err := s.Get("sparse+https://other.example/"); !errors.Is(err, ErrNoToken) {
				t.Fatalf("Get of another registry: %v", err)
			}
			if err := s.Remove(indexURL); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(indexURL); !errors.Is(err, ErrNoToken) {
				t.Fatalf("Get after Remove: %v", err)
			}
		})
	}
	ts.Close()
	if _, err := NewVaultStore(ts).Get(indexURL); !errors.Is(err, ErrLocked) {
		t.Fatalf("Get from a closed vault handle: %v, want ErrLocked", err)
	}
}

// UnlockVault and Lock: the broker on the vault for an unlock window, the
// token sealed on disk, and locked outside the window.
func TestCargoVaultWindow(t *testing.T) {
	r := newRig(t)
	v := newTestVault(t)
	if err := r.broker.UnlockVault(v, []byte("wrong")); !errors.Is(err, vault.ErrBadPassphrase) {
		t.Fatalf("UnlockVault with a wrong passphrase: %v", err)
	}
	if err := r.broker.UnlockVault(v, storePass); err != nil {
		t.Fatal(err)
	}
	if resp, e := decode(t, r.plugin(login(t, secret))); e != nil || resp.Kind != cargo.KindLogin {
		t.Fatalf("login: %+v %v", resp, e)
	}
	list, _, err := v.ListTokens()
	if err != nil || len(list) != 1 || list[0].Label != LabelPrefix+indexURL {
		t.Fatalf("vault tokens after login: %+v %v", list, err)
	}
	data, err := os.ReadFile(list[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(secret)) {
		t.Fatal("the vault holds the token in clear")
	}
	wantToken(t, r.plugin(publish(t)), cargo.CacheNever)

	// A second unlock replaces the handle; the token is still there.
	if err := r.broker.UnlockVault(v, storePass); err != nil {
		t.Fatal(err)
	}
	wantToken(t, r.plugin(publish(t)), cargo.CacheNever)

	r.broker.Lock()
	wantError(t, r.plugin(publish(t)), cargo.Other, "key store is locked: registry tokens are kept only there, encrypted; run `vigil unlock`")
	wantError(t, r.plugin(login(t, "another")), cargo.Other, "key store is locked: registry tokens are kept only there, encrypted; run `vigil unlock`")

	if err := r.broker.UnlockVault(v, storePass); err != nil {
		t.Fatal(err)
	}
	wantToken(t, r.plugin(publish(t)), cargo.CacheNever)

	// The passphrase changed under the agent: locked until unlocked again.
	if err := v.ChangePassphrase(storePass, []byte("new")); err != nil {
		t.Fatal(err)
	}
	e := wantError(t, r.plugin(publish(t)), cargo.Other, "key store is locked: registry tokens are kept only there, encrypted; run `vigil unlock`")
	if len(e.CausedBy) == 0 {
		t.Errorf("no reason given: %+v", e)
	}
}
