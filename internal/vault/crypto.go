package vault

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/vigil-agent/vigil/internal/secmem"
)

// errOpen is what a failed AEAD open returns inside the package. Callers turn
// it into ErrBadPassphrase (a slot) or ErrCorrupt (a key file).
var errOpen = errors.New("message authentication failed")

// secret returns a buffer of n bytes in locked memory, warning once through
// the vault's logger if the memory could not be locked.
func (v *Vault) secret(n int) *secmem.Buffer {
	b, err := secmem.New(n)
	if err != nil {
		v.warnMem.Do(func() {
			v.log.Warn("secret memory could not be locked against swapping; raise RLIMIT_MEMLOCK (ulimit -l)", "err", err)
		})
	}
	return b
}

// deriveKEK runs argon2id over the passphrase. The result is in locked
// memory; argon2's own working memory (MemoryKiB of blocks computed from the
// passphrase) and its output slice are on the Go heap: the output is wiped
// here, the blocks are left to the collector, as x/crypto gives no way to
// reach them, and their memory goes back to the system at once.
func (v *Vault) deriveKEK(passphrase []byte, s *slot) *secmem.Buffer {
	raw := argon2.IDKey(passphrase, s.salt, s.kdf.Time, s.kdf.MemoryKiB, s.kdf.Threads, chacha20poly1305.KeySize)
	secmem.ReleaseFreed()
	kek := v.secret(len(raw))
	copy(kek.Bytes(), raw)
	secmem.Wipe(raw)
	return kek
}

// newAEAD returns XChaCha20-Poly1305 under key. The AEAD keeps a copy of the
// key in a value on the heap that cannot be wiped; callers drop it as soon as
// they are done.
func newAEAD(key []byte) cipher.AEAD {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		// Only a key of the wrong length fails, and every caller passes
		// chacha20poly1305.KeySize bytes.
		panic("vault: " + err.Error())
	}
	return aead
}

// seal encrypts plaintext under key with a random nonce, returning nonce ||
// ciphertext.
func seal(key, plaintext, ad []byte) ([]byte, error) {
	aead := newAEAD(key)
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plaintext, ad), nil
}

// openTo decrypts sealed (nonce || ciphertext) under key into dst, which must
// be exactly as long as the plaintext, so that the plaintext is written
// nowhere else.
func openTo(dst, key, sealed, ad []byte) error {
	aead := newAEAD(key)
	n := aead.NonceSize()
	if len(sealed) < n+aead.Overhead() || len(dst) != len(sealed)-n-aead.Overhead() {
		return errOpen
	}
	out, err := aead.Open(dst[:0], sealed[:n], sealed[n:], ad)
	if err != nil {
		return errOpen
	}
	if len(out) > 0 && &out[0] != &dst[0] {
		panic("vault: AEAD output moved") // cannot happen: dst has the capacity
	}
	return nil
}

// plaintextLen is the length of what sealed decrypts to.
func plaintextLen(sealed []byte) int {
	return max(0, len(sealed)-chacha20poly1305.NonceSizeX-chacha20poly1305.Overhead)
}

// ring is the store's DEKs, in locked memory: entries of an 8-byte ID and a
// 32-byte key, the newest last.
type ring struct {
	buf *secmem.Buffer
}

func (r *ring) len() int { return len(r.buf.Bytes()) / ringEntrySize }

func (r *ring) entry(i int) (kid, key []byte) {
	e := r.buf.Bytes()[i*ringEntrySize : (i+1)*ringEntrySize]
	return e[:kidSize], e[kidSize:]
}

// find returns the DEK with ID kid, or nil.
func (r *ring) find(kid []byte) []byte {
	for i := range r.len() {
		if id, key := r.entry(i); bytes.Equal(id, kid) {
			return key
		}
	}
	return nil
}

// newest returns the DEK new keys are sealed under.
func (r *ring) newest() (kid [kidSize]byte, key []byte) {
	id, key := r.entry(r.len() - 1)
	copy(kid[:], id)
	return kid, key
}

func (r *ring) free() {
	if r != nil {
		r.buf.Free()
	}
}

// unlocked is a header opened with a passphrase: the DEKs, and the slot and
// KEK that opened them (ChangePassphrase reseals that slot).
type unlocked struct {
	ring *ring
	slot slot
	kek  *secmem.Buffer
}

func (u *unlocked) free() {
	u.ring.free()
	u.kek.Free()
}

// open tries the passphrase on each slot of h, deriving once per slot (once,
// unless a passphrase change was interrupted). Any failure is
// ErrBadPassphrase: a damaged slot is indistinguishable from a wrong
// passphrase, and the error says nothing more.
func (v *Vault) open(h *header, passphrase []byte) (*unlocked, error) {
	for _, s := range h.slots {
		kek := v.deriveKEK(passphrase, &s)
		buf := v.secret(plaintextLen(s.sealed))
		if err := openTo(buf.Bytes(), kek.Bytes(), s.sealed, s.ad()); err != nil {
			buf.Free()
			kek.Free()
			continue
		}
		return &unlocked{ring: &ring{buf: buf}, slot: s, kek: kek}, nil
	}
	return nil, ErrBadPassphrase
}

// sealSlot seals the DEK entries in plain (a ring's bytes) into s under kek.
func sealSlot(s *slot, kek, plain []byte) error {
	sealed, err := seal(kek, plain, s.ad())
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	s.sealed = sealed
	return nil
}

// newSlot makes a slot for passphrase with fresh salt, returning it (not yet
// sealed) with its KEK.
func (v *Vault) newSlot(passphrase []byte) (slot, *secmem.Buffer, error) {
	s := slot{kdf: v.kdf, salt: make([]byte, saltSize)}
	if _, err := rand.Read(s.salt); err != nil {
		return slot{}, nil, fmt.Errorf("vault: %w", err)
	}
	return s, v.deriveKEK(passphrase, &s), nil
}

// newDEK appends a fresh random DEK with a fresh ID to the entries in plain,
// returning the result in a new locked buffer.
func (v *Vault) newDEK(plain []byte) (*secmem.Buffer, error) {
	if len(plain)/ringEntrySize >= maxDEKs {
		return nil, fmt.Errorf("vault: %d store keys in use, at most %d", len(plain)/ringEntrySize, maxDEKs)
	}
	buf := v.secret(len(plain) + ringEntrySize)
	copy(buf.Bytes(), plain)
	old := &ring{buf: buf}
	for {
		if _, err := rand.Read(buf.Bytes()[len(plain):]); err != nil {
			buf.Free()
			return nil, fmt.Errorf("vault: %w", err)
		}
		// A repeated 64-bit ID is all but impossible, and cheap to rule out.
		kid, _ := old.newest()
		unique := true
		for i := range old.len() - 1 {
			if id, _ := old.entry(i); bytes.Equal(id, kid[:]) {
				unique = false
			}
		}
		if unique {
			return buf, nil
		}
	}
}
