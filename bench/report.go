//go:build linux

package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// metric is one figure of a measurement, as tabulated and as a ratio.
type metric struct {
	key, title string
	value      func(*measurement) float64
	format     func(float64) string
}

var metrics = []metric{
	{"ops_per_s", "Throughput, requests/s (higher is better)",
		func(m *measurement) float64 { return m.OpsPerSec }, fmtCount},
	{"p50_us", "Latency p50 (lower is better)",
		func(m *measurement) float64 { return m.P50us }, fmtMicros},
	{"p99_us", "Latency p99 (lower is better)",
		func(m *measurement) float64 { return m.P99us }, fmtMicros},
	{"cpu_us_per_op", "Agent CPU per request (lower is better)",
		func(m *measurement) float64 { return m.CPUus }, fmtMicros},
	{"client_cpu_us_per_op", "Benchmark clients' CPU per request (they share the agent's cores)",
		func(m *measurement) float64 { return m.ClientCPUus }, fmtMicros},
	{"rss_after_kib", "Agent RSS, KiB before → after the cell (ratio of after)",
		func(m *measurement) float64 { return float64(m.RSSAfterKiB) }, fmtCount},
}

// ratios divides each agent's figures by ssh-agent's; a figure is left out
// when either side has no valid measurement.
func ratios(results map[string]*measurement) map[string]map[string]float64 {
	base := results[nameOpenSSH]
	out := map[string]map[string]float64{}
	for name, m := range results {
		r := map[string]float64{}
		for _, mt := range metrics {
			if !base.valid() || !m.valid() || mt.value(base) == 0 {
				continue
			}
			r[mt.key] = mt.value(m) / mt.value(base)
		}
		out[name] = r
	}
	return out
}

func memRatios(mem map[string]*memResult) map[string][]float64 {
	base := mem[nameOpenSSH]
	out := map[string][]float64{}
	for name, m := range mem {
		var r []float64
		for i, round := range m.Rounds {
			if base == nil || i >= len(base.Rounds) || base.Rounds[i].RSSKiB == 0 {
				break
			}
			r = append(r, float64(round.RSSKiB)/float64(base.Rounds[i].RSSKiB))
		}
		out[name] = r
	}
	return out
}

const missing = "—"

