package knownhosts

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// world is a set of keys and known_hosts files made by ssh-keygen.
type world struct {
	k     *kit
	keys  map[string]ssh.PublicKey
	plain string // plain known_hosts
	hash  string // hashed with ssh-keygen -H
	files []string
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if worldDir != "" {
		os.RemoveAll(worldDir)
	}
	os.Exit(code)
}

// sharedWorld makes the world once per test binary (key generation is the
// slow part); tests must not change its files.
func sharedWorld(t *testing.T) *world {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatal("ssh-keygen not installed (package openssh-client)")
	}
	worldOnce.Do(func() {
		dir, err := os.MkdirTemp("", "knownhosts-test-")
		if err != nil {
			t.Fatal(err)
		}
		worldDir = dir
		theWorld = newWorld(&kit{t: t, dir: dir})
	})
	if theWorld == nil {
		t.Fatal("making the test keys failed")
	}
	return theWorld
}

func newWorld(k *kit) *world {
	w := &world{k: k, keys: map[string]ssh.PublicKey{}}
	for _, name := range []string{"gh", "port", "pat", "multi", "rev", "ca", "other",
		"negself", "secret", "secretport", "host", "revca", "revhost", "plainhost", "ca2"} {
		w.keys[name] = k.key(name, "")
	}
	w.keys["gh2"] = k.key("gh2", "ecdsa")
	w.keys["rsaca"] = k.key("rsaca", "rsa")

	// Host certificates, all for the key "host" unless named otherwise.
	w.keys["cert"] = k.cert("ca", "host", "cert", "-h", "-n", "host.example.com")
	w.keys["cert-evil"] = k.cert("ca", "host", "cert-evil", "-h", "-n", "evil.test")
	w.keys["cert-any"] = k.cert("ca", "host", "cert-any", "-h")
	w.keys["cert-expired"] = k.cert("ca", "host", "cert-expired", "-h", "-n", "host.example.com", "-V", "20000101:20010101")
	w.keys["cert-future"] = k.cert("ca", "host", "cert-future", "-h", "-n", "host.example.com", "-V", "+52w:+104w")
	w.keys["cert-user"] = k.cert("ca", "host", "cert-user", "-n", "host.example.com")
	w.keys["cert-sha1"] = k.cert("rsaca", "host", "cert-sha1", "-t", "ssh-rsa", "-h", "-n", "host.example.net")
	w.keys["cert-sha2"] = k.cert("rsaca", "host", "cert-sha2", "-h", "-n", "host.example.net")
	w.keys["cert-ca2"] = k.cert("ca2", "plainhost", "cert-ca2", "-h", "-n", "plainhost.example")
	w.keys["cert-revca"] = k.cert("revca", "host", "cert-revca", "-h", "-n", "host.example.com")
	w.keys["cert-revhost"] = k.cert("ca", "revhost", "cert-revhost", "-h", "-n", "host.example.com")
	w.keys["cert-multi"] = k.cert("ca", "host", "cert-multi", "-h", "-n", "b.example.com,a.example.com,x.elsewhere")

	w.plain = k.write("known_hosts",
		"# a comment, then a blank line",
		"",
		"GitHub.com,140.82.121.4 "+k.line("gh"),
		"github.com "+k.line("gh2"),
		"[127.0.0.1]:2222 "+k.line("port"),
		"*.example.org,!bad.example.org "+k.line("pat"),
		"multi1.example,multi2.example "+k.line("multi"),
		"alt.example "+k.line("multi"),
		"r.example "+k.line("rev"),
		"@revoked * "+k.line("rev"),
		"neg.example,!neg.example "+k.line("negself"),
		"@cert-authority *.example.com "+k.line("ca"),
		"@cert-authority [*.example.com]:2222 "+k.line("ca"),
		"@cert-authority *.example.net "+k.line("rsaca"),
		"@cert-authority * "+k.line("revca"),
		"@revoked revoked.example "+k.line("revca"),
		"@revoked * "+k.line("revhost"),
		"plainhost.example "+k.line("plainhost"),
	)
	w.hash = k.write("known_hosts2",
		"secret.example "+k.line("secret"),
		"[secret.example]:2200 "+k.line("secretport"),
	)
	k.keygen("-H", "-f", "known_hosts2")
	w.files = []string{w.plain, w.hash}
	return w
}

