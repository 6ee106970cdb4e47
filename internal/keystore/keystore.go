// Package keystore holds the private keys an agent signs with, in memory.
//
// Keys are either unlocked (ready to sign) or, after Lock, sealed: every
// private key is serialised, encrypted under a key derived from the lock
// passphrase with argon2id, and the plaintext dropped and wiped, so a locked
// agent has nothing to give away even to a reader of its memory. Public
// halves stay readable, so clients can still choose a key while locked.
//
// The store never holds its mutex while anything slow happens outside it: a
// caller looks a key up, decides (asks a person) with no lock held, then
// signs by key ID, and the store re-checks that the key is still there.
// Signatures take only a read lock, so several proceed on several cores.
package keystore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-agent/vigil/internal/destrict"
	"github.com/vigil-agent/vigil/internal/secmem"
)

// Errors callers branch on.
var (
	ErrLocked        = errors.New("keystore: locked")
	ErrNotLocked     = errors.New("keystore: not locked")
	ErrNotFound      = errors.New("keystore: key not found")
	ErrBadPassphrase = errors.New("keystore: wrong passphrase")
)

// MinRSABits is the smallest RSA modulus accepted.
const MinRSABits = 2048

// Constraints are the limits a key was added with.
type Constraints struct {
	Confirm  bool          // ssh-add -c: kept and shown; vigil asks for every signature anyway
	Lifetime time.Duration // ssh-add -t: zero means no limit
	Stored   bool          // loaded from vigil's key store, not added by ssh-add
	// Dest are ssh-add -h destination constraints: where the key may be
	// used (see package destrict). Empty: anywhere.
	Dest []destrict.Constraint
}

// Key is the public view of a stored key. It holds no secret and is safe to
// copy and keep.
type Key struct {
	ID          uint64        // unique per add: a re-added key gets a new ID
	Public      ssh.PublicKey // what is listed: the certificate, if there is one
	Comment     string
	Fingerprint string // SHA256 fingerprint of the key (of the certified key for a certificate)
	Confirm     bool
	Stored      bool // from vigil's key store: listed again after a wipe
	Dest        []destrict.Constraint
	Expires     time.Time // zero: never
	Added       time.Time
}

// Certificate reports whether the key is listed as an OpenSSH certificate.
func (k Key) Certificate() bool {
	_, ok := k.Public.(*ssh.Certificate)
	return ok
}

// Describe returns a short type description such as "ED25519" or
// "RSA-3072-CERT", in the style of ssh-add -l.
func (k Key) Describe() string { return Describe(k.Public) }

// Describe is Key.Describe for a public key that is not (yet) in the
// keystore, such as one in vigil's locked key store, so that prompts name
// a key's type the same way whether it is loaded or not.
func Describe(pub ssh.PublicKey) string {
	suffix := ""
	if c, ok := pub.(*ssh.Certificate); ok {
		pub, suffix = c.Key, "-CERT"
	}
	cp, ok := pub.(ssh.CryptoPublicKey)
	if !ok {
		return pub.Type() + suffix
	}
	switch p := cp.CryptoPublicKey().(type) {
	case ed25519.PublicKey:
		return "ED25519" + suffix
	case *ecdsa.PublicKey:
		return fmt.Sprintf("ECDSA-%d%s", p.Curve.Params().BitSize, suffix)
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d%s", p.N.BitLen(), suffix)
	}
	return pub.Type() + suffix
}

type entry struct {
	Key
	blob   string     // Public.Marshal(), the lookup key
	signer ssh.Signer // nil while locked
	priv   crypto.PrivateKey
	sealed []byte // encrypted PKCS#8 while locked
	timer  *time.Timer
}

// Store is a set of keys. The zero value is not usable; call New.
type Store struct {
	log *slog.Logger
	now func() time.Time

	mu     sync.RWMutex
	keys   []*entry // in the order they were added, as ssh-agent lists them
	byBlob map[string]*entry
	nextID uint64
	locked bool
	lock   *sealer
	// onExpire hears of each key whose lifetime ended; see OnExpire.
	onExpire func(Key)

	warnMem sync.Once
}

// New returns an empty, unlocked store. log receives warnings (never secrets).
func New(log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{log: log, now: time.Now, byBlob: map[string]*entry{}}
}

