package knownhosts

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// testdataKeys are the public keys and the host certificate in testdata,
// made with ssh-keygen: host-cert.pub is host.pub signed by ca for
// host.example.com and host; revoked.pub is on a @revoked line.
func testdataKeys(tb testing.TB) map[string]ssh.PublicKey {
	tb.Helper()
	keys := map[string]ssh.PublicKey{}
	for _, name := range []string{"ca", "host", "host-ecdsa", "host-cert", "other", "revoked"} {
		data, err := os.ReadFile(filepath.Join("testdata", name+".pub"))
		if err != nil {
			tb.Fatal(err)
		}
		k, _, _, _, err := ssh.ParseAuthorizedKey(data)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		keys[name] = k
	}
	return keys
}

// TestTestdata pins what the committed files say, so the fuzz seeds mean
// what they are meant to, with or without ssh-keygen on the machine.
func TestTestdata(t *testing.T) {
	keys := testdataKeys(t)
	files := []string{}
	for _, f := range []string{"known_hosts", "known_hosts.hashed"} {
		abs, err := filepath.Abs(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, abs)
	}
	tests := []struct {
		key        string
		candidates []string
		want       []string // Names
		authority  bool
	}{
		{"host", nil, []string{"host.example.com", "192.0.2.10"}, false},
		{"host", []string{"192.0.2.10"}, []string{"192.0.2.10", "host.example.com"}, false},
		{"host-ecdsa", nil, []string{"host.example.com"}, false},
		{"other", nil, []string{"[192.0.2.10]:2222"}, false},
		{"other", []string{"www.example.org"}, []string{"www.example.org", "[192.0.2.10]:2222"}, false},
		{"host-cert", nil, []string{"host.example.com", "192.0.2.10"}, true},
		{"ca", []string{"x.example.com"}, nil, false},
		{"revoked", []string{"revoked.example"}, nil, false},
	}
	for _, tt := range tests {
		got := Lookup(keys[tt.key], files, tt.candidates)
		if !slices.Equal(got.Names, tt.want) || got.Authority != tt.authority {
			t.Errorf("Lookup(%s, %q) = %+v, want names %q", tt.key, tt.candidates, got, tt.want)
		}
	}
	hashedOnly := files[1:]
	if got := Lookup(keys["host"], hashedOnly, []string{"host.example.com"}); got.Name != "host.example.com" {
		t.Errorf("hashed: %+v", got)
	}
	if got := Lookup(keys["revoked"], files, nil); !got.Revoked {
		t.Errorf("revoked: %+v", got)
	}
	if got := Lookup(keys["other"], hashedOnly, []string{"[192.0.2.10]:2222"}); got.Name != "[192.0.2.10]:2222" {
		t.Errorf("hashed with port: %+v", got)
	}
}

