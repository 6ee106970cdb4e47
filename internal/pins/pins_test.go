package pins

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		s.mu.Lock()
		err = s.save()
		s.mu.Unlock()
		if err != nil {
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