// Add stores priv (with cert, if not nil, as its listed public key). Adding a
// key that is already present replaces its comment and constraints, as
// ssh-agent does.
func (s *Store) Add(priv crypto.PrivateKey, cert *ssh.Certificate, comment string, c Constraints) (Key, error) {
	priv, err := normalise(priv)
	if err != nil {
		return Key{}, err
	}
	// The key stays on the Go heap: crypto/ed25519 caches expanded keys by
	// weak pointer, which cannot point into mmap'd memory, and RSA and
	// ECDSA keys are big.Ints. See package secmem for what that means.
	e := &entry{priv: priv}
	if err := e.makeSigner(cert); err != nil {
		e.wipe()
		return Key{}, err
	}
	if cert != nil {
		e.Public = cert
		e.Fingerprint = ssh.FingerprintSHA256(cert.Key)
	} else {
		e.Public = e.signer.PublicKey()
		e.Fingerprint = ssh.FingerprintSHA256(e.Public)
	}
	e.blob = string(e.Public.Marshal())
	e.Comment, e.Confirm, e.Stored, e.Dest = comment, c.Confirm, c.Stored, c.Dest

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked {
		e.wipe()
		return Key{}, ErrLocked
	}
	now := s.now()
	s.nextID++
	e.ID, e.Added = s.nextID, now
	if c.Lifetime > 0 {
		e.Expires = now.Add(c.Lifetime)
		id := e.ID
		e.timer = time.AfterFunc(c.Lifetime, func() { s.expire(id) })
	}
	if old := s.byBlob[e.blob]; old != nil {
		s.removeLocked(old)
	}
	s.keys = append(s.keys, e)
	s.byBlob[e.blob] = e
	return e.Key, nil
}

// normalise checks the key type and size and returns the key in the form the
// rest of the store expects.
func normalise(priv crypto.PrivateKey) (crypto.PrivateKey, error) {
	switch k := priv.(type) {
	case *ed25519.PrivateKey:
		// x/crypto's agent parser hands Ed25519 keys over as a pointer.
		return normalise(*k)
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("keystore: ed25519 key of %d bytes", len(k))
		}
		return k, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return k, nil
		}
		return nil, fmt.Errorf("keystore: unsupported ECDSA curve %s", k.Curve.Params().Name)
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < MinRSABits {
			return nil, fmt.Errorf("keystore: RSA key of %d bits refused: at least %d required", bits, MinRSABits)
		}
		return k, nil
	}
	return nil, fmt.Errorf("keystore: unsupported key type %T", priv)
}

func (e *entry) makeSigner(cert *ssh.Certificate) error {
	signer, err := ssh.NewSignerFromKey(e.priv)
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if cert != nil {
		if string(cert.Key.Marshal()) != string(signer.PublicKey().Marshal()) {
			return errors.New("keystore: certificate does not match the private key")
		}
		if signer, err = ssh.NewCertSigner(cert, signer); err != nil {
			return fmt.Errorf("keystore: %w", err)
		}
	}
	e.signer = signer
	return nil
}

// List returns the keys that have not expired, in the order they were added.
func (s *Store) List() []Key {
	s.mu.RLock()
	defer s.mu.RUnlock()
	now := s.now()
	out := make([]Key, 0, len(s.keys))
	for _, e := range s.keys {
		if e.live(now) {
			out = append(out, e.Key)
		}
	}
	return out
}

// Lookup finds the key whose listed public blob is blob.
func (s *Store) Lookup(blob []byte) (Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.byBlob[string(blob)]
	if e == nil || !e.live(s.now()) {
		return Key{}, ErrNotFound
	}
	return e.Key, nil
}

func (e *entry) live(now time.Time) bool {
	return e.Expires.IsZero() || now.Before(e.Expires)
}

// Locked reports whether the store is locked.
func (s *Store) Locked() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.locked
}

// Signature flags of the agent protocol (draft-miller-ssh-agent, 4.5.1).
const (
	FlagRSASHA256 = 2
	FlagRSASHA512 = 4
)

// Sign signs data with the key that had ID id when it was looked up. The key
// must still be present, unexpired and unlocked: an approval for a key that
// was removed, replaced or locked in the meantime signs nothing.
func (s *Store) Sign(id uint64, data []byte, flags uint32) (*ssh.Signature, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.locked {
		return nil, ErrLocked
	}
	var e *entry
	for _, k := range s.keys {
		if k.ID == id {
			e = k
			break
		}
	}
	if e == nil || !e.live(s.now()) {
		return nil, ErrNotFound
	}
	return sign(e.signer, data, flags)
}