// FuzzLookup runs lookups over arbitrary known_hosts contents, with the
// testdata keys and every key the contents themselves hold, and checks what
// a Result promises.
func FuzzLookup(f *testing.F) {
	fixed := testdataKeys(f)
	for _, name := range []string{"known_hosts", "known_hosts.hashed"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "host.example.com", uint8(0))
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte, candidates string, pick uint8) {
		keys := []ssh.PublicKey{fixed["host"], fixed["host-cert"], fixed["other"], fixed["ca"], fixed["host-ecdsa"], fixed["revoked"]}
		var revoked []string
		for _, line := range bytes.Split(data, []byte("\n")) {
			marker, _, k, _, _, err := ssh.ParseKnownHosts(line)
			if err != nil || k == nil {
				continue
			}
			keys = append(keys, k)
			if marker == "revoked" && bytes.HasPrefix(bytes.TrimLeft(line, " \t"), []byte("@revoked")) && revokes(line) {
				revoked = append(revoked, plainBlob(k))
			}
		}
		key := keys[int(pick)%len(keys)]
		cands := strings.Split(candidates, "\n")
		hf := &hostFile{path: "fuzz", entries: parse(data)}
		r := lookup(key, []*hostFile{hf}, cands, now)

		if r.Verified != (r.Name != "") {
			t.Fatalf("Verified %v with Name %q", r.Verified, r.Name)
		}
		if r.Revoked && (r.Verified || r.Names != nil || r.Authority || r.Changed) {
			t.Fatalf("revoked key named: %+v", r)
		}
		if r.Verified && (r.Names[0] != r.Name || r.File != "fuzz" || r.Line < 1) {
			t.Fatalf("inconsistent result: %+v", r)
		}
		if !r.Verified && (len(r.Names) > 0 || r.Authority || r.File != "" && !r.Revoked) {
			t.Fatalf("inconsistent result: %+v", r)
		}
		seen := map[string]bool{}
		clean := cleanCandidates(cands)
		lower := []byte(asciiLower(string(data)))
		_, isCert := key.(*ssh.Certificate)
		for _, n := range r.Names {
			if seen[n] {
				t.Fatalf("name %q twice: %+v", n, r)
			}
			seen[n] = true
			// A name comes from a candidate, or is written in the file,
			// or (for a certificate only) is one of its principals.
			if !slices.Contains(clean, n) && !bytes.Contains(lower, []byte(n)) && !isCert {
				t.Fatalf("name %q from nowhere: %+v", n, r)
			}
		}
		if slices.Contains(revoked, plainBlob(key)) && !r.Revoked {
			t.Fatalf("key on a @revoked line not reported revoked: %+v", r)
		}
	})
}

// revokes reports whether a @revoked line still holds a key when read up to
// its first NUL, as ssh reads it: what follows a NUL revokes nothing, for
// ssh or for vigil.
func revokes(line []byte) bool {
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}
	_, _, k, _, _, err := ssh.ParseKnownHosts(line)
	return err == nil && k != nil
}

// FuzzParseSSHArgs feeds arbitrary command lines (arguments separated by
// NUL bytes) to ParseSSHArgs and checks its bounds.
func FuzzParseSSHArgs(f *testing.F) {
	for _, argv := range [][]string{
		{"-p", "2222", "-o", "X=Y", "git@github.com", "cmd"},
		{"ssh://user@host:2200"},
		{"-l", "user", "host", "-o", "UserKnownHostsFile=~/kh %d/x"},
	} {
		f.Add(strings.Join(argv, "\x00"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv := append([]string{"ssh"}, strings.Split(s, "\x00")...)
		d, ok := ParseSSHArgs(argv)
		if !ok {
			if fmt.Sprint(d) != fmt.Sprint(Dest{}) {
				t.Fatalf("not ok but %+v", d)
			}
			return
		}
		if d.Host == "" || len(d.Host) > maxNameLen || len(d.HostName) > maxNameLen || len(d.Alias) > maxNameLen {
			t.Fatalf("bad host: %+v", d)
		}
		if d.Port < 0 || d.Port > 65535 {
			t.Fatalf("bad port: %+v", d)
		}
		if len(d.KnownHostsFiles) > 2*maxFiles {
			t.Fatalf("too many files: %d", len(d.KnownHostsFiles))
		}
		c := d.Candidates()
		if len(c) != 1 || c[0] == "" || asciiLower(c[0]) != c[0] {
			t.Fatalf("candidates %q for %+v", c, d)
		}
		for _, p := range d.Files("/home/u", "/work") {
			if !filepath.IsAbs(p) {
				t.Fatalf("relative path %q from %+v", p, d)
			}
		}
	})
}

// FuzzGlobMatch compares globMatch with OpenSSH's match_pattern, transcribed.
func FuzzGlobMatch(f *testing.F) {
	f.Add("*.example.com", "a.example.com")
	f.Add("a*b?c", "aXXbYc")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern) > 16 || len(name) > 24 || strings.Count(pattern, "*") > 4 {
			return // the reference is exponential
		}
		if got, want := globMatch(pattern, name), matchPatternRef(name, pattern); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, OpenSSH says %v", pattern, name, got, want)
		}
	})
}
