package vault

// Tokens: registry tokens and other secrets that are not keys, stored beside
// the keys and sealed the same way.
//
// A token file is text, five lines, each ending in "\n", in exactly the form
// vault writes:
//
//	vigil-vault-token v1
//	label cargo:sparse+https://example.org/index/
//	created 2026-10-20T10:11:12Z
//	kid 0123456789abcdef
//	sealed <base64: 24-byte nonce, then XChaCha20-Poly1305 of the token>
//
// It is named <base64url(SHA-256(label))>.token, and sealed under one of the
// store's DEKs with everything before "sealed" as associated data, so a file
// renamed or edited to answer for another label fails to open. The label is
// in clear (like a key's comment), so the tokens can be listed without the
// passphrase; it says which registry or host a token is for, never the token.
//
// Labels are the caller's namespace: vigil uses "cargo:" + cargo's index-url,
// and leaves "git:" for git's credentials.
//
// [Vault.ChangePassphrase] re-encrypts token files as it does key files, with
// the same crash safety; a Tokens handle opened before the change fails with
// ErrStale after it, and must be opened again with the new passphrase.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/secmem"
)

// Token errors callers branch on.
var (
	// ErrNoToken: nothing is stored under the label.
	ErrNoToken = errors.New("vault: no token stored")
	// ErrTokensClosed: the Tokens handle was closed (the agent locked).
	ErrTokensClosed = errors.New("vault: tokens are locked")
	// ErrStale: the store's header changed since the Tokens handle was
	// opened (its passphrase was changed): open it again.
	ErrStale = errors.New("vault: the store's passphrase changed since it was unlocked; unlock again")
)

const (
	tokenSuffix = ".token"
	tokenMagic  = "vigil-vault-token v1"
	maxLabel    = 1024
)

// MaxStoredToken bounds a stored token, so that its file (base64, with the
// label) stays under the store's file size limit. Registry tokens and
// PASETOs are a few hundred bytes.
const MaxStoredToken = 32 << 10

var tokenFields = []string{"", "label ", "created ", "kid ", "sealed "}

// tokenFile is a parsed token file.
type tokenFile struct {
	label   string
	created time.Time // UTC, whole seconds
	kid     [kidSize]byte
	sealed  []byte // nonce || ciphertext
}

// clear is the file up to "sealed", and the associated data.
func (k *tokenFile) clear() []byte {
	var b bytes.Buffer
	b.WriteString(tokenMagic + "\n")
	b.WriteString("label " + k.label + "\n")
	b.WriteString("created " + k.created.UTC().Format(time.RFC3339) + "\n")
	b.WriteString("kid " + hex.EncodeToString(k.kid[:]) + "\n")
	return b.Bytes()
}

func (k *tokenFile) marshal() []byte {
	b := k.clear()
	b = append(b, "sealed "...)
	b = b64.AppendEncode(b, k.sealed)
	return append(b, '\n')
}