func sign(signer ssh.Signer, data []byte, flags uint32) (*ssh.Signature, error) {
	if flags&^(FlagRSASHA256|FlagRSASHA512) != 0 {
		return nil, fmt.Errorf("keystore: unsupported signature flags %#x", flags)
	}
	keyType := signer.PublicKey().Type()
	if keyType != ssh.KeyAlgoRSA && keyType != ssh.CertAlgoRSAv01 || flags == 0 {
		// The SHA-2 flags only choose among RSA algorithms; ssh-agent
		// ignores them for other key types, and so do we.
		return signer.Sign(rand.Reader, data)
	}
	alg := ssh.KeyAlgoRSASHA256
	if flags&FlagRSASHA512 != 0 {
		alg = ssh.KeyAlgoRSASHA512
	}
	as, ok := signer.(ssh.AlgorithmSigner)
	if !ok {
		return nil, fmt.Errorf("keystore: %s signer cannot choose an algorithm", keyType)
	}
	return as.SignWithAlgorithm(rand.Reader, data, alg)
}

// Remove deletes the key listed with public blob blob.
func (s *Store) Remove(blob []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked {
		return ErrLocked
	}
	e := s.byBlob[string(blob)]
	if e == nil {
		return ErrNotFound
	}
	s.removeLocked(e)
	return nil
}

// RemoveAll deletes every key. It is refused while locked.
func (s *Store) RemoveAll() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked {
		return ErrLocked
	}
	s.removeAllLocked()
	return nil
}

// Wipe deletes every key, locked or not, and forgets the lock: for shutdown.
func (s *Store) Wipe() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeAllLocked()
	s.locked = false
	s.lock = nil
}

func (s *Store) removeAllLocked() {
	for _, e := range slices.Clone(s.keys) {
		s.removeLocked(e)
	}
}

// OnExpire sets f to be called with each key whose lifetime (ssh-add -t)
// ends, once the key is removed, so that the owner of the store can record
// it. f runs on the expiry timer's goroutine, with no lock of the store
// held; set it before adding keys.
func (s *Store) OnExpire(f func(Key)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onExpire = f
}

func (s *Store) expire(id uint64) {
	s.mu.Lock()
	notify := s.onExpire
	var gone *Key
	for _, e := range s.keys {
		if e.ID == id {
			s.log.Info("key lifetime ended", "fp", e.Fingerprint)
			k := e.Key
			gone = &k
			s.removeLocked(e)
			break
		}
	}
	s.mu.Unlock()
	if gone != nil && notify != nil {
		notify(*gone)
	}
}

func (s *Store) removeLocked(e *entry) {
	if e.timer != nil {
		e.timer.Stop()
	}
	s.keys = slices.DeleteFunc(s.keys, func(k *entry) bool { return k == e })
	if s.byBlob[e.blob] == e {
		delete(s.byBlob, e.blob)
	}
	e.wipe()
}

// wipe drops the private key, overwriting what can be overwritten.
func (e *entry) wipe() {
	wipeKey(e.priv)
	secmem.Wipe(e.sealed)
	e.priv, e.signer, e.sealed = nil, nil, nil
}

// wipeKey overwrites the exported parts of a heap-allocated private key.
// The crypto packages keep internal copies (expanded Ed25519 keys, RSA and
// ECDSA precomputations) that cannot be reached and go when the collector
// frees them; see package secmem for that limit. ECDSA's scalar is left:
// writing to it is deprecated and reaches none of those copies.
func wipeKey(priv crypto.PrivateKey) {
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		secmem.Wipe(k)
	case *rsa.PrivateKey:
		k.D.SetInt64(0)
		for _, p := range k.Primes {
			p.SetInt64(0)
		}
	}
}

// marshalPrivate serialises a private key as PKCS#8 DER: one format for
// every key type, with no PEM/base64 copy lying around on the heap.
func marshalPrivate(priv crypto.PrivateKey) ([]byte, error) {
	return x509.MarshalPKCS8PrivateKey(priv)
}

func parsePrivate(der []byte) (crypto.PrivateKey, error) {
	return x509.ParsePKCS8PrivateKey(der)
}