func TestHashKnownHostsFormat(t *testing.T) {
	w := sharedWorld(t)
	data, err := os.ReadFile(w.hash)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("hashed file has %d lines, want 2:\n%s", len(lines), data)
	}
	for _, l := range lines {
		field, _, _ := strings.Cut(l, " ")
		h := parseHashed(field)
		if h == nil {
			t.Fatalf("ssh-keygen -H wrote %q, which does not parse as |1|salt|hash", field)
		}
		if strings.Contains(l, "secret.example") {
			t.Errorf("hashed line still names the host: %q", l)
		}
	}
	if h := parseHashed(strings.Fields(lines[0])[0]); !h.matches("secret.example") || h.matches("Secret.example") {
		t.Errorf("first hashed line should match exactly secret.example")
	}
}

func TestLookup(t *testing.T) {
	w := sharedWorld(t)
	tests := []struct {
		name       string
		key        string
		candidates []string
		want       Result // File and Line are not compared
	}{
		{"plain by key", "gh", nil,
			Result{Name: "github.com", Verified: true, Names: []string{"github.com", "140.82.121.4"}}},
		{"plain, candidate picks the name", "gh", []string{"140.82.121.4"},
			Result{Name: "140.82.121.4", Verified: true, Names: []string{"140.82.121.4", "github.com"}}},
		{"plain, unrelated candidate", "gh", []string{"evil.example"},
			Result{Name: "github.com", Verified: true, Names: []string{"github.com", "140.82.121.4"}}},
		{"second key of a host", "gh2", nil,
			Result{Name: "github.com", Verified: true, Names: []string{"github.com"}}},
		{"non-default port", "port", nil,
			Result{Name: "[127.0.0.1]:2222", Verified: true, Names: []string{"[127.0.0.1]:2222"}}},
		{"non-default port, bare candidate", "port", []string{"127.0.0.1"},
			Result{Name: "[127.0.0.1]:2222", Verified: true, Names: []string{"[127.0.0.1]:2222"}}},
		{"pattern, no candidate", "pat", nil, Result{}},
		{"pattern, matching candidate", "pat", []string{"www.example.org"},
			Result{Name: "www.example.org", Verified: true, Names: []string{"www.example.org"}}},
		{"pattern, candidate lowercased", "pat", []string{"WWW.Example.ORG"},
			Result{Name: "www.example.org", Verified: true, Names: []string{"www.example.org"}}},
		{"pattern, negated candidate", "pat", []string{"bad.example.org"}, Result{}},
		{"pattern, candidate with port", "pat", []string{"[www.example.org]:2222"}, Result{}},
		{"same key, several names", "multi", nil,
			Result{Name: "multi1.example", Verified: true, Names: []string{"multi1.example", "multi2.example", "alt.example"}}},
		{"same key, candidate first", "multi", []string{"alt.example"},
			Result{Name: "alt.example", Verified: true, Names: []string{"alt.example", "multi1.example", "multi2.example"}}},
		{"name cancelled by its own negation", "negself", []string{"neg.example"}, Result{}},
		{"revoked", "rev", []string{"r.example"}, Result{Revoked: true}},
		{"unknown key", "other", nil, Result{}},
		{"unknown key, known candidate", "other", []string{"github.com"}, Result{Changed: true}},
		{"known key, candidate known with other keys", "port", []string{"github.com"},
			Result{Name: "[127.0.0.1]:2222", Verified: true, Changed: true, Names: []string{"[127.0.0.1]:2222"}}},
		{"CA key as a plain host key", "ca", []string{"host.example.com"}, Result{}},

		{"hashed, no candidate", "secret", nil, Result{}},
		{"hashed, candidate", "secret", []string{"secret.example"},
			Result{Name: "secret.example", Verified: true, Names: []string{"secret.example"}}},
		{"hashed, candidate lowercased", "secret", []string{"Secret.EXAMPLE"},
			Result{Name: "secret.example", Verified: true, Names: []string{"secret.example"}}},
		{"hashed, wrong candidate", "secret", []string{"secret.example.", "[secret.example]:2200"}, Result{Changed: true}},
		{"hashed with port", "secretport", []string{"[secret.example]:2200"},
			Result{Name: "[secret.example]:2200", Verified: true, Names: []string{"[secret.example]:2200"}}},
		{"hashed with port, bare candidate", "secretport", []string{"secret.example"}, Result{Changed: true}},

		{"host cert, no candidate: named by its principal", "cert", nil,
			Result{Name: "host.example.com", Verified: true, Authority: true, Names: []string{"host.example.com"}}},
		{"host cert, candidate", "cert", []string{"host.example.com"},
			Result{Name: "host.example.com", Verified: true, Authority: true, Names: []string{"host.example.com"}}},
		{"host cert, candidate with port", "cert", []string{"[host.example.com]:2222"},
			Result{Name: "[host.example.com]:2222", Verified: true, Authority: true, Names: []string{"[host.example.com]:2222", "host.example.com"}}},
		{"host cert, several principals", "cert-multi", nil,
			Result{Name: "b.example.com", Verified: true, Authority: true, Names: []string{"b.example.com", "a.example.com"}}},
		{"host cert, principal outside the CA's names", "cert-evil", []string{"evil.test", "host.example.com"}, Result{}},
		{"host cert without principals, candidate", "cert-any", []string{"any.example.com"},
			Result{Name: "any.example.com", Verified: true, Authority: true, Names: []string{"any.example.com"}}},
		{"host cert without principals, no candidate", "cert-any", nil, Result{}},
		{"host cert without principals, candidate outside the CA's names", "cert-any", []string{"any.test"}, Result{}},
		{"expired host cert", "cert-expired", []string{"host.example.com"}, Result{}},
		{"host cert not yet valid", "cert-future", []string{"host.example.com"}, Result{}},
		{"user cert", "cert-user", []string{"host.example.com"}, Result{}},
		{"cert signed with ssh-rsa (SHA-1)", "cert-sha1", []string{"host.example.net"}, Result{}},
		{"cert signed with rsa-sha2-512", "cert-sha2", []string{"host.example.net"},
			Result{Name: "host.example.net", Verified: true, Authority: true, Names: []string{"host.example.net"}}},
		{"cert from an unknown CA falls back to its key", "cert-ca2", nil,
			Result{Name: "plainhost.example", Verified: true, Names: []string{"plainhost.example"}}},
		{"cert from a revoked CA", "cert-revca", []string{"host.example.com"}, Result{Revoked: true}},
		{"cert for a revoked key", "cert-revhost", []string{"host.example.com"}, Result{Revoked: true}},
	}
	var c Cache
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := w.keys[tt.key]
			if key == nil {
				t.Fatalf("no key %q", tt.key)
			}
			got := c.Lookup(key, w.files, tt.candidates)
			if got.Verified && (got.File == "" || got.Line == 0) || got.Revoked && got.Line == 0 {
				t.Errorf("result does not locate its line: %+v", got)
			}
			got.File, got.Line = "", 0
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Lookup(%s, %q)\n got %+v\nwant %+v", tt.key, tt.candidates, got, tt.want)
			}
		})
	}
}

