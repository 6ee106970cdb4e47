//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// stagePackages are the Go benchmarks of each stage of a sign request, by
// package, run by the side-by-side benchmark so that one command reports
// the whole and its parts.
var stagePackages = []struct{ pkg, bench string }{
	{"./internal/caller", "^(BenchmarkFromConn|BenchmarkExeHashCached)$"},
	{"./internal/intent", "^BenchmarkParse$"},
	{"./internal/policy", "^(BenchmarkDecide|BenchmarkGrantMatch)$"},
	{"./internal/audit", "^BenchmarkAppend$/^group$"},
	{"./internal/agent", "^(BenchmarkSignAllowedByRule|BenchmarkTimeToPrompt)$"},
}

// stageResult is one line of go test -bench output.
type stageResult struct {
	Package string  `json:"package"`
	Name    string  `json:"name"`
	NsOp    float64 `json:"ns_per_op"`
	// Where the benchmark reports them: CPU time, and latency percentiles.
	CPUNsOp float64 `json:"cpu_ns_per_op,omitempty"`
	P50us   float64 `json:"p50_us,omitempty"`
	P99us   float64 `json:"p99_us,omitempty"`
}

// runStages runs the stage benchmarks in the module at root.
func runStages(ctx context.Context, root string, benchtime time.Duration, progress func(string, ...any)) ([]stageResult, error) {
	var out []stageResult
	for _, s := range stagePackages {
		progress("stage benchmarks: %s", s.pkg)
		cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-count", "1",
			"-bench", s.bench, "-benchtime", benchtime.String(), s.pkg)
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go test -bench %s: %v\n%s%s", s.pkg, err, b, stderr.Bytes())
		}
		res, err := parseBenchOutput(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.pkg, err)
		}
		for i := range res {
			res[i].Package = strings.TrimPrefix(s.pkg, "./")
		}
		out = append(out, res...)
	}
	return out, nil
}

// parseBenchOutput reads "BenchmarkX-2  N  123 ns/op  456 cpu-ns/op ..."
// lines, dropping the -GOMAXPROCS suffix from the name.
func parseBenchOutput(r io.Reader) ([]stageResult, error) {
	var out []stageResult
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		res := stageResult{Name: strings.TrimPrefix(name, "Benchmark")}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark line %q: %v", sc.Text(), err)
			}
			switch f[i+1] {
			case "ns/op":
				res.NsOp = v
			case "cpu-ns/op":
				res.CPUNsOp = v
			case "p50-µs":
				res.P50us = v
			case "p99-µs":
				res.P99us = v
			}
		}
		out = append(out, res)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no benchmark results")
	}
	return out, sc.Err()
}

// decisionScaling is the decision time (indexed rules, then the grant
// lookup) with 1,000 rules and 10,000 grants, over the same with one of
// each: the "within 2× of one rule".
func decisionScaling(res []stageResult) (one, many, ratio float64, ok bool) {
	ns := map[string]float64{}
	for _, r := range res {
		ns[r.Name] = r.NsOp
	}
	d1, ok1 := ns["Decide/1rules"]
	d1000, ok2 := ns["Decide/1000rules"]
	g1, ok3 := ns["GrantMatch/hit/1"]
	g10000, ok4 := ns["GrantMatch/hit/10000"]
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, 0, 0, false
	}
	one, many = d1+g1, d1000+g10000
	return one, many, many / one, true
}

func writeStages(w io.Writer, res []stageResult) {
	if len(res) == 0 {
		return
	}
	fmt.Fprintf(w, "\n## Cost of each stage of a request (Go benchmarks, in process)\n\n")
	t := table{head: []string{"package", "benchmark", "ns/op", "CPU ns/op", "p50", "p99"}, left: 2}
	// Not every benchmark measures CPU time or percentiles.
	opt := func(v float64, format string) string {
		if v <= 0 {
			return ""
		}
		return fmt.Sprintf(format, v)
	}
	for _, r := range res {
		t.rows = append(t.rows, []string{r.Package, r.Name, fmt.Sprintf("%.0f", r.NsOp), opt(r.CPUNsOp, "%.0f"),
			opt(r.P50us, "%.0f µs"), opt(r.P99us, "%.0f µs")})
	}
	t.write(w)
	if one, many, ratio, ok := decisionScaling(res); ok {
		fmt.Fprintf(w, "\nDecision (rule lookup + grant lookup): %.0f ns with 1 rule and 1 grant, %.0f ns with 1,000 rules "+
			"and 10,000 grants: %.2f×.\n", one, many, ratio)
	}
}
