package cargoconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The expected index-urls in these tables are what cargo 1.95 sent its
// credential provider for the same config (cargo logout --registry NAME, a
// provider that logged its request).
func TestCanonical(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{in: "sparse+http://127.0.0.1:8765/index/", want: "sparse+http://127.0.0.1:8765/index/"},
		{in: "sparse+HTTP://LocalHost:80/index/", want: "sparse+http://LocalHost:80/index/"},
		{in: "http://Example.com", want: "http://example.com/"},
		{in: "HTTPS://Example.COM:443/Index?x#y", want: "https://example.com/Index?x#y"},
		{in: "http://example.com:0080", want: "http://example.com/"},
		{in: "https://example.com:8443", want: "https://example.com:8443/"},
		{in: "ssh://git@Example.com/index", want: "ssh://git@Example.com/index"},
		{in: "file:///srv/Index", want: "file:///srv/Index"},
		{in: "http://[::0001]:80/", want: "http://[::1]/"},
		{in: "sparse+http://127.0.0.1:8765/index", err: "sparse registry url must end in a slash"},
		{in: "https://user:pw@example.com/", err: "may not contain passwords"},
		{in: "example.com/index/", err: "not an absolute URL"},
		{in: "git@github.com:org/index", err: "not an absolute URL"},
		{in: "mailto:x@example.com", err: "not an absolute URL"},
		{in: "https:///index/", err: "has no host"},
		{in: "https://example.com/a b/", err: "would be rewritten"},
		{in: "https://exämple.com/", err: "would be rewritten"},
		{in: "https://example.com/a/../b/", err: "dot segments"},
		{in: "sparse+https://example.com/a/%2E/", err: "dot segments"},
		{in: "https://example.com:99999/", err: "port"},
		{in: "https://@example.com/x", err: "empty user name"},
		{in: "ssh://@example.com/index", err: "empty user name"},
		{in: "https://127.1/", err: "IPv4 host"},
		{in: "https://127.0.0.1./", err: "IPv4 host"},
		{in: "http://0x7f.0.0.1/", err: "IPv4 host"},
		{in: "http://2130706433/", err: "IPv4 host"},
		{in: "http://127.0.0.01/", err: "IPv4 host"},
		{in: "http://1.2.3.0x/", err: "IPv4 host"},
		{in: "http://256.0.0.1/", err: "IPv4 host"},
		{in: "https://127.0.0.1:8443/index", want: "https://127.0.0.1:8443/index"},
		{in: "https://v1.example.com2/", want: "https://v1.example.com2/"},
		{in: "sparse+http://127.1/index/", want: "sparse+http://127.1/index/"},
	} {
		got, err := Canonical(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Canonical(%q) = %q, %v; want an error saying %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestIndexURL(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "cargo-home")
	proj := filepath.Join(root, "ws", "proj")
	sub := filepath.Join(proj, "sub")
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(home, "config.toml"), `
[registries.fake]
index = "sparse+http://127.0.0.1:8765/home/"
[registries.my-reg]
index = "sparse+http://127.0.0.1:8765/myreg/"
[registries.noindex]
credential-provider = ["vigil"]
[registries.bad]
index = "sparse+http://127.0.0.1:8765/noslash"
`)
	// The workspace's config is nearer than CARGO_HOME's, the project's
	// nearer still; in the project "config" wins over "config.toml".
	write(t, filepath.Join(root, "ws", ".cargo", "config.toml"), "registries.fake.index = \"sparse+http://127.0.0.1:8765/ws/\"\nregistries.ws.index = \"HTTP://WS.example\"\n")
	write(t, filepath.Join(proj, ".cargo", "config"), "[registries.legacy]\nindex = \"sparse+http://127.0.0.1:8765/legacy/\"\n")
	write(t, filepath.Join(proj, ".cargo", "config.toml"), "[registries.legacy]\nindex = \"sparse+http://127.0.0.1:8765/ignored/\"\n")

	env := map[string]string{"CARGO_REGISTRIES_MY_REG_INDEX": "sparse+http://env.example/x/"}
	w := Where{Getenv: func(k string) string { return env[k] }, Dir: sub, CargoHome: home}
	for _, tt := range []struct{ name, want, err string }{
		{name: "fake", want: "sparse+http://127.0.0.1:8765/ws/"},
		{name: "ws", want: "http://ws.example/"},
		{name: "legacy", want: "sparse+http://127.0.0.1:8765/legacy/"},
		{name: "my-reg", want: "sparse+http://env.example/x/"},
		{name: "crates-io", want: "https://github.com/rust-lang/crates.io-index"},
		{name: "bad", err: "must end in a slash"},
		{name: "noindex", err: "no registry noindex in cargo's configuration: CARGO_REGISTRIES_NOINDEX_INDEX not set, and no [registries.noindex] index (read " +
			filepath.Join(proj, ".cargo", "config") + ", " + filepath.Join(root, "ws", ".cargo", "config.toml") + ", " + filepath.Join(home, "config.toml") + ")"},
		{name: "nope", err: "no registry nope"},
		{name: "a.b", err: "only letters, digits"},
		{name: "", err: "empty registry name"},
	} {
		got, err := IndexURL(tt.name, w)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("IndexURL(%q) = %q, %v; want an error saying %q", tt.name, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("IndexURL(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}

	// Outside the workspace only CARGO_HOME's file is read; a broken one
	// is an error that names it.
	w.Dir = root
	if got, err := IndexURL("fake", w); err != nil || got != "sparse+http://127.0.0.1:8765/home/" {
		t.Errorf("from %s: %q, %v", root, got, err)
	}
	w.CargoHome = filepath.Join(root, "empty")
	if _, err := IndexURL("fake", w); err == nil || !strings.Contains(err.Error(), "(no cargo config file)") {
		t.Errorf("with no config file: %v", err)
	}
	write(t, filepath.Join(root, ".cargo", "config.toml"), "[registries\n")
	if _, err := IndexURL("fake", w); err == nil || !strings.Contains(err.Error(), filepath.Join(root, ".cargo", "config.toml")) {
		t.Errorf("a broken config file: %v", err)
	}
}
