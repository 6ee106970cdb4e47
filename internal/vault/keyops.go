package vault

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-agent/vigil/internal/secmem"
)

// Unlock derives the passphrase's key once and decrypts every stored key,
// oldest first. A file that cannot be read, parsed or decrypted is reported
// as a Problem naming it, and the other keys still load. The error is for the
// store as a whole: ErrBadPassphrase, ErrNotInitialized, an insecure
// directory or header. The keys belong to the caller (see UnlockedKey.Wipe).
func (v *Vault) Unlock(passphrase []byte) ([]UnlockedKey, []Problem, error) {
	unlock, err := v.readLock()
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	h, err := v.readHeader()
	if err != nil {
		return nil, nil, err
	}
	u, err := v.open(h, passphrase)
	if err != nil {
		return nil, nil, err
	}
	defer u.free()
	names, err := keyNames(v.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("vault: %w", err)
	}
	used, problems := v.lastUsed()
	var keys []UnlockedKey
	for _, name := range names {
		k, err := v.readKey(name)
		if err != nil {
			problems = append(problems, Problem{Path: v.path(name), Err: err})
			continue
		}
		priv, err := v.openKey(k, u.ring)
		if err != nil {
			problems = append(problems, Problem{Path: v.path(name), Err: err})
			continue
		}
		e := v.entry(name, k)
		e.LastUsed = used[e.Fingerprint]
		keys = append(keys, UnlockedKey{Entry: e, Private: priv})
	}
	sortUnlocked(keys)
	return keys, problems, nil
}

func sortUnlocked(keys []UnlockedKey) {
	es := make([]Entry, len(keys))
	byFP := make(map[string]UnlockedKey, len(keys))
	for i, k := range keys {
		es[i] = k.Entry
		byFP[k.Fingerprint] = k
	}
	sortEntries(es)
	for i, e := range es {
		keys[i] = byFP[e.Fingerprint]
	}
}

// openDER decrypts k's private key (PKCS#8 DER) into a locked buffer the
// caller frees.
func (v *Vault) openDER(k *keyFile, r *ring) (*secmem.Buffer, error) {
	dek := r.find(k.kid[:])
	if dek == nil {
		return nil, corruptf("sealed under store key %x, which this store does not hold (copied from another store?)", k.kid)
	}
	der := v.secret(plaintextLen(k.sealed))
	if err := openTo(der.Bytes(), dek, k.sealed, k.clear()); err != nil {
		der.Free()
		return nil, corruptf("the sealed key or its public part was altered or damaged")
	}
	return der, nil
}

// openKey decrypts and parses k's private key and checks it against the
// public key in the file.
func (v *Vault) openKey(k *keyFile, r *ring) (crypto.PrivateKey, error) {
	der, err := v.openDER(k, r)
	if err != nil {
		return nil, err
	}
	// The DER is wiped on return; x509 builds the key's big.Ints (or, for
	// Ed25519, a new slice from the seed) on the heap, and those are what
	// the caller gets.
	defer der.Free()
	priv, err := x509.ParsePKCS8PrivateKey(der.Bytes())
	if err != nil {
		return nil, corruptf("sealed key does not parse: %v", err)
	}
	priv, pub, err := normalise(priv)
	if err != nil {
		wipeKey(priv)
		return nil, corruptf("%v", err)
	}
	if string(pub.Marshal()) != string(k.pub.Marshal()) {
		wipeKey(priv)
		return nil, corruptf("private key does not match the public key")
	}
	return priv, nil
}

// Generate creates a key of type t, stores it with comment, and returns its
// entry. The passphrase is checked before the key is made.
func (v *Vault) Generate(passphrase []byte, t KeyType, comment string) (Entry, error) {
	if _, err := ParseKeyType(string(t)); err != nil {
		return Entry{}, err
	}
	return v.add(passphrase, comment, func() (crypto.PrivateKey, error) { return generate(t) }, true)
}

