package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var updateMan = flag.Bool("update-man", false, "rewrite doc/vigil.1 from the command table")

const manPath = "../../doc/vigil.1"

// TestManPageUpToDate fails when doc/vigil.1 no longer matches what the
// command table generates: run go test ./cmd/vigil -update-man.
func TestManPageUpToDate(t *testing.T) {
	var b bytes.Buffer
	writeMan(&b)
	if *updateMan {
		if err := os.MkdirAll(filepath.Dir(manPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(manPath, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile(manPath)
	if err != nil {
		t.Fatalf("%v (generate it with: go test ./cmd/vigil -update-man)", err)
	}
	if !bytes.Equal(committed, b.Bytes()) {
		t.Fatal("doc/vigil.1 is out of date with the commands' help: go test ./cmd/vigil -update-man")
	}
}

// TestManPageMentionsEveryFlag checks the page documents every command and
// flag, and that man itself renders it without complaint.
func TestManPageMentionsEveryFlag(t *testing.T) {
	var b bytes.Buffer
	writeMan(&b)
	page := b.String()
	for _, c := range commands {
		if !strings.Contains(page, ".SS vigil "+c.name) {
			t.Errorf("no section for vigil %s", c.name)
		}
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.setup(fs)
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(page, ".B \\-"+roff(f.Name)) {
				t.Errorf("vigil %s -%s is not in the man page", c.name, f.Name)
			}
		})
	}
	for _, s := range []string{"ENVIRONMENT", "FILES", "EXIT STATUS"} {
		if !strings.Contains(page, ".SH "+s) {
			t.Errorf("no %s section", s)
		}
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Fatal("groff not found: install groff-base (scripts/test.sh does)")
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("groff: %v\n%s", err, out)
	}
}
