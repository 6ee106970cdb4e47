package vault

import (
	"bytes"
	"cmp"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-agent/vigil/internal/fileperm"
)

// Errors callers branch on. Per-file errors (in a [Problem]) wrap
// ErrCorrupt or ErrInsecure; the others are returned by operations.
var (
	ErrNotInitialized   = errors.New("vault: no key store here yet")
	ErrInitialized      = errors.New("vault: key store already initialised")
	ErrBadPassphrase    = errors.New("vault: wrong passphrase")
	ErrBadKeyPassphrase = errors.New("vault: wrong passphrase for the key file")
	ErrNotFound         = errors.New("vault: no such key")
	ErrDuplicate        = errors.New("vault: key already stored")
	ErrCommentTaken     = errors.New("vault: comment already taken")
	ErrUnsupportedKey   = errors.New("vault: unsupported key")
	ErrCorrupt          = errors.New("corrupt")
	ErrInsecure         = fileperm.ErrInsecure
)

// Config configures a [Vault].
type Config struct {
	// Dir is the store's directory. Required. It is created 0700 if
	// missing, and must otherwise be 0700 or stricter and owned by the
	// effective user.
	Dir string
	// KDF is used for passphrases set from now on (Init, ChangePassphrase);
	// existing slots keep the parameters in the header. Zero means
	// DefaultKDF. Tests set something cheap.
	KDF KDFParams
	// Now stamps creation and use times. Nil means time.Now.
	Now func() time.Time
	// Logger receives warnings, never secrets. Nil discards them.
	Logger *slog.Logger
}

// Vault is a key store in a directory. Its methods are safe for concurrent
// use, also by several processes on one directory: writers are serialised by
// a lock on the directory. It holds no secret between calls.
type Vault struct {
	dir string
	kdf KDFParams
	now func() time.Time
	log *slog.Logger

	warnMem sync.Once

	mu   sync.Mutex
	used map[string]time.Time // fingerprint -> last use not yet flushed

	// testOnlyAfterRewrite, if set, runs when ChangePassphrase has written
	// the two-slot header (n = 0) and after it rewrites its n-th key file;
	// an error stops it there, as a crash would.
	testOnlyAfterRewrite func(n int) error
}