// CheckNewComment tells, without a passphrase, whether a new key may have
// comment: it is valid, and no stored key has it already (ErrCommentTaken),
// since remove, export-public and hosts find keys by comment and could not
// choose between two. An empty comment names no key and is not checked for
// uniqueness. Generate and Import check again under the write lock; this
// lets a caller refuse before it asks for the passphrase.
func (v *Vault) CheckNewComment(comment string) error {
	if err := CheckComment(comment); err != nil {
		return err
	}
	if comment == "" {
		return nil
	}
	entries, _, err := v.List()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Comment == comment {
			return fmt.Errorf("%w: key %s has the comment %q", ErrCommentTaken, e.Fingerprint, comment)
		}
	}
	return nil
}

// CheckComment refuses a comment no key may have (control characters,
// invalid UTF-8, too long), without opening a store.
func CheckComment(comment string) error {
	if err := checkComment(comment); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	return nil
}

// Add stores priv (ed25519.PrivateKey or *ed25519.PrivateKey,
// *ecdsa.PrivateKey, *rsa.PrivateKey of MinRSABits..MaxRSABits) with
// comment. The key stays the caller's: Add does not wipe it.
func (v *Vault) Add(passphrase []byte, priv crypto.PrivateKey, comment string) (Entry, error) {
	return v.add(passphrase, comment, func() (crypto.PrivateKey, error) { return priv, nil }, false)
}

// ImportOptions are the optional parts of an import.
type ImportOptions struct {
	// Comment is stored with the key. Vault cannot read the comment inside
	// an encrypted OpenSSH key file (x/crypto does not return it), so the
	// CLI should pass the one in the .pub file beside it, or the file name.
	Comment string
	// Passphrase is called, only if the file is encrypted, for its
	// passphrase. Import wipes the returned slice after use. An error it
	// returns is returned by Import (wrapped). If Passphrase is nil, an
	// encrypted file fails with an error wrapping *ssh.PassphraseMissingError,
	// whose PublicKey says which key it is (for OpenSSH-format files).
	Passphrase func() ([]byte, error)
}

// Import parses a private key file (OpenSSH format, or the PEM formats
// x/crypto reads: PKCS#1, PKCS#8, SEC 1, encrypted or not) and stores the
// key. The key file's passphrase is asked before the store's passphrase is
// checked, and before the store is locked. file stays the caller's to wipe.
// A wrong key-file passphrase is ErrBadKeyPassphrase; a key already stored is
// ErrDuplicate; DSA, RSA under MinRSABits, security keys and certificates
// are ErrUnsupportedKey.
func (v *Vault) Import(passphrase, file []byte, opts ImportOptions) (Entry, error) {
	if err := v.CheckNewComment(opts.Comment); err != nil {
		return Entry{}, err
	}
	priv, err := parsePrivateKeyFile(file, opts.Passphrase)
	if err != nil {
		return Entry{}, err
	}
	return v.add(passphrase, opts.Comment, func() (crypto.PrivateKey, error) { return priv, nil }, true)
}

// parsePrivateKeyFile parses a key file with x/crypto. Where the plaintext
// goes that vault cannot wipe: encoding/pem decodes the base64 body into a
// slice that ssh keeps to itself, an encrypted OpenSSH key is decrypted in
// place in that slice, and the parsed key's big.Ints or Ed25519 bytes are
// built from it. All of these are left to the collector.
func parsePrivateKeyFile(file []byte, ask func() ([]byte, error)) (crypto.PrivateKey, error) {
	priv, err := ssh.ParseRawPrivateKey(file)
	if missing, ok := errors.AsType[*ssh.PassphraseMissingError](err); ok {
		if ask == nil {
			return nil, fmt.Errorf("vault: import: %w", missing)
		}
		pass, aerr := ask()
		if aerr != nil {
			return nil, fmt.Errorf("vault: import: %w", aerr)
		}
		priv, err = ssh.ParseRawPrivateKeyWithPassphrase(file, pass)
		secmem.Wipe(pass)
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, ErrBadKeyPassphrase
		}
	}
	if err != nil {
		// x/crypto's parse errors name formats, types and lengths, not key
		// material.
		return nil, fmt.Errorf("vault: import: %w", err)
	}
	priv, _, err = normalise(priv)
	if err != nil {
		wipeKey(priv)
		return nil, err
	}
	return priv, nil
}

