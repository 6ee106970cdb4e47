//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// The benchmark re-executes its own binary, here the test binary, as
	// the keyring agent.
	if len(os.Args) > 1 && os.Args[1] == "-serve-keyring" {
		main()
	}
	os.Exit(m.Run())
}

// TestQuick runs the whole benchmark in -quick mode against all three
// agents and checks that every cell of every table has a figure: it catches a
// benchmark broken by a change in vigil, not a slow one.
//
// It builds ./cmd/vigil, unless VIGIL_E2E_VIGIL names a prebuilt binary (as
// for the e2e tests), which saves the build on a cold cache.
func TestQuick(t *testing.T) {
	if _, err := exec.LookPath("/usr/bin/ssh-agent"); err != nil {
		t.Fatal("/usr/bin/ssh-agent not found: install the Debian package openssh-client")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	jsonPath := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	start := time.Now()
	args := []string{"-quick", "-q", "-json", jsonPath}
	if bin := os.Getenv("VIGIL_E2E_VIGIL"); bin != "" {
		args = append(args, "-vigil", bin)
	}
	code := run(ctx, args, &stdout, &stderr)
	t.Logf("quick benchmark took %v", time.Since(start).Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s\nstdout:\n%s", code, stderr.String(), stdout.String())
	}
	table := stdout.String()
	if strings.Contains(table, missing) || strings.Contains(table, "errors") || strings.Contains(table, "## Warnings") {
		t.Errorf("the table has missing figures or warnings:\n%s", table)
	}

	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	// -quick: 4 operations × 2 client counts × 2 connection modes.
	if len(rep.Cells) != 16 {
		t.Errorf("%d cells, want 16", len(rep.Cells))
	}
	for _, c := range rep.Cells {
		for _, name := range agentNames {
			m := c.Results[name]
			if m == nil {
				t.Errorf("%s %d %s: no result for %s", c.Op, c.Clients, c.Mode, name)
				continue
			}
			if !m.valid() || m.OpsPerSec <= 0 || m.P50us <= 0 || m.P99us < m.P50us || m.CPUus <= 0 ||
				m.RSSBeforeKiB <= 0 || m.RSSAfterKiB <= 0 {
				t.Errorf("%s %d %s, %s: incomplete figures %+v", c.Op, c.Clients, c.Mode, name, *m)
			}
			if got := len(c.Ratios[name]); got != len(metrics) {
				t.Errorf("%s %d %s, %s: %d ratios, want %d", c.Op, c.Clients, c.Mode, name, got, len(metrics))
			}
		}
	}
	for _, name := range agentNames {
		m := rep.Memory[name]
		if m == nil || len(m.Rounds) != 3 {
			t.Errorf("memory check of %s: %+v, want 3 rounds", name, m)
			continue
		}
		for i, r := range m.Rounds {
			if r.RSSKiB <= 0 || r.Errors > 0 {
				t.Errorf("memory check of %s, round %d: %+v", name, i+1, r)
			}
		}
	}
	if _, _, _, ok := decisionScaling(rep.Stages); !ok {
		t.Errorf("stage benchmarks lack the decision figures: %+v", rep.Stages)
	}
	for _, want := range []string{"FromConn", "Parse/sshsig", "Append/group", "SignAllowedByRule/audit", "TimeToPrompt"} {
		if !slices.ContainsFunc(rep.Stages, func(r stageResult) bool { return r.Name == want }) {
			t.Errorf("no stage benchmark %s in %+v", want, rep.Stages)
		}
	}
	if t.Failed() {
		t.Logf("stderr:\n%s\ntable:\n%s", stderr.String(), table)
	}
}

func TestPercentiles(t *testing.T) {
	lat := make([]int64, 0, 100)
	for i := 100; i >= 1; i-- {
		lat = append(lat, int64(i)*1000)
	}
	p50, p99 := percentiles(lat)
	if p50 != 50 || p99 != 99 {
		t.Errorf("percentiles of 1..100 µs = %v, %v; want 50, 99", p50, p99)
	}
	if p50, p99 := percentiles([]int64{7000}); p50 != 7 || p99 != 7 {
		t.Errorf("percentiles of one sample = %v, %v; want 7, 7", p50, p99)
	}
}

func TestPermutations(t *testing.T) {
	perms := permutations(agentNames)
	if len(perms) != 6 {
		t.Fatalf("%d permutations of 3, want 6", len(perms))
	}
	first := map[string]int{}
	seen := map[string]bool{}
	for _, p := range perms {
		first[p[0]]++
		seen[strings.Join(p, ",")] = true
	}
	if len(seen) != 6 {
		t.Errorf("permutations repeat: %v", perms)
	}
	for _, name := range agentNames {
		if first[name] != 2 {
			t.Errorf("%s goes first %d times in %v, want 2", name, first[name], perms)
		}
	}
}

func TestParseBenchOutput(t *testing.T) {
	out := "goos: linux\nBenchmarkFromConn-2   \t 6186\t 192035 ns/op\t 56739 cpu-ns/op\t 584 B/op\t 18 allocs/op\n" +
		"BenchmarkDecide/1rules-16 100 64.5 ns/op\nPASS\n"
	got, err := parseBenchOutput(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []stageResult{{Name: "FromConn", NsOp: 192035, CPUNsOp: 56739}, {Name: "Decide/1rules", NsOp: 64.5}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseBenchOutput(strings.NewReader("PASS\n")); err == nil {
		t.Error("no results: no error")
	}
}