func writeTables(w io.Writer, rep *report) {
	fmt.Fprintf(w, "# vigil side by side: OpenSSH ssh-agent, x/crypto keyring, vigil\n\n")
	h := rep.Host
	fmt.Fprintf(w, "- run: %s, %.1f s in all; %d CPUs (%s), Linux %s, %s; %s; vigil %s\n",
		rep.Started.Format("2006-01-02 15:04:05 MST"), rep.TotalSec, h.CPUs, h.CPUModel, h.Kernel, h.Go, h.OpenSSH,
		orDefault(h.VigilRev, h.VigilBin))
	fmt.Fprintf(w, "- each cell: every agent driven for %v, agents in an order that rotates from cell to cell; "+
		"×ssh = agent's figure / ssh-agent's in the same cell\n", secs(rep.CellSec))
	var vigilLabel string
	for _, a := range rep.Agents {
		fmt.Fprintf(w, "- %s: %s, pid %d, RSS %d KiB with keys loaded\n", a.Name, a.Label, a.PID, a.RSSStartKiB)
		if a.Name == nameVigil {
			vigilLabel = a.Label
		}
	}
	fmt.Fprintf(w, "- clients: goroutines of the benchmark on blocking sockets, one write and one read per request, "+
		"as OpenSSH's clients do; they run on the same cores, and their CPU per request is tabulated too\n")
	fmt.Fprintf(w, "- latency: %s\n", rep.LatencyMethod)
	fmt.Fprintf(w, "- CPU: %s\n", rep.CPUMethod)
	fmt.Fprintf(w, "- ¹ sign rows of the vigil column are %s; list needs no approver\n", vigilLabel)

	for _, mt := range metrics {
		fmt.Fprintf(w, "\n## %s\n\n", mt.title)
		head := []string{"op", "clients", "conn"}
		for _, name := range agentNames {
			head = append(head, columnName(name))
			if name != nameOpenSSH {
				head = append(head, "×ssh")
			}
		}
		withChildren := mt.key == "cpu_us_per_op" && anyChildren(rep)
		if withChildren {
			head = append(head, "vigil¹: of which askpass")
		}
		t := table{head: head, left: 3}
		for _, c := range rep.Cells {
			row := []string{c.Op, fmt.Sprint(c.Clients), c.Mode}
			for _, name := range agentNames {
				m := c.Results[name]
				cell := missing
				if m.valid() {
					cell = mt.format(mt.value(m))
					if mt.key == "rss_after_kib" {
						cell = fmt.Sprintf("%d → %d", m.RSSBeforeKiB, m.RSSAfterKiB)
					}
				} else if m != nil && m.Errors > 0 {
					cell = fmt.Sprintf("%d errors", m.Errors)
				}
				row = append(row, cell)
				if name != nameOpenSSH {
					row = append(row, fmtRatio(c.Ratios[name], mt.key))
				}
			}
			if withChildren {
				cell := missing
				if m := c.Results[nameVigil]; m.valid() {
					cell = fmtMicros(m.CPUChildrenUs)
				}
				row = append(row, cell)
			}
			t.rows = append(t.rows, row)
		}
		t.write(w)
	}

	if len(rep.Memory) > 0 {
		var conns, rounds int
		for _, m := range rep.Memory {
			conns, rounds = m.Conns, max(rounds, len(m.Rounds))
		}
		fmt.Fprintf(w, "\n## %d connections held open, then a list on each at once: agent RSS, KiB\n\n", conns)
		head := []string{"agent", "baseline"}
		for r := range rounds {
			head = append(head, fmt.Sprintf("round %d", r+1))
		}
		head = append(head, "after close", fmt.Sprintf("×ssh (round %d)", rounds), "failed requests")
		t := table{head: head, left: 1}
		for _, name := range agentNames {
			m := rep.Memory[name]
			if m == nil {
				continue
			}
			row := []string{name, fmt.Sprint(m.BaselineKiB)}
			var errs int
			for _, r := range m.Rounds {
				row = append(row, fmt.Sprint(r.RSSKiB))
				errs += r.Errors
			}
			ratio := missing
			if rs := rep.MemoryRatio[name]; len(rs) == rounds && rounds > 0 {
				ratio = fmt.Sprintf("%.2f×", rs[rounds-1])
			}
			row = append(row, fmt.Sprint(m.AfterCloseKiB), ratio, fmt.Sprint(errs))
			t.rows = append(t.rows, row)
		}
		t.write(w)
	}

	if len(rep.Warnings) > 0 {
		fmt.Fprintf(w, "\n## Warnings\n\n")
		for _, s := range rep.Warnings {
			fmt.Fprintf(w, "- %s\n", s)
		}
	}
}

func columnName(name string) string {
	if name == nameVigil {
		return "vigil¹"
	}
	return name
}

func anyChildren(rep *report) bool {
	for _, c := range rep.Cells {
		for _, m := range c.Results {
			if m != nil && m.CPUChildrenUs > 0 {
				return true
			}
		}
	}
	return false
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func secs(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.0f ms", s*1e3)
	}
	return fmt.Sprintf("%.3g s", s)
}

func fmtCount(v float64) string { return fmt.Sprintf("%.0f", v) }

func fmtMicros(us float64) string {
	switch {
	case us < 10:
		return fmt.Sprintf("%.2f µs", us)
	case us < 1000:
		return fmt.Sprintf("%.0f µs", us)
	case us < 1e6:
		return fmt.Sprintf("%.2f ms", us/1e3)
	}
	return fmt.Sprintf("%.2f s", us/1e6)
}

func fmtRatio(r map[string]float64, key string) string {
	v, ok := r[key]
	if !ok {
		return missing
	}
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f×", v)
	case v >= 10:
		return fmt.Sprintf("%.1f×", v)
	case v >= 0.01:
		return fmt.Sprintf("%.2f×", v)
	}
	return fmt.Sprintf("%.3f×", v)
}

// table is a markdown table with padded columns; the first left columns
// are aligned left, the rest right.
type table struct {
	head []string
	rows [][]string
	left int
}

func (t table) write(w io.Writer) {
	width := make([]int, len(t.head))
	for i, h := range t.head {
		width[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i < t.left {
				b.WriteString(" " + c + pad + " |")
			} else {
				b.WriteString(" " + pad + c + " |")
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(t.head)
	sep := make([]string, len(t.head))
	for i := range sep {
		if i < t.left {
			sep[i] = strings.Repeat("-", width[i])
		} else {
			sep[i] = strings.Repeat("-", width[i]-1) + ":"
		}
	}
	var b strings.Builder
	b.WriteString("|")
	for _, s := range sep {
		b.WriteString(" " + s + " |")
	}
	fmt.Fprintln(w, b.String())
	for _, r := range t.rows {
		line(r)
	}
}