// Open opens the store in cfg.Dir, creating the directory if needed. It
// reads nothing else: a store need not be initialised to be opened.
func Open(cfg Config) (*Vault, error) {
	if cfg.Dir == "" {
		return nil, errors.New("vault: no directory")
	}
	v := &Vault{dir: cfg.Dir, kdf: cfg.KDF, now: cfg.Now, log: cfg.Logger, used: map[string]time.Time{}}
	if v.kdf == (KDFParams{}) {
		v.kdf = DefaultKDF
	}
	if err := v.kdf.validate(); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if _, err := os.Stat(cfg.Dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
		// The umask may have taken bits away; it cannot have added any,
		// but make the mode exactly 0700 rather than reason about it.
		if err := os.Chmod(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
		if err := syncDir(filepath.Dir(filepath.Clean(cfg.Dir))); err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
	}
	if err := checkDir(cfg.Dir); err != nil {
		return nil, err
	}
	return v, nil
}

// Dir returns the store's directory.
func (v *Vault) Dir() string { return v.dir }

// Entry is the public view of a stored key. It holds no secret. Entries from
// List and Find come from the clear part of the key files and are not
// authenticated until the key is unlocked; those from Unlock are.
type Entry struct {
	Public      ssh.PublicKey
	Fingerprint string // SHA256, as ssh-keygen -l prints it
	Type        KeyType
	Comment     string
	Created     time.Time
	LastUsed    time.Time // zero: no use recorded
	Path        string    // the key file
}

// AuthorizedKey returns the key as a line of authorized_keys, with its
// comment and a final newline.
func (e Entry) AuthorizedKey() []byte {
	line := bytes.TrimSuffix(ssh.MarshalAuthorizedKey(e.Public), []byte("\n"))
	if e.Comment != "" {
		line = append(append(line, ' '), e.Comment...)
	}
	return append(line, '\n')
}

// UnlockedKey is a stored key with its private half.
type UnlockedKey struct {
	Entry
	// Private is an ed25519.PrivateKey, *ecdsa.PrivateKey or
	// *rsa.PrivateKey, as ssh.NewSignerFromKey takes. It belongs to the
	// caller, who should Wipe it when done.
	Private crypto.PrivateKey
}

// Signer returns an ssh.Signer for the key.
func (k *UnlockedKey) Signer() (ssh.Signer, error) {
	return ssh.NewSignerFromKey(k.Private)
}

// Wipe overwrites what can be overwritten of the private key and drops it.
// Copies inside crypto packages and signers made from it are not reached.
func (k *UnlockedKey) Wipe() {
	wipeKey(k.Private)
	k.Private = nil
}

// Problem is a file that could not be used; other keys are unaffected.
type Problem struct {
	Path string
	Err  error // wraps ErrCorrupt, ErrInsecure or an I/O error
}

func (p Problem) Error() string { return "vault: " + p.Path + ": " + p.Err.Error() }
func (p Problem) Unwrap() error { return p.Err }

// AmbiguousError is returned when a comment names more than one key.
type AmbiguousError struct {
	Query   string
	Matches []Entry
}

func (e *AmbiguousError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vault: %d keys have the comment %q:", len(e.Matches), e.Query)
	for i, m := range e.Matches {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %s (%s)", m.Fingerprint, m.Type)
	}
	b.WriteString("; name one by fingerprint")
	return b.String()
}

// Info describes the store without opening it.
type Info struct {
	Initialized bool
	// KDF is the newest slot's: the one a completed passphrase change set.
	KDF KDFParams
	// ChangeInterrupted means a ChangePassphrase did not finish: both the
	// old and the new passphrase open every key, and running
	// ChangePassphrase again finishes the change.
	ChangeInterrupted bool
}

// Info reports whether the store is initialised and in what state.
func (v *Vault) Info() (Info, error) {
	if err := checkDir(v.dir); err != nil {
		return Info{}, err
	}
	h, err := v.readHeader()
	if errors.Is(err, ErrNotInitialized) {
		return Info{}, nil
	}
	if err != nil {
		return Info{}, err
	}
	return Info{Initialized: true, KDF: h.slots[len(h.slots)-1].kdf, ChangeInterrupted: len(h.slots) > 1}, nil
}

func (v *Vault) path(name string) string { return filepath.Join(v.dir, name) }

func (v *Vault) readHeader() (*header, error) {
	data, err := readFile(v.path(headerName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotInitialized
	}
	if err == nil {
		var h *header
		if h, err = parseHeader(data); err == nil {
			return h, nil
		}
	}
	return nil, fmt.Errorf("vault: %s: %w", v.path(headerName), err)
}

// writeLock checks the directory, takes the write lock and sweeps stale
// temporary files. The caller must call the returned function.
func (v *Vault) writeLock() (func(), error) {
	if err := checkDir(v.dir); err != nil {
		return nil, err
	}
	unlock, err := lockDir(v.dir, true)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if err := sweepTemps(v.dir); err != nil {
		unlock()
		return nil, fmt.Errorf("vault: %w", err)
	}
	return unlock, nil
}

func (v *Vault) readLock() (func(), error) {
	if err := checkDir(v.dir); err != nil {
		return nil, err
	}
	unlock, err := lockDir(v.dir, false)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return unlock, nil
}

// Init creates the store's header, protected by passphrase. The caller
// should have the user type a new passphrase twice. It fails with
// ErrInitialized if the store exists.
func (v *Vault) Init(passphrase []byte) error {
	unlock, err := v.writeLock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := v.readHeader(); !errors.Is(err, ErrNotInitialized) {
		if err == nil {
			return ErrInitialized
		}
		return err
	}
	s, kek, err := v.newSlot(passphrase)
	if err != nil {
		return err
	}
	defer kek.Free()
	deks, err := v.newDEK(nil)
	if err != nil {
		return err
	}
	defer deks.Free()
	if err := sealSlot(&s, kek.Bytes(), deks.Bytes()); err != nil {
		return err
	}
	return v.write(headerName, (&header{slots: []slot{s}}).marshal())
}

func (v *Vault) write(name string, data []byte) error {
	if err := writeAtomic(v.dir, name, data); err != nil {
		return fmt.Errorf("vault: write %s: %w", v.path(name), err)
	}
	return nil
}

// readKey reads and parses the key file name, checking that its name is its
// fingerprint.
func (v *Vault) readKey(name string) (*keyFile, error) {
	data, err := readFile(v.path(name))
	if err != nil {
		return nil, err
	}
	k, err := parseKeyFile(data)
	if err != nil {
		return nil, err
	}
	if want := fileName(k.pub); want != name {
		return nil, corruptf("holds key %s, not the one its name says (renamed, or copied from elsewhere?)", ssh.FingerprintSHA256(k.pub))
	}
	return k, nil
}

func (v *Vault) entry(name string, k *keyFile) Entry {
	t, _ := describe(k.pub) // parseKeyFile checked it
	return Entry{
		Public:      k.pub,
		Fingerprint: ssh.FingerprintSHA256(k.pub),
		Type:        t,
		Comment:     k.comment,
		Created:     k.created,
		Path:        v.path(name),
	}
}

// List returns the stored keys' public halves, oldest first, without a
// passphrase, with a Problem for each file that could not be read. The error
// is for the store as a whole (such as an insecure directory).
func (v *Vault) List() ([]Entry, []Problem, error) {
	if err := checkDir(v.dir); err != nil {
		return nil, nil, err
	}
	names, err := keyNames(v.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("vault: %w", err)
	}
	used, problems := v.lastUsed()
	var entries []Entry
	for _, name := range names {
		k, err := v.readKey(name)
		if err != nil {
			problems = append(problems, Problem{Path: v.path(name), Err: err})
			continue
		}
		e := v.entry(name, k)
		e.LastUsed = used[e.Fingerprint]
		entries = append(entries, e)
	}
	sortEntries(entries)
	return entries, problems, nil
}

func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.Fingerprint, b.Fingerprint))
	})
}

