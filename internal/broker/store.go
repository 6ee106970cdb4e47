package broker

import (
	"errors"
	"fmt"

	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/vault"
)

// Errors a TokenStore returns and the broker branches on.
var (
	// ErrNoToken: nothing is stored for the registry.
	ErrNoToken = errors.New("no token stored for this registry")
	// ErrLocked: the store cannot be read now (the agent is locked).
	ErrLocked = errors.New("vigil is locked")
)

// TokenStore keeps registry tokens, keyed by cargo's index-url exactly as
// cargo sends it ("sparse+https://…/" for sparse registries, the git URL for
// crates.io). Get and Remove return an error wrapping ErrNoToken when nothing
// is stored; any store may return one wrapping ErrLocked. Errors never hold a
// token. Implementations are safe for concurrent use.
type TokenStore interface {
	Get(indexURL string) (credential.Token, error)
	Put(indexURL string, tok credential.Token) error
	Remove(indexURL string) error
}

// LabelPrefix is how cargo's tokens are labelled in the vault: the prefix,
// then the index-url.
const LabelPrefix = "cargo:"

// VaultStore is a TokenStore backed by the encrypted vault, through a handle
// unlocked for the agent's unlock window. Closing the handle (at lock) makes
// every call fail with ErrLocked.
type VaultStore struct {
	tokens *vault.Tokens
}

// NewVaultStore returns a TokenStore over tokens, which stays the caller's
// to Close.
func NewVaultStore(tokens *vault.Tokens) *VaultStore { return &VaultStore{tokens: tokens} }

// Get returns the token stored for indexURL.
func (s *VaultStore) Get(indexURL string) (credential.Token, error) {
	tok, err := s.tokens.Get(LabelPrefix + indexURL)
	return tok, vaultErr(err)
}

// Put stores tok for indexURL.
func (s *VaultStore) Put(indexURL string, tok credential.Token) error {
	return vaultErr(s.tokens.Put(LabelPrefix+indexURL, tok))
}

// Remove deletes the token stored for indexURL.
func (s *VaultStore) Remove(indexURL string) error {
	return vaultErr(s.tokens.Remove(LabelPrefix + indexURL))
}

// vaultErr maps the vault's sentinels to the broker's, keeping the vault's
// words (which name files and store keys, never a token).
func vaultErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, vault.ErrNoToken):
		return ErrNoToken
	case errors.Is(err, vault.ErrTokensClosed), errors.Is(err, vault.ErrStale):
		return fmt.Errorf("%w: %w", ErrLocked, err)
	}
	return err
}

// UnlockVault serves tokens from v's encrypted store, opened with
// passphrase (which it does not keep), until Lock or the next UnlockVault.
// Call it when the agent's unlock window opens; it costs one more key
// derivation than unlocking the keys alone.
func (c *Cargo) UnlockVault(v *vault.Vault, passphrase []byte) error {
	ts, err := v.OpenTokens(passphrase)
	if err != nil {
		return err
	}
	c.vaultMu.Lock()
	old := c.vaultTokens
	c.vaultTokens = ts
	c.SetTokens(NewVaultStore(ts))
	c.vaultMu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Lock wipes the vault's data keys that UnlockVault opened, if any, and
// drops every read grant: until the next UnlockVault, requests that need a
// token fail saying vigil is locked. Call it when the unlock window ends.
func (c *Cargo) Lock() {
	c.vaultMu.Lock()
	old := c.vaultTokens
	c.vaultTokens = nil
	c.SetTokens(nil)
	c.vaultMu.Unlock()
	if old != nil {
		old.Close()
	}
}