func TestLookupWrappedKey(t *testing.T) {
	w := sharedWorld(t)
	cert := w.keys["cert"]
	wrapped := &agent.Key{Format: cert.Type(), Blob: cert.Marshal()}
	got := Lookup(wrapped, w.files, nil)
	if got.Name != "host.example.com" || !got.Authority {
		t.Errorf("certificate in an agent.Key: %+v", got)
	}
	if got := Lookup((*ssh.Certificate)(nil), w.files, nil); got.Verified {
		t.Errorf("nil certificate: %+v", got)
	}
}

func TestLookupLocatesLine(t *testing.T) {
	w := sharedWorld(t)
	got := Lookup(w.keys["multi"], w.files, []string{"alt.example"})
	if got.File != w.plain || got.Line != 8 {
		t.Errorf("alt.example found at %s:%d, want %s:8", got.File, got.Line, w.plain)
	}
	got = Lookup(w.keys["rev"], w.files, nil)
	if got.File != w.plain || got.Line != 10 {
		t.Errorf("revocation found at %s:%d, want %s:10", got.File, got.Line, w.plain)
	}
}

func TestRemoveWithSSHKeygen(t *testing.T) {
	shared := sharedWorld(t)
	k := newKit(t)
	w := &world{k: k, keys: shared.keys}
	for _, f := range shared.files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		w.files = append(w.files, k.write(filepath.Base(f), strings.TrimSuffix(string(data), "\n")))
	}
	w.plain, w.hash = w.files[0], w.files[1]
	var c Cache
	if got := c.Lookup(w.keys["gh"], w.files, nil); got.Name != "github.com" {
		t.Fatalf("before ssh-keygen -R: %+v", got)
	}
	w.k.keygen("-R", "github.com", "-f", w.plain)
	// ssh-keygen -R drops the whole line, which also named 140.82.121.4.
	if got := c.Lookup(w.keys["gh"], w.files, []string{"github.com"}); got.Verified {
		t.Errorf("after ssh-keygen -R github.com: %+v", got)
	}
	if got := c.Lookup(w.keys["gh2"], w.files, nil); got.Verified {
		t.Errorf("after ssh-keygen -R github.com, second key: %+v", got)
	}
	if got := c.Lookup(w.keys["port"], w.files, nil); got.Name != "[127.0.0.1]:2222" {
		t.Errorf("other lines should survive ssh-keygen -R: %+v", got)
	}

	w.k.keygen("-R", "secret.example", "-f", w.hash)
	if got := c.Lookup(w.keys["secret"], w.files, []string{"secret.example"}); got.Verified {
		t.Errorf("after ssh-keygen -R of a hashed host: %+v", got)
	}
	if got := c.Lookup(w.keys["secretport"], w.files, []string{"[secret.example]:2200"}); !got.Verified {
		t.Errorf("ssh-keygen -R secret.example should keep [secret.example]:2200: %+v", got)
	}
}

