package pins

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/fileperm"
)

const (
	hashA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hashB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestPinsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "pins.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, loaded, err := s.LoadOrStore("/usr/bin/git", hashA); err != nil || loaded || got != hashA {
		t.Fatalf("first LoadOrStore = %q, %v, %v", got, loaded, err)
	}
	if _, _, err := s.LoadOrStore("/usr/bin/ssh", hashB); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("pins file mode %v, want 0600", fi.Mode().Perm())
	}

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// After a restart, other content at the same path is still noticed.
	if got, loaded, _ := s.LoadOrStore("/usr/bin/git", hashB); !loaded || got != hashA {
		t.Fatalf("after reopening, LoadOrStore = %q, %v; want the old pin %q", got, loaded, hashA)
	}
	if err := s.Store("/usr/bin/git", hashB); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Forget("/usr/bin/ssh"); n != 1 || err != nil {
		t.Fatalf("Forget = %d, %v", n, err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	list := s.List()
	if len(list) != 1 || list[0].Exe != "/usr/bin/git" || list[0].SHA256 != hashB || list[0].Since.IsZero() {
		t.Fatalf("List = %+v", list)
	}
	if n, _ := s.Forget(""); n != 1 || len(s.List()) != 0 {
		t.Fatalf("Forget all dropped %d, left %+v", n, s.List())
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("state dir holds %d entries, want only pins.json: %v", len(entries), entries)
	}
}

func TestOpenRefusesDamagedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pins.json")
	if err := os.WriteFile(path, []byte(`{"version":1,"pins":[{"exe":"/x","sha256":"zz"`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Fatalf("Open of a damaged file: %v", err)
	}
}

func TestParse(t *testing.T) {
	tests := []struct{ name, text, err string }{
		{"empty list", `{"version":1,"pins":[]}`, ""},
		{"one", `{"version":1,"pins":[{"exe":"/usr/bin/git","sha256":"` + hashA + `","since":"2026-01-02T03:04:05Z"}]}`, ""},
		{"version", `{"version":2,"pins":[]}`, "version 2"},
		{"relative", `{"version":1,"pins":[{"exe":"git","sha256":"` + hashA + `"}]}`, "absolute"},
		{"short hash", `{"version":1,"pins":[{"exe":"/git","sha256":"abcd"}]}`, "hex SHA-256"},
		{"upper hash", `{"version":1,"pins":[{"exe":"/git","sha256":"` + strings.ToUpper(hashA) + `"}]}`, "hex SHA-256"},
		{"twice", `{"version":1,"pins":[{"exe":"/git","sha256":"` + hashA + `"},{"exe":"/git","sha256":"` + hashB + `"}]}`, "twice"},
		{"unknown field", `{"version":1,"pins":[],"extra":1}`, "unknown field"},
		{"trailing", `{"version":1,"pins":[]} {}`, "after the JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.text))
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("Parse = %v, want error containing %q", err, tt.err)
			}
		})
	}
}

// TestOpenRefusesInsecure: pins that another user could have written are
// not trusted: the next program at a pinned path would be taken as the one
// the person allowed.
func TestOpenRefusesInsecure(t *testing.T) {
	pins := []byte(`{"version":1,"pins":[]}`)
	tests := []struct {
		name      string
		dir, file os.FileMode // 0: no file
		ok        bool
	}{
		{"private", 0o700, 0o600, true},
		{"readable", 0o755, 0o644, true},
		{"no file yet", 0o700, 0, true},
		{"group-writable file", 0o700, 0o620, false},
		{"world-writable file", 0o700, 0o606, false},
		{"group-writable directory", 0o770, 0o600, false},
		{"world-writable directory, no file yet", 0o777, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "pins.json")
			if tt.file != 0 {
				if err := os.WriteFile(path, pins, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.file); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(dir, tt.dir); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path)
			if tt.ok != (err == nil) {
				t.Fatalf("Open = %v, want ok %v", err, tt.ok)
			}
			if !tt.ok && !errors.Is(err, fileperm.ErrInsecure) {
				t.Errorf("Open = %v, want an error wrapping ErrInsecure", err)
			}
		})
	}
}

// TestLookupDoesNotWaitForSave: a signature whose program is already pinned
// goes on while another pin is being written to a slow disk.
func TestLookupDoesNotWaitForSave(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "pins.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoadOrStore("/usr/bin/git", hashA); err != nil {
		t.Fatal(err)
	}
	s.saveMu.Lock() // the disk is slow: the next write cannot finish
	stored := make(chan error, 1)
	go func() { stored <- s.Store("/usr/bin/ssh", hashB) }()
	for deadline := time.Now().Add(10 * time.Second); len(s.List()) != 2; {
		if time.Now().After(deadline) {
			t.Fatal("the new pin never reached memory")
		}
		runtime.Gosched()
	}
	looked := make(chan string, 1)
	go func() {
		got, _, _ := s.LoadOrStore("/usr/bin/git", hashB)
		looked <- got
	}()
	select {
	case got := <-looked:
		if got != hashA {
			t.Errorf("LoadOrStore = %q, want the pin %q", got, hashA)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a lookup of a pinned program waited for another pin's write")
	}
	s.saveMu.Unlock()
	if err := <-stored; err != nil {
		t.Fatal(err)
	}
	again, err := Open(s.path)
	if err != nil || len(again.List()) != 2 {
		t.Fatalf("after the slow write: %v, %+v", err, again.List())
	}
}

// FuzzParse: Parse never panics, and what it accepts is written back and
// read again unchanged.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"pins":[{"exe":"/usr/bin/git","sha256":"` + hashA + `","since":"2026-01-02T03:04:05Z"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pins, err := Parse(b)
		if err != nil {
			return
		}
		path := filepath.Join(t.TempDir(), "pins.json")
		s := &Store{path: path, pins: map[string]Pin{}}
		for _, p := range pins {
			s.pins[p.Exe] = p
		}
		s.gen = 1
		if err := s.save(1); err != nil {
			t.Fatal(err)
		}
		again, err := Open(path)
		if err != nil {
			t.Fatalf("a saved file does not open: %v", err)
		}
		if len(again.List()) != len(pins) {
			t.Fatalf("%d pins saved, %d read back", len(pins), len(again.List()))
		}
	})
}
