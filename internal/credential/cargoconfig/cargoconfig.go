// Package cargoconfig finds a cargo registry's index URL from its name, as
// cargo itself does, so that vigil keys what it stores for "--registry NAME"
// on exactly the index-url cargo later sends its credential provider.
//
// cargo looks a registry up in CARGO_REGISTRIES_<NAME>_INDEX, then in
// [registries.NAME] index of its config files: .cargo/config.toml in the
// current directory and each parent, nearest first, then
// $CARGO_HOME/config.toml. In each directory the legacy name "config" wins
// over "config.toml", as cargo has it. crates-io is built in, and its
// index-url is the git URL even though cargo reads it over the sparse
// protocol (captured from cargo 1.95: see cargo-credential.md).
package cargoconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// CratesIO is the name cargo gives crates.io, and CratesIOIndexURL the
// index-url it sends for it.
const (
	CratesIO         = "crates-io"
	CratesIOIndexURL = "https://github.com/rust-lang/crates.io-index"
)

// Where is what cargo would read besides the files: the caller (cmd) fills
// it from the process's environment and working directory.
type Where struct {
	// Getenv returns an environment variable ("" when unset).
	Getenv func(string) string
	// Dir is the directory cargo would run in; its .cargo/config.toml and
	// its parents' are read.
	Dir string
	// CargoHome is $CARGO_HOME, or ~/.cargo when it is unset.
	CargoHome string
}

// IndexURL returns the index-url cargo sends its credential provider for the
// registry called name.
func IndexURL(name string, w Where) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	if name == CratesIO {
		return CratesIOIndexURL, nil
	}
	env := EnvVar(name)
	if v := w.Getenv(env); v != "" {
		u, err := Canonical(v)
		if err != nil {
			return "", fmt.Errorf("registry %s: %s: %w", name, env, err)
		}
		return u, nil
	}
	files, err := configFiles(w.Dir, w.CargoHome)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		index, ok, err := registryIndex(f, name)
		if err != nil {
			return "", err
		}
		if ok {
			u, err := Canonical(index)
			if err != nil {
				return "", fmt.Errorf("registry %s: index in %s: %w", name, f, err)
			}
			return u, nil
		}
	}
	read := "no cargo config file"
	if len(files) > 0 {
		read = "read " + strings.Join(files, ", ")
	}
	return "", fmt.Errorf("no registry %s in cargo's configuration: %s not set, and no [registries.%s] index (%s)", name, env, name, read)
}

// EnvVar is the environment variable that gives the index of the registry
// called name: CARGO_REGISTRIES_<NAME>_INDEX, upper-cased, "-" as "_".
func EnvVar(name string) string {
	return "CARGO_REGISTRIES_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_INDEX"
}

// checkName accepts the names cargo accepts for a registry that can be
// spelled in an environment variable: ASCII letters, digits, "-" and "_".
func checkName(name string) error {
	if name == "" {
		return errors.New("empty registry name")
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("registry name %q: only letters, digits, - and _", name)
		}
	}
	return nil
}

// configFiles lists cargo's config files, nearest first: in each of dir and
// its parents, then cargoHome unless already seen.
func configFiles(dir, cargoHome string) ([]string, error) {
	var files []string
	seen := map[string]bool{}
	add := func(d string) {
		if f := configIn(d); f != "" && !seen[f] {
			seen[f] = true
			files = append(files, f)
		}
	}
	if dir != "" {
		dir, err := filepath.Abs(dir)
		if err != nil {
			return nil, err
		}
		for {
			add(filepath.Join(dir, ".cargo"))
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if cargoHome != "" {
		home, err := filepath.Abs(cargoHome)
		if err != nil {
			return nil, err
		}
		add(home)
	}
	return files, nil
}

// configIn is the config file cargo reads in dir: "config" if it exists,
// else "config.toml", else "". Like cargo, a file that cannot be looked at
// counts as absent.
func configIn(dir string) string {
	for _, name := range []string{"config", "config.toml"} {
		f := filepath.Join(dir, name)
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			return f
		}
	}
	return ""
}

// registryIndex reads [registries.NAME] index from the config file f.
func registryIndex(f, name string) (string, bool, error) {
	var c struct {
		Registries map[string]struct {
			Index *string `toml:"index"`
		} `toml:"registries"`
	}
	if _, err := toml.DecodeFile(f, &c); err != nil {
		return "", false, fmt.Errorf("cargo config %s: %w", f, err)
	}
	r, ok := c.Registries[name]
	if !ok || r.Index == nil {
		return "", false, nil
	}
	return *r.Index, true, nil
}