func TestBadLinesAreSkipped(t *testing.T) {
	k := newKit(t)
	good := k.key("good", "")
	line := k.line("good")
	typ, blob, _ := strings.Cut(line, " ")
	blob, _, _ = strings.Cut(blob, " ")
	path := k.write("known_hosts",
		"garbage",
		"@foo host1.example "+line,
		"@revoked",
		"@revoked @cert-authority host2.example "+line,
		"@cert-authority@revoked host2.example "+line,
		"host3.example",
		"host4.example "+typ,
		"host5.example ssh-rsa "+blob,
		"host6.example "+typ+" AAAA!!!notbase64",
		"host7.example "+typ+" "+blob[:len(blob)-8],
		"|1|bad|hash "+line,
		"|1|c2FsdA==|aGFzaA== "+line,
		"|2|"+strings.Repeat("A", 28)+"|aGFzaA== "+line,
		"@ host8.example "+line,
		" \t\x00host9.example "+line,
		"  good.example\t"+typ+"  "+blob+" trailing comment\r",
	)
	got := Lookup(good, []string{path}, nil)
	want := Result{Name: "good.example", Verified: true, Names: []string{"good.example"}, File: path, Line: 16}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestMarkers(t *testing.T) {
	keys := testdataKeys(t)
	ca := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(keys["ca"])))
	tabbed := strings.ReplaceAll(ca, " ", "\t")
	tests := []struct {
		line string
		ok   bool
		want marker
	}{
		{"@cert-authority * " + ca, true, markCA},
		{"@cert-authority\t*\t" + tabbed, true, markCA},
		{"@cert-authority\t* " + ca, false, 0}, // OpenSSH: invalid marker
		{"@revoked * " + ca, true, markRevoked},
		{"@revoked\t* " + ca, true, markRevoked}, // OpenSSH skips it; a revocation is kept
		{"@Revoked * " + ca, false, 0},
		{"@revoked", false, 0},
		{"@revoked @revoked * " + ca, false, 0},
		{"* " + ca, true, markNone},
	}
	for _, tt := range tests {
		e, ok := parseLine([]byte(tt.line))
		if ok != tt.ok || e.marker != tt.want {
			t.Errorf("parseLine(%.30q) = marker %d, %v; want %d, %v", tt.line, e.marker, ok, tt.want, tt.ok)
		}
	}
}

func TestFilesThatCannotBeRead(t *testing.T) {
	k := newKit(t)
	key := k.key("h", "")
	good := k.write("known_hosts", "h.example "+k.line("h"))
	files := []string{
		"",
		"relative/known_hosts",
		k.path("missing"),
		k.dir, // a directory
		"/dev/null",
		good,
		good, // a repeat
	}
	got := Lookup(key, files, nil)
	if got.Name != "h.example" || got.File != good {
		t.Errorf("got %+v", got)
	}
	if got := Lookup(key, nil, nil); got.Verified {
		t.Errorf("no files: %+v", got)
	}
	if got := Lookup(nil, files, []string{"h.example"}); got.Verified {
		t.Errorf("nil key: %+v", got)
	}
}