// Find returns the key whose SHA256 fingerprint is query ("SHA256:..."), or
// else the one whose comment is exactly query. More than one key with that
// comment is an *AmbiguousError listing them; none is ErrNotFound.
func (v *Vault) Find(query string) (Entry, error) {
	if name, ok := fingerprintName(query); ok {
		k, err := v.readKey(name)
		if err == nil {
			e := v.entry(name, k)
			used, _ := v.lastUsed()
			e.LastUsed = used[e.Fingerprint]
			return e, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return Entry{}, Problem{Path: v.path(name), Err: err}
		}
	}
	entries, _, err := v.List()
	if err != nil {
		return Entry{}, err
	}
	var matches []Entry
	for _, e := range entries {
		if e.Comment == query {
			matches = append(matches, e)
		}
	}
	switch len(matches) {
	case 0:
		return Entry{}, fmt.Errorf("%w with fingerprint or comment %q", ErrNotFound, query)
	case 1:
		return matches[0], nil
	}
	return Entry{}, &AmbiguousError{Query: query, Matches: matches}
}

// ExportPublic returns the authorized_keys line of the key Find(query)
// finds.
func (v *Vault) ExportPublic(query string) ([]byte, error) {
	e, err := v.Find(query)
	if err != nil {
		return nil, err
	}
	return e.AuthorizedKey(), nil
}

// Remove deletes the key Find(query) finds, and returns it. A fingerprint
// names its file directly, so a damaged key file can be removed by the
// fingerprint its Problem's path spells (the returned Entry then has only
// Fingerprint and Path). No passphrase is needed: whoever can call this can
// delete the file anyway.
func (v *Vault) Remove(query string) (Entry, error) {
	unlock, err := v.writeLock()
	if err != nil {
		return Entry{}, err
	}
	defer unlock()
	var e Entry
	if name, ok := fingerprintName(query); ok {
		if _, err := os.Lstat(v.path(name)); err == nil {
			e = Entry{Fingerprint: query, Path: v.path(name)}
			if k, err := v.readKey(name); err == nil {
				e = v.entry(name, k)
			}
		}
	}
	if e.Path == "" {
		if e, err = v.Find(query); err != nil {
			return Entry{}, err
		}
	}
	if err := removeFile(v.dir, filepath.Base(e.Path)); err != nil {
		return Entry{}, fmt.Errorf("vault: remove %s: %w", e.Path, err)
	}
	v.mu.Lock()
	delete(v.used, e.Fingerprint)
	v.mu.Unlock()
	return e, nil
}