// add stores the key that makeKey returns, under the write lock, after
// checking the passphrase. If owned, the key is vault's and is wiped after.
func (v *Vault) add(passphrase []byte, comment string, makeKey func() (crypto.PrivateKey, error), owned bool) (Entry, error) {
	if err := checkComment(comment); err != nil {
		return Entry{}, fmt.Errorf("vault: %w", err)
	}
	unlock, err := v.writeLock()
	if err != nil {
		return Entry{}, err
	}
	defer unlock()
	if err := v.CheckNewComment(comment); err != nil { // again, under the lock
		return Entry{}, err
	}
	h, err := v.readHeader()
	if err != nil {
		return Entry{}, err
	}
	u, err := v.open(h, passphrase)
	if err != nil {
		return Entry{}, err
	}
	defer u.free()

	priv, err := makeKey()
	if owned {
		defer wipeKey(priv)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("vault: %w", err)
	}
	priv, pub, err := normalise(priv)
	if err != nil {
		return Entry{}, err
	}
	name := fileName(pub)
	if _, err := os.Lstat(v.path(name)); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			return Entry{}, fmt.Errorf("%w: %s", ErrDuplicate, ssh.FingerprintSHA256(pub))
		}
		return Entry{}, fmt.Errorf("vault: %w", err)
	}
	// x509 marshals through intermediate buffers that it does not expose
	// (for RSA, a PKCS#1 DER inside the PKCS#8 one; for Ed25519, the
	// seed's OCTET STRING): those copies are left to the collector. The
	// result is ours, and wiped.
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Entry{}, fmt.Errorf("vault: %w", err)
	}
	defer secmem.Wipe(der)
	k := &keyFile{pub: pub, comment: comment, created: v.now().UTC().Truncate(time.Second)}
	kid, dek := u.ring.newest()
	k.kid = kid
	if k.sealed, err = seal(dek, der, k.clear()); err != nil {
		return Entry{}, fmt.Errorf("vault: %w", err)
	}
	if err := v.write(name, k.marshal()); err != nil {
		return Entry{}, err
	}
	return v.entry(name, k), nil
}

