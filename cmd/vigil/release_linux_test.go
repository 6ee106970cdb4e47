package main

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestReleaseBuild runs scripts/release.sh for this machine's Linux
// architecture and checks what a user downloads: a static binary (no
// program interpreter, no shared libraries) that reports the version it was
// built with, and a SHA256SUMS line that matches it.
func TestReleaseBuild(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the release script runs go build: go is not in PATH: %v", err)
	}
	out := t.TempDir()
	const version = "v9.8.7-test+1"
	platform := "linux/" + runtime.GOARCH
	cmd := exec.Command("sh", filepath.Join("..", "..", "scripts", "release.sh"), "-v", version, "-o", out, platform)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release.sh: %v\n%s", err, b)
	}
	name := "vigil-" + version + "-linux-" + runtime.GOARCH
	bin := filepath.Join(out, name)

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %v program header: not a static binary", name, p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v (err %v)", name, libs, err)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s has a symbol table: not built with -s", name)
	}

	for _, args := range [][]string{{"--version"}, {"version"}} {
		got, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("%s %s: %v", name, args[0], err)
		}
		if want := "vigil " + version + "\n"; string(got) != want {
			t.Errorf("%s %s printed %q, want %q", name, args[0], got, want)
		}
	}

	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	if want := hex.EncodeToString(sum[:]) + "  " + name + "\n"; string(sums) != want {
		t.Errorf("SHA256SUMS is %q, want %q", sums, want)
	}
	// -trimpath: no path of the build machine in the binary.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if root := filepath.Dir(filepath.Dir(wd)); strings.Contains(string(content), root) {
		t.Errorf("%s contains the checkout path %s: not built with -trimpath", name, root)
	}
}
