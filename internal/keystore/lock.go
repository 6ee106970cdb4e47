package keystore

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/ssh"

	"github.com/vigil-agent/vigil/internal/secmem"
)

// argon2id parameters: OWASP's second recommended set (19 MiB, t=2, p=1),
// about 30 ms here. Memory-hard enough that a stolen core image cannot be
// brute-forced cheaply, light enough not to bloat the agent's RSS.
const (
	kdfTime    = 2
	kdfMemory  = 19 * 1024
	kdfThreads = 1
	saltSize   = 16
)

// kdfCost is the argon2id (time, memory KiB) in use; tests lower it.
var kdfCost = [2]uint32{kdfTime, kdfMemory}

// checkPlaintext is sealed at lock time so that a wrong passphrase is
// detected even when there are no keys to decrypt.
var checkPlaintext = []byte("vigil lock check v1")

// sealer is what a locked store keeps: the salt of the passphrase's key and a
// sealed known value to check the passphrase against.
type sealer struct {
	salt  []byte
	check []byte
}

// deriveAEAD turns a passphrase into an XChaCha20-Poly1305 AEAD. The derived
// key lives in locked memory and is wiped when the returned func is called.
func (s *Store) deriveAEAD(passphrase, salt []byte) (cipher.AEAD, func(), error) {
	raw := argon2.IDKey(passphrase, salt, kdfCost[0], kdfCost[1], kdfThreads, chacha20poly1305.KeySize)
	secmem.ReleaseFreed() // argon2's blocks are garbage now
	key, err := secmem.Copy(raw)
	secmem.Wipe(raw)
	if err != nil {
		s.warnMem.Do(func() {
			s.log.Warn("secret memory could not be locked against swapping; raise RLIMIT_MEMLOCK (ulimit -l)", "err", err)
		})
	}
	aead, err := chacha20poly1305.NewX(key.Bytes())
	if err != nil {
		key.Free()
		return nil, nil, fmt.Errorf("keystore: %w", err)
	}
	// The AEAD keeps its own copy of the key schedule; it is dropped with
	// the AEAD once the lock or unlock is done.
	return aead, key.Free, nil
}

func seal(aead cipher.AEAD, plaintext, ad []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plaintext, ad), nil
}

func open(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrBadPassphrase
	}
	out, err := aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrBadPassphrase
	}
	return out, nil
}

// Lock seals every private key under passphrase and wipes the plaintext.
// Public keys stay listed. Signing and adding are refused until Unlock.
func (s *Store) Lock(passphrase []byte) error {
	if s.Locked() {
		return ErrLocked
	}
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	// Derive outside the mutex: it takes tens of milliseconds, and other
	// clients keep being served meanwhile.
	aead, done, err := s.deriveAEAD(passphrase, salt)
	if err != nil {
		return err
	}
	defer done()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked {
		return ErrLocked
	}
	sealed := make([][]byte, len(s.keys))
	for i, e := range s.keys {
		der, err := marshalPrivate(e.priv)
		if err != nil {
			return fmt.Errorf("keystore: lock %s: %w", e.Fingerprint, err)
		}
		sealed[i], err = seal(aead, der, []byte(e.blob))
		secmem.Wipe(der)
		if err != nil {
			return fmt.Errorf("keystore: lock: %w", err)
		}
	}
	check, err := seal(aead, checkPlaintext, salt)
	if err != nil {
		return fmt.Errorf("keystore: lock: %w", err)
	}
	// Only now, with everything sealed, drop the plaintext: a failure above
	// leaves the store unlocked and intact rather than half locked.
	for i, e := range s.keys {
		e.wipe()
		e.sealed = sealed[i]
	}
	s.lock = &sealer{salt: salt, check: check}
	s.locked = true
	return nil
}

// Unlock restores the keys sealed by Lock. A wrong passphrase returns
// ErrBadPassphrase and changes nothing.
func (s *Store) Unlock(passphrase []byte) error {
	s.mu.RLock()
	locked, l := s.locked, s.lock
	s.mu.RUnlock()
	if !locked {
		return ErrNotLocked
	}
	aead, done, err := s.deriveAEAD(passphrase, l.salt)
	if err != nil {
		return err
	}
	defer done()
	check, err := open(aead, l.check, l.salt)
	if err != nil || subtle.ConstantTimeCompare(check, checkPlaintext) != 1 {
		return ErrBadPassphrase
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.locked || s.lock != l {
		// Someone else unlocked (and maybe re-locked) meanwhile.
		return ErrNotLocked
	}
	restored := make([]*entry, len(s.keys))
	for i, e := range s.keys {
		r, err := restore(aead, e)
		if err != nil {
			for _, done := range restored[:i] {
				done.wipe()
			}
			return err
		}
		restored[i] = r
	}
	for i, e := range s.keys {
		secmem.Wipe(e.sealed)
		e.sealed = nil
		e.priv, e.signer = restored[i].priv, restored[i].signer
	}
	s.lock = nil
	s.locked = false
	return nil
}

// restore decrypts one sealed key into a new entry holding only the private
// parts.
func restore(aead cipher.AEAD, e *entry) (*entry, error) {
	der, err := open(aead, e.sealed, []byte(e.blob))
	if err != nil {
		return nil, fmt.Errorf("keystore: unlock %s: %w", e.Fingerprint, err)
	}
	priv, err := parsePrivate(der)
	secmem.Wipe(der)
	if err != nil {
		return nil, fmt.Errorf("keystore: unlock %s: %w", e.Fingerprint, err)
	}
	if priv, err = normalise(priv); err != nil {
		return nil, err
	}
	r := &entry{priv: priv}
	cert, _ := e.Public.(*ssh.Certificate)
	if err := r.makeSigner(cert); err != nil {
		r.wipe()
		return nil, err
	}
	return r, nil
}