// ChangePassphrase re-encrypts every key and every token under a new store
// key protected by newPassphrase, in steps such that a crash at any point
// leaves every key and token loadable (see the package documentation).
// oldPassphrase may be either passphrase of an interrupted change. It
// refuses to start, changing nothing, if any key or token file cannot be
// decrypted: the error lists them, and they must be repaired or removed
// first. The new slot uses the vault's KDF parameters, so this also upgrades
// them. Tokens handles opened before the change fail with ErrStale after it.
func (v *Vault) ChangePassphrase(oldPassphrase, newPassphrase []byte) error {
	unlock, err := v.writeLock()
	if err != nil {
		return err
	}
	defer unlock()
	h, err := v.readHeader()
	if err != nil {
		return err
	}
	u, err := v.open(h, oldPassphrase)
	if err != nil {
		return err
	}
	defer u.free()

	// Check that every key and token opens, and note the DEKs still in use.
	names, err := keyNames(v.dir)
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	tokens, err := tokenNames(v.dir)
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	var problems []error
	inUse := map[[kidSize]byte]bool{}
	for _, name := range names {
		k, err := v.readKey(name)
		if err == nil {
			var priv crypto.PrivateKey
			if priv, err = v.openKey(k, u.ring); err == nil {
				wipeKey(priv)
				inUse[k.kid] = true
			}
		}
		if err != nil {
			problems = append(problems, Problem{Path: v.path(name), Err: err})
		}
	}
	for _, name := range tokens {
		k, err := v.readToken(name)
		if err == nil {
			var plain *secmem.Buffer
			if plain, err = v.openTokenFile(k, u.ring); err == nil {
				plain.Free()
				inUse[k.kid] = true
			}
		}
		if err != nil {
			problems = append(problems, Problem{Path: v.path(name), Err: err})
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("vault: passphrase not changed: %d key or token files cannot be decrypted; repair or remove them first:\n%w",
			len(problems), errors.Join(problems...))
	}

	// The new ring: the DEKs in use, then a new one.
	keptBuf := v.secret(u.ring.len() * ringEntrySize)
	defer keptBuf.Free()
	n := 0
	for i := range u.ring.len() {
		if id, _ := u.ring.entry(i); inUse[[kidSize]byte(id)] {
			copy(keptBuf.Bytes()[n:], u.ring.buf.Bytes()[i*ringEntrySize:(i+1)*ringEntrySize])
			n += ringEntrySize
		}
	}
	both, err := v.newDEK(keptBuf.Bytes()[:n])
	if err != nil {
		return err
	}
	defer both.Free()
	newRing := &ring{buf: both}
	newKID, newDEK := newRing.newest()

	// Step 1: a header both passphrases open, each to every DEK.
	oldSlot := u.slot
	if err := sealSlot(&oldSlot, u.kek.Bytes(), both.Bytes()); err != nil {
		return err
	}
	newSlot, newKEK, err := v.newSlot(newPassphrase)
	if err != nil {
		return err
	}
	defer newKEK.Free()
	if err := sealSlot(&newSlot, newKEK.Bytes(), both.Bytes()); err != nil {
		return err
	}
	if err := v.write(headerName, (&header{slots: []slot{oldSlot, newSlot}}).marshal()); err != nil {
		return err
	}

	if err := v.crashPoint(0); err != nil {
		return err
	}

	// Step 2: every key, then every token, under the new DEK, one atomic
	// rename each.
	for i, name := range names {
		if err := v.reseal(name, newRing, newKID, newDEK); err != nil {
			return err
		}
		if err := v.crashPoint(i + 1); err != nil {
			return err
		}
	}
	for i, name := range tokens {
		if err := v.resealToken(name, newRing, newKID, newDEK); err != nil {
			return err
		}
		if err := v.crashPoint(len(names) + i + 1); err != nil {
			return err
		}
	}

	// Step 3: only the new passphrase, only the new DEK.
	last := newSlot
	if err := sealSlot(&last, newKEK.Bytes(), both.Bytes()[len(both.Bytes())-ringEntrySize:]); err != nil {
		return err
	}
	return v.write(headerName, (&header{slots: []slot{last}}).marshal())
}

// crashPoint lets a test stop ChangePassphrase after n rewritten files.
func (v *Vault) crashPoint(n int) error {
	if v.testOnlyAfterRewrite == nil {
		return nil
	}
	return v.testOnlyAfterRewrite(n)
}

// reseal re-encrypts one key file under dek, whose ID is kid.
func (v *Vault) reseal(name string, r *ring, kid [kidSize]byte, dek []byte) error {
	k, err := v.readKey(name)
	if err != nil {
		return Problem{Path: v.path(name), Err: err}
	}
	if k.kid == kid {
		return nil
	}
	der, err := v.openDER(k, r)
	if err != nil {
		return Problem{Path: v.path(name), Err: err}
	}
	defer der.Free()
	k.kid = kid
	if k.sealed, err = seal(dek, der.Bytes(), k.clear()); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	return v.write(name, k.marshal())
}

// resealToken re-encrypts one token file under dek, whose ID is kid. The
// label and creation time stay as they are.
func (v *Vault) resealToken(name string, r *ring, kid [kidSize]byte, dek []byte) error {
	k, err := v.readToken(name)
	if err != nil {
		return Problem{Path: v.path(name), Err: err}
	}
	if k.kid == kid {
		return nil
	}
	plain, err := v.openTokenFile(k, r)
	if err != nil {
		return Problem{Path: v.path(name), Err: err}
	}
	defer plain.Free()
	k.kid = kid
	if k.sealed, err = seal(dek, plain.Bytes(), k.clear()); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	return v.write(name, k.marshal())
}
