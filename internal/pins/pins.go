// Package pins keeps, in a file, the content hash each program named by an
// allow rule had when the rule first matched it. Kept across restarts, a
// binary replaced while vigil was not running is still noticed: the next
// request asks, and says the program changed.
//
// The file is JSON, written whole to a temporary file, synced and renamed
// over the old one, so a crash leaves the old pins or the new ones, never
// a mix. It holds paths and hashes only: nothing secret.
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
// It is safe for concurrent use.
type Store struct {
	path string
	now  func() time.Time

	mu   sync.Mutex
	pins map[string]Pin
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
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pins: %w", err)
	}
	defer f.Close()
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
	defer s.mu.Unlock()
	if p, ok := s.pins[exe]; ok {
		return p.SHA256, true, nil
	}
	s.pins[exe] = Pin{Exe: exe, SHA256: hash, Since: s.now().UTC()}
	return hash, false, s.save()
}

// Store pins exe to hash, replacing any earlier pin.
func (s *Store) Store(exe, hash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pins[exe]; ok && p.SHA256 == hash {
		return nil
	}
	s.pins[exe] = Pin{Exe: exe, SHA256: hash, Since: s.now().UTC()}
	return s.save()
}

// Forget drops the pin of exe, or every pin if exe is "", and says how
// many it dropped. The program is pinned again at its next use.
func (s *Store) Forget(exe string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for e := range s.pins {
		if exe == "" || e == exe {
			delete(s.pins, e)
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	return n, s.save()
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

// save writes the pins (s.mu held): to a temporary file beside the real
// one, synced, renamed over it, and the directory synced.
func (s *Store) save() error {
	if s.path == "" {
		return nil
	}
	f := file{Version: version, Pins: make([]Pin, 0, len(s.pins))}
	for _, p := range s.pins {
		f.Pins = append(f.Pins, p)
	}
	slices.SortFunc(f.Pins, func(a, b Pin) int { return strings.Compare(a.Exe, b.Exe) })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
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
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		return fmt.Errorf("pins: save %s: %w", s.path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