// parseTokenFile parses a token file strictly: only the bytes marshal writes.
func parseTokenFile(data []byte) (*tokenFile, error) {
	if len(data) > maxFileSize {
		return nil, corruptf("%d bytes, more than a token file can be", len(data))
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, corruptf("truncated (no final newline)")
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	if lines[0] != tokenMagic {
		return nil, corruptf("not a vigil token file (first line is not %q)", tokenMagic)
	}
	if len(lines) != len(tokenFields) {
		return nil, corruptf("%d lines, want %d", len(lines), len(tokenFields))
	}
	for i, f := range tokenFields[1:] {
		if !strings.HasPrefix(lines[i+1], f) {
			return nil, corruptf("line %d does not start with %q", i+2, f)
		}
		lines[i+1] = lines[i+1][len(f):]
	}
	k := &tokenFile{label: lines[1]}
	if err := checkLabel(k.label); err != nil {
		return nil, corruptf("%v", err)
	}
	var err error
	if k.created, err = time.Parse(time.RFC3339, lines[2]); err != nil {
		return nil, corruptf("created time %q is not RFC 3339", lines[2])
	}
	// Length first: hex.Decode writes past a destination that is too short.
	if len(lines[3]) != 2*kidSize {
		return nil, corruptf("kid is not %d hex digits", 2*kidSize)
	}
	if n, err := hex.Decode(k.kid[:], []byte(lines[3])); err != nil || n != kidSize {
		return nil, corruptf("kid is not %d hex digits", 2*kidSize)
	}
	if k.sealed, err = b64.DecodeString(lines[4]); err != nil {
		return nil, corruptf("sealed token is not base64 (truncated?)")
	}
	if plaintextLen(k.sealed) < 1 {
		return nil, corruptf("sealed token of %d bytes is too short", len(k.sealed))
	}
	if !bytes.Equal(k.marshal(), data) {
		return nil, corruptf("not in canonical form")
	}
	return k, nil
}

// checkLabel refuses what would break the file's line structure or garble a
// terminal.
func checkLabel(l string) error {
	if l == "" {
		return errors.New("empty token label")
	}
	if len(l) > maxLabel {
		return fmt.Errorf("token label of %d bytes is longer than %d", len(l), maxLabel)
	}
	if err := checkComment(l); err != nil {
		return fmt.Errorf("token label: %w", err)
	}
	return nil
}

// tokenFileName is the name of the file for label.
func tokenFileName(label string) string {
	sum := sha256.Sum256([]byte(label))
	return base64.RawURLEncoding.EncodeToString(sum[:]) + tokenSuffix
}

// TokenEntry is the public view of a stored token: no secret.
type TokenEntry struct {
	Label   string
	Created time.Time
	Path    string
}

// ListTokens returns the stored tokens' labels, without a passphrase, sorted
// by label, with a Problem for each file that could not be read.
func (v *Vault) ListTokens() ([]TokenEntry, []Problem, error) {
	unlock, err := v.readLock()
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	ents, err := os.ReadDir(v.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("vault: %w", err)
	}
	var out []TokenEntry
	var problems []Problem
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, tokenSuffix) || strings.HasPrefix(name, ".") {
			continue
		}
		k, err := v.readToken(name)
		if err != nil {
			problems = append(problems, Problem{Path: v.path(name), Err: err})
			continue
		}
		out = append(out, TokenEntry{Label: k.label, Created: k.created, Path: v.path(name)})
	}
	slices.SortFunc(out, func(a, b TokenEntry) int { return strings.Compare(a.Label, b.Label) })
	return out, problems, nil
}

// RemoveToken deletes the token stored under label. Like Remove, it needs no
// passphrase: whoever can call it can delete the file anyway.
func (v *Vault) RemoveToken(label string) error {
	unlock, err := v.writeLock()
	if err != nil {
		return err
	}
	defer unlock()
	return v.removeToken(label)
}

func (v *Vault) removeToken(label string) error {
	if err := checkLabel(label); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	name := tokenFileName(label)
	if _, err := os.Lstat(v.path(name)); errors.Is(err, fs.ErrNotExist) {
		return ErrNoToken
	} else if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	if err := removeFile(v.dir, name); err != nil {
		return fmt.Errorf("vault: remove %s: %w", v.path(name), err)
	}
	return nil
}

// readToken reads and parses the token file name, checking that its name is
// its label's.
func (v *Vault) readToken(name string) (*tokenFile, error) {
	data, err := readFile(v.path(name))
	if err != nil {
		return nil, err
	}
	k, err := parseTokenFile(data)
	if err != nil {
		return nil, err
	}
	if tokenFileName(k.label) != name {
		return nil, corruptf("holds the token for %q, not the one its name says (renamed, or copied from elsewhere?)", k.label)
	}
	return k, nil
}

// openTokenFile decrypts k's token into a locked buffer the caller frees.
func (v *Vault) openTokenFile(k *tokenFile, r *ring) (*secmem.Buffer, error) {
	dek := r.find(k.kid[:])
	if dek == nil {
		return nil, corruptf("sealed under store key %x, which this store does not hold (copied from another store?)", k.kid)
	}
	buf := v.secret(plaintextLen(k.sealed))
	if err := openTo(buf.Bytes(), dek, k.sealed, k.clear()); err != nil {
		buf.Free()
		return nil, corruptf("the sealed token or its label was altered or damaged")
	}
	return buf, nil
}

// tokenNames returns the names of the token files in dir.
func tokenNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, tokenSuffix) && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	return names, nil
}