func TestFileTooBig(t *testing.T) {
	k := newKit(t)
	key := k.key("h", "")
	good := k.write("known_hosts", "h.example "+k.line("h"))
	big := k.path("big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxFileSize + 1); err != nil { // sparse
		t.Fatal(err)
	}
	f.Close()
	if got := Lookup(key, []string{good, big}, nil); got.Verified || got.Name != "" {
		t.Errorf("a file too big to check completely must make the key unknown: %+v", got)
	}
	if got := Lookup(key, []string{good}, nil); !got.Verified {
		t.Errorf("without the big file: %+v", got)
	}
}

func TestCache(t *testing.T) {
	k := newKit(t)
	a, b := k.key("a", ""), k.key("b", "")
	path := k.write("known_hosts", "a.example "+k.line("a"))
	var c Cache
	for i := 0; i < 3; i++ {
		if got := c.Lookup(a, []string{path}, nil); got.Name != "a.example" {
			t.Fatalf("lookup %d: %+v", i, got)
		}
	}
	if c.parsed != 1 {
		t.Fatalf("parsed %d times for 3 lookups of an unchanged file, want 1", c.parsed)
	}

	// Same size, same path, new contents and a new mtime.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	k.write("known_hosts", "b.example "+k.line("b"))
	if err := os.Chtimes(path, time.Time{}, fi.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := c.Lookup(b, []string{path}, nil); got.Name != "b.example" {
		t.Fatalf("after rewrite: %+v", got)
	}
	if got := c.Lookup(a, []string{path}, nil); got.Verified {
		t.Fatalf("after rewrite, old key: %+v", got)
	}
	if c.parsed != 2 {
		t.Fatalf("parsed %d times, want 2", c.parsed)
	}

	// Same mtime, new size.
	fi, err = os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	k.write("known_hosts", "b.example,b2.example "+k.line("b"))
	if err := os.Chtimes(path, time.Time{}, fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if got := c.Lookup(b, []string{path}, nil); len(got.Names) != 2 {
		t.Fatalf("after growing: %+v", got)
	}

	// Replaced by rename with identical size and mtime: a new file.
	fi, err = os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	other := k.write("new", "a.example,b2.example "+k.line("a"))
	if err := os.Chtimes(other, time.Time{}, fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	if got := c.Lookup(a, []string{path}, nil); got.Name != "a.example" {
		t.Fatalf("after rename over: %+v", got)
	}

	// Removed: forgotten.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got := c.Lookup(a, []string{path}, nil); got.Verified {
		t.Fatalf("after remove: %+v", got)
	}
	c.mu.Lock()
	n := len(c.files)
	c.mu.Unlock()
	if n != 0 {
		t.Errorf("cache holds %d files after the only one was removed", n)
	}
}

func TestCacheBounded(t *testing.T) {
	k := newKit(t)
	key := k.key("h", "")
	var c Cache
	for i := 0; i < maxCachedFile*2+3; i++ {
		p := k.write(fmt.Sprintf("kh%d", i), fmt.Sprintf("h%d.example %s", i, k.line("h")))
		if got := c.Lookup(key, []string{p}, nil); got.Name != fmt.Sprintf("h%d.example", i) {
			t.Fatalf("file %d: %+v", i, got)
		}
	}
	if n := len(c.files); n > maxCachedFile {
		t.Errorf("cache holds %d files, limit %d", n, maxCachedFile)
	}
}

func TestConcurrentLookups(t *testing.T) {
	w := sharedWorld(t)
	var c Cache
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if got := c.Lookup(w.keys["gh"], w.files, nil); got.Name != "github.com" {
					t.Errorf("got %+v", got)
					return
				}
				if got := c.Lookup(w.keys["secret"], w.files, []string{"secret.example"}); got.Name != "secret.example" {
					t.Errorf("got %+v", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestDefaultFiles(t *testing.T) {
	got := DefaultFiles("/home/u")
	want := []string{"/home/u/.ssh/known_hosts", "/home/u/.ssh/known_hosts2",
		"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}
	if !slices.Equal(got, want) {
		t.Errorf("DefaultFiles = %q, want %q", got, want)
	}
	if got := DefaultFiles(""); !slices.Equal(got, want[2:]) {
		t.Errorf(`DefaultFiles("") = %q`, got)
	}
}

// matchPatternRef is OpenSSH's match_pattern, transcribed: the reference for
// globMatch (exponential in the worst case, so for short inputs only).
func matchPatternRef(s, pattern string) bool {
	for {
		if pattern == "" {
			return s == ""
		}
		if pattern[0] == '*' {
			for pattern != "" && pattern[0] == '*' {
				pattern = pattern[1:]
			}
			if pattern == "" {
				return true
			}
			if pattern[0] != '?' && pattern[0] != '*' {
				for ; s != ""; s = s[1:] {
					if s[0] == pattern[0] && matchPatternRef(s[1:], pattern[1:]) {
						return true
					}
				}
				return false
			}
			for ; s != ""; s = s[1:] {
				if matchPatternRef(s, pattern) {
					return true
				}
			}
			return false
		}
		if s == "" {
			return false
		}
		if pattern[0] != '?' && pattern[0] != s[0] {
			return false
		}
		s, pattern = s[1:], pattern[1:]
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything", true},
		{"?", "", false},
		{"?", "a", true},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "a.b.example.com", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbYcZ", false},
		{"[*]:2222", "[h]:2222", true},
		{"[*]:2222", "[h]:22", false},
		{"1?.0.0.1", "10.0.0.1", true},
		{"*a*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 60), false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.name); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
		if len(tt.name) < 30 {
			if ref := matchPatternRef(tt.name, tt.pattern); ref != tt.want {
				t.Errorf("reference disagrees on (%q, %q)", tt.pattern, tt.name)
			}
		}
	}
}

func TestMatchList(t *testing.T) {
	long := strings.Repeat("a", maxSubpattern+1)
	tests := []struct {
		name, list string
		want       int
	}{
		{"a.example", "a.example", 1},
		{"a.example", "A.Example", 1},
		{"a.example", "b.example,a.example", 1},
		{"a.example", "*.example,!a.example", -1},
		{"a.example", "!a.example,*.example", -1},
		{"b.example", "*.example,!a.example", 1},
		{"c.other", "*.example,!a.example", 0},
		{"", "a,,b", 1},
		{"a", "a," + long, 0},
		{"a", "a,!" + long, 0},
		{"a", "a," + long[1:], 1},
	}
	for _, tt := range tests {
		if got := matchList(tt.name, tt.list); got != tt.want {
			t.Errorf("matchList(%q, %.40q) = %d, want %d", tt.name, tt.list, got, tt.want)
		}
	}
}

func TestLiteralNames(t *testing.T) {
	tests := []struct {
		list string
		want []string
	}{
		{"a.example,B.example", []string{"a.example", "b.example"}},
		{"*.example,!a.example,a.example,c.example", []string{"c.example"}},
		{"!*,a.example", nil},
		{"a?.example,[h]:22,,|x", []string{"[h]:22"}},
		{"a," + strings.Repeat("b", maxSubpattern+1), nil},
	}
	for _, tt := range tests {
		if got := literalNames(tt.list); !slices.Equal(got, tt.want) {
			t.Errorf("literalNames(%.40q) = %q, want %q", tt.list, got, tt.want)
		}
	}
}

func TestHugeHostFieldNeverMatches(t *testing.T) {
	k := newKit(t)
	key := k.key("h", "")
	field := "h.example," + strings.Repeat("x,", maxHostField/2)
	path := k.write("known_hosts", field+" "+k.line("h"), "@revoked "+field+" "+k.line("h"))
	if got := Lookup(key, []string{path}, []string{"h.example"}); !got.Revoked {
		t.Errorf("a @revoked line counts whatever its host field: %+v", got)
	}
	path = k.write("known_hosts", field+" "+k.line("h"))
	if got := Lookup(key, []string{path}, []string{"h.example"}); got.Verified {
		t.Errorf("overlong host field matched: %+v", got)
	}
}

// BenchmarkLookup looks a key up among 5,000 hashed lines and 1,000 plain
// ones, with a candidate that forces a hash of every line.
func BenchmarkLookup(b *testing.B) {
	keys := testdataKeys(b)
	other := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(keys["other"])))
	var lines []string
	for i := 0; i < 5000; i++ {
		lines = append(lines, knownhosts.HashHostname(fmt.Sprintf("h%d.example", i))+" "+other)
	}
	for i := 0; i < 1000; i++ {
		lines = append(lines, fmt.Sprintf("p%d.example,192.0.2.%d %s", i, i%256, other))
	}
	lines = append(lines, "host.example.com "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(keys["host"]))))
	path := filepath.Join(b.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		b.Fatal(err)
	}
	var c Cache
	files := []string{path}
	cands := []string{"unknown.example"}
	if got := c.Lookup(keys["host"], files, cands); got.Name != "host.example.com" {
		b.Fatalf("got %+v", got)
	}
	b.ResetTimer()
	for b.Loop() {
		c.Lookup(keys["host"], files, cands)
	}
}
