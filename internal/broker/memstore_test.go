package broker

import (
	"errors"
	"sync"

	"github.com/vigil-agent/vigil/internal/credential"
)

// MemoryStore is a TokenStore in this process's memory only, for tests: vigil
// itself keeps tokens in the encrypted store (VaultStore) and nowhere else.
// The zero value is ready to use.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string]credential.Token
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Get returns the token for indexURL.
func (s *MemoryStore) Get(indexURL string) (credential.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.m[indexURL]
	if !ok {
		return credential.Token{}, ErrNoToken
	}
	return tok, nil
}

// Put stores tok for indexURL, replacing any token there.
func (s *MemoryStore) Put(indexURL string, tok credential.Token) error {
	if tok.IsZero() {
		return errors.New("empty token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]credential.Token{}
	}
	s.m[indexURL] = tok
	return nil
}

// Remove forgets the token for indexURL.
func (s *MemoryStore) Remove(indexURL string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[indexURL]; !ok {
		return ErrNoToken
	}
	delete(s.m, indexURL)
	return nil
}