// readHeaderBytes reads the header and returns it parsed and as it is on disk.
func (v *Vault) readHeaderBytes() (*header, []byte, error) {
	data, err := readFile(v.path(headerName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, ErrNotInitialized
	}
	if err != nil {
		return nil, nil, fmt.Errorf("vault: %s: %w", v.path(headerName), err)
	}
	h, err := parseHeader(data)
	if err != nil {
		return nil, nil, fmt.Errorf("vault: %s: %w", v.path(headerName), err)
	}
	return h, data, nil
}

// Tokens is the store's tokens, unlocked: it holds the store's data keys
// (DEKs, not the passphrase) in locked, non-dumpable memory from OpenTokens
// until Close, so that an agent can read and store tokens during its unlock
// window without keeping the passphrase. Its methods are safe for concurrent
// use.
//
// A Tokens handle stays bound to the header it was opened from: if the
// store's passphrase is changed meanwhile, every call fails with ErrStale
// rather than sealing under a data key the new header no longer holds.
type Tokens struct {
	v *Vault

	mu     sync.Mutex
	ring   *ring // nil once closed
	header []byte
}

// OpenTokens derives the passphrase's key once and returns the unlocked
// tokens. The caller must Close it (at the end of the unlock window).
func (v *Vault) OpenTokens(passphrase []byte) (*Tokens, error) {
	unlock, err := v.readLock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	h, raw, err := v.readHeaderBytes()
	if err != nil {
		return nil, err
	}
	u, err := v.open(h, passphrase)
	if err != nil {
		return nil, err
	}
	u.kek.Free()
	return &Tokens{v: v, ring: u.ring, header: raw}, nil
}

// Close wipes the data keys. Later calls fail with ErrTokensClosed. It may
// be called more than once.
func (t *Tokens) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ring.free()
	t.ring = nil
}

// check, with t.mu and a store lock held, says whether t may still be used.
func (t *Tokens) check() error {
	if t.ring == nil {
		return ErrTokensClosed
	}
	_, raw, err := t.v.readHeaderBytes()
	if err != nil {
		return err
	}
	if !bytes.Equal(raw, t.header) {
		return ErrStale
	}
	return nil
}

// Get returns the token stored under label, or an error wrapping ErrNoToken.
//
// The token is decrypted into locked memory, which is wiped; the Token
// returned is a Go string on the heap, which cannot be wiped (see package
// credential), and is the caller's.
func (t *Tokens) Get(label string) (credential.Token, error) {
	if err := checkLabel(label); err != nil {
		return credential.Token{}, fmt.Errorf("vault: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	unlock, err := t.v.readLock()
	if err != nil {
		return credential.Token{}, err
	}
	defer unlock()
	if err := t.check(); err != nil {
		return credential.Token{}, err
	}
	name := tokenFileName(label)
	k, err := t.v.readToken(name)
	if errors.Is(err, fs.ErrNotExist) {
		return credential.Token{}, fmt.Errorf("%w for %q", ErrNoToken, label)
	}
	if err != nil {
		return credential.Token{}, Problem{Path: t.v.path(name), Err: err}
	}
	if k.label != label {
		return credential.Token{}, Problem{Path: t.v.path(name), Err: corruptf("holds the token for another label")}
	}
	buf, err := t.v.openTokenFile(k, t.ring)
	if err != nil {
		return credential.Token{}, Problem{Path: t.v.path(name), Err: err}
	}
	defer buf.Free()
	return credential.UncheckedToken(string(buf.Bytes())), nil
}

// Put stores tok under label, replacing any token stored there. The token
// must not be empty; what else it may hold is the caller's rule (see
// credential.ValidToken for registry tokens).
func (t *Tokens) Put(label string, tok credential.Token) error {
	if err := checkLabel(label); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	if tok.IsZero() {
		return errors.New("vault: empty token")
	}
	if tok.Len() > MaxStoredToken {
		return fmt.Errorf("vault: token of %d bytes, more than %d", tok.Len(), MaxStoredToken)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	unlock, err := t.v.writeLock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := t.check(); err != nil {
		return err
	}
	k := &tokenFile{label: label, created: t.v.now().UTC().Truncate(time.Second)}
	kid, dek := t.ring.newest()
	k.kid = kid
	plain := []byte(tok.Reveal())
	defer secmem.Wipe(plain)
	if k.sealed, err = seal(dek, plain, k.clear()); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	return t.v.write(tokenFileName(label), k.marshal())
}

// Remove deletes the token stored under label, or returns ErrNoToken.
func (t *Tokens) Remove(label string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	unlock, err := t.v.writeLock()
	if err != nil {
		return err
	}
	defer unlock()
	if t.ring == nil {
		return ErrTokensClosed
	}
	return t.v.removeToken(label)
}
