package vault

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestHosts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vigil")
	v := openVault(t, dir)
	if err := v.Init(pass1); err != nil {
		t.Fatal(err)
	}
	e, err := v.Generate(pass1, Ed25519, "work")
	if err != nil {
		t.Fatal(err)
	}
	if h, err := v.Hosts(); err != nil || len(h) != 0 {
		t.Fatalf("Hosts of a new store = %v, %v", h, err)
	}
	if _, err := v.SetHosts("work", []string{"github.com", "*.corp.example"}); err != nil {
		t.Fatal(err)
	}
	h, err := v.Hosts()
	if err != nil || !slices.Equal(h[e.Fingerprint], []string{"github.com", "*.corp.example"}) {
		t.Fatalf("Hosts = %v, %v", h, err)
	}
	fi, err := os.Stat(filepath.Join(dir, hostsName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("hosts file mode %v, %v", fi.Mode(), err)
	}
	if _, err := v.SetHosts(e.Fingerprint, nil); err != nil {
		t.Fatal(err)
	}
	if h, _ := v.Hosts(); len(h) != 0 {
		t.Errorf("hosts not cleared: %v", h)
	}
	if _, err := v.SetHosts("nope", []string{"x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetHosts for a missing key = %v", err)
	}
	for _, bad := range []string{"bad\x1b[31mhost", "a\nb", "del\x7f", "c1\u0085", "bad\xff"} {
		if _, err := v.SetHosts("work", []string{"github.com", bad}); err == nil || !strings.Contains(err.Error(), "host pattern") {
			t.Errorf("host pattern %q: err = %v, want it refused", bad, err)
		}
	}
	if all, _ := v.Hosts(); len(all) != 0 {
		t.Errorf("a refused pattern was stored: %v", all)
	}
	if _, err := v.SetHosts("work", []string{""}); err == nil {
		t.Error("empty host pattern accepted")
	}
	if _, _, err := v.List(); err != nil {
		t.Errorf("List with a hosts file: %v", err)
	}
}
