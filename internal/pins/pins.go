// Package pins keeps, in a file, the content hash each program named by an
// allow rule had when the rule first matched it. Kept across restarts, a
// binary replaced while vigil was not running is still noticed: the next
// request asks, and says the program changed.
//
// The file is JSON, written whole to a temporary file, synced and renamed
// over the old one, so a crash leaves the old pins or the new ones, never
// a mix. It holds paths and hashes only: nothing secret, but what it says
// is trusted, so Open refuses a file or directory that another user owns
// or could write.
package pins

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-agent/vigil/internal/fileperm"
)

// Pin is one program's pinned content.
type Pin struct {
	Exe    string    `json:"exe"`    // absolute path, as the rule names it
	SHA256 string    `json:"sha256"` // hex SHA-256 of the executable's content
	Since  time.Time `json:"since"`  // when it was pinned
}

// file is the layout on disk.
type file struct {
	Version int   `json:"version"`
	Pins    []Pin `json:"pins"`
}

const version = 1

// maxFile bounds what Open reads: pins are a few hundred bytes each.
const maxFile = 4 << 20

// Store holds the pins in memory and, unless its path is "", in a file.
// It is safe for concurrent use. A lookup of a pinned program (the signing
// path) never waits for the file: writes are serialised by their own lock
// and the pins are copied out before the write and its fsync.
type Store struct {
	path string
	now  func() time.Time

	mu   sync.Mutex
	pins map[string]Pin
	gen  uint64 // changes made to pins so far

	saveMu sync.Mutex // held while the file is written; taken before mu, never inside it
	saved  uint64     // the gen the file holds
}

// Memory returns a Store that keeps its pins in memory only.
func Memory() *Store {
	return &Store{now: time.Now, pins: map[string]Pin{}}
}

// Open reads the pins at path; a missing file holds none. A file that does
// not parse is an error: vigil cannot tell a changed program from a new
// one without it, and must not guess.
func Open(path string) (*Store, error) {
	s := &Store{path: path, now: time.Now, pins: map[string]Pin{}}
	// The directory too: whoever can write it can put another file here.
	if fi, err := os.Stat(filepath.Dir(path)); err == nil {
		if err := fileperm.Check(fi, 0o755); err != nil {
			return nil, fmt.Errorf("pins: directory %s: %w: another user could replace the pins (chmod go-w, or chown it)", filepath.Dir(path), err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pins: %w", err)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pins: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("pins: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("pins: %s is not a regular file", path)
	}
	if err := fileperm.Check(fi, 0o644); err != nil {
		return nil, fmt.Errorf("pins: %s: %w: another user could have changed the pins (chmod 600, or remove it to pin every program again at its next use)", path, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("pins: %w", err)
	}
	if len(b) > maxFile {
		return nil, fmt.Errorf("pins: %s is larger than %d bytes", path, maxFile)
	}
	pins, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("pins: %s: %w (remove it to pin every program again at its next use)", path, err)
	}
	for _, p := range pins {
		s.pins[p.Exe] = p
	}
	return s, nil
}

// Parse reads the file's content and checks every pin.
func Parse(b []byte) ([]Pin, error) {
	var f file
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a pins file: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a pins file: data after the JSON object")
	}
	if f.Version != version {
		return nil, fmt.Errorf("version %d, want %d", f.Version, version)
	}
	seen := map[string]bool{}
	for _, p := range f.Pins {
		if !filepath.IsAbs(p.Exe) {
			return nil, fmt.Errorf("pin for %q: not an absolute path", p.Exe)
		}
		if h, err := hex.DecodeString(p.SHA256); err != nil || len(h) != 32 || strings.ToLower(p.SHA256) != p.SHA256 {
			return nil, fmt.Errorf("pin for %q: %q is not a hex SHA-256", p.Exe, p.SHA256)
		}
		if seen[p.Exe] {
			return nil, fmt.Errorf("pin for %q: listed twice", p.Exe)
		}
		seen[p.Exe] = true
	}
	return f.Pins, nil
}

// LoadOrStore returns the hash pinned for exe; if there is none, it pins
// hash and returns that. The error says the new pin could not be saved: it
// holds until vigil stops.
func (s *Store) LoadOrStore(exe, hash string) (pinned string, loaded bool, err error) {
	s.mu.Lock()
	if p, ok := s.pins[exe]; ok {
		s.mu.Unlock()
		return p.SHA256, true, nil
	}
	s.pins[exe] = Pin{Exe: exe, SHA256: hash, Since: s.now().UTC()}
	gen := s.changedLocked()
	s.mu.Unlock()
	return hash, false, s.save(gen)
}

// Store pins exe to hash, replacing any earlier pin.
func (s *Store) Store(exe, hash string) error {
	s.mu.Lock()
	if p, ok := s.pins[exe]; ok && p.SHA256 == hash {
		s.mu.Unlock()
		return nil
	}
	s.pins[exe] = Pin{Exe: exe, SHA256: hash, Since: s.now().UTC()}
	gen := s.changedLocked()
	s.mu.Unlock()
	return s.save(gen)
}

// Forget drops the pin of exe, or every pin if exe is "", and says how
// many it dropped. The program is pinned again at its next use.
func (s *Store) Forget(exe string) (int, error) {
	s.mu.Lock()
	n := 0
	for e := range s.pins {
		if exe == "" || e == exe {
			delete(s.pins, e)
			n++
		}
	}
	if n == 0 {
		s.mu.Unlock()
		return 0, nil
	}
	gen := s.changedLocked()
	s.mu.Unlock()
	return n, s.save(gen)
}

// List returns the pins, by path.
func (s *Store) List() []Pin {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Pin, 0, len(s.pins))
	for _, p := range s.pins {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Pin) int { return strings.Compare(a.Exe, b.Exe) })
	return out
}

// changedLocked counts a change to the pins (s.mu held) and returns the
// generation that a save must reach to carry it.
func (s *Store) changedLocked() uint64 {
	s.gen++
	return s.gen
}

// save makes generation gen of the pins durable, unless a later save
// already did: the pins as they are now are copied under s.mu and written
// with only s.saveMu held, so lookups go on while the disk syncs. A failed
// save leaves s.saved behind, and the next change writes everything.
func (s *Store) save(gen uint64) error {
	if s.path == "" {
		return nil
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if s.saved >= gen {
		return nil
	}
	s.mu.Lock()
	now := s.gen
	f := file{Version: version, Pins: make([]Pin, 0, len(s.pins))}
	for _, p := range s.pins {
		f.Pins = append(f.Pins, p)
	}
	s.mu.Unlock()
	if err := write(s.path, f); err != nil {
		return err
	}
	s.saved = now
	return nil
}

// write replaces the file at path with f: a temporary file beside it,
// synced, renamed over it, and the directory synced.
func write(path string, f file) error {
	slices.SortFunc(f.Pins, func(a, b Pin) int { return strings.Compare(a.Exe, b.Exe) })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pins: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".pins-*.tmp") // created 0600
	if err != nil {
		return fmt.Errorf("pins: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing left to remove
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("pins: save %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
