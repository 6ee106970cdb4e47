package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-agent/vigil/internal/config"
)

const configManPath = "../../doc/vigil.toml.5"

// TestConfigManPageUpToDate fails when doc/vigil.toml.5 no longer matches
// what configFileDoc generates: run go test ./cmd/vigil -update-man.
func TestConfigManPageUpToDate(t *testing.T) {
	var b bytes.Buffer
	writeConfigMan(&b)
	if *updateMan {
		if err := os.WriteFile(configManPath, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile(configManPath)
	if err != nil {
		t.Fatalf("%v (generate it with: go test ./cmd/vigil -update-man)", err)
	}
	if !bytes.Equal(committed, b.Bytes()) {
		t.Fatal("doc/vigil.toml.5 is out of date with the config file's documentation: go test ./cmd/vigil -update-man")
	}
}

// TestConfigDocShared: vigil help check shows the same text as the man
// page, every key the page documents is one vigil reads, and the example
// is a valid file.
func TestConfigDocShared(t *testing.T) {
	code, help, _ := runVigil("help", "check")
	if code != 0 || !strings.Contains(help, configFileDoc) {
		t.Errorf("vigil help check does not show configFileDoc:\n%s", help)
	}
	var page bytes.Buffer
	writeConfigMan(&page)
	for _, l := range strings.Split(configFileDoc, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.Contains(page.String(), roff(l)) {
			t.Errorf("the man page lacks %q", l)
		}
	}
	if _, err := config.Parse(configExample); err != nil {
		t.Errorf("the man page's example is not a valid config: %v", err)
	}
	// Each "key = value" line of the reference, alone in its table, parses.
	table := ""
	for _, l := range strings.Split(configFileDoc, "\n") {
		l, _, _ = strings.Cut(strings.TrimSpace(l), "#")
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "["):
			table = l + "\n"
		case strings.Contains(l, " = "):
			text := table + l + "\n"
			if table == "[[rule]]\n" && !strings.HasPrefix(l, "action") {
				text += "action = \"ask\"\n"
			}
			if strings.HasPrefix(l, "key = \"SHA256:...\"") {
				continue // a placeholder, not a fingerprint
			}
			if _, err := config.Parse(text); err != nil && !strings.Contains(err.Error(), "rule 1") {
				t.Errorf("documented setting %q: %v", text, err)
			}
		}
	}
}

func TestConfigManPageRenders(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Fatal("groff not found: install groff-base (scripts/test.sh does)")
	}
	var b bytes.Buffer
	writeConfigMan(&b)
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("groff: %v\n%s", err, out)
	}
}

// TestConfigDocComplete: every key the config file may hold (the toml tags
// of internal/config) is documented, so that vigil.toml(5) stays whole as
// settings are added.
func TestConfigDocComplete(t *testing.T) {
	src, err := os.ReadFile("../../internal/config/config.go")
	if err != nil {
		t.Fatal(err)
	}
	tags := regexp.MustCompile("toml:\"([a-z_]+)\"").FindAllStringSubmatch(string(src), -1)
	if len(tags) < 10 {
		t.Fatalf("found only %d toml tags in internal/config/config.go", len(tags))
	}
	for _, m := range tags {
		name := m[1]
		if !strings.Contains(configFileDoc, "  "+name+" = ") && !strings.Contains(configFileDoc, "["+name+"]") {
			t.Errorf("config key %q is not documented in configFileDoc (vigil help check, vigil.toml(5))", name)
		}
	}
}
