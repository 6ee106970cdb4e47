//go:build linux

// Command bench measures vigil side by side with OpenSSH's ssh-agent and a
// plain x/crypto keyring agent, in one run, on one machine.
//
// Each agent runs as its own process on its own socket, holding the same
// three keys (ed25519, ecdsa-p256, rsa-2048). For every cell (operation ×
// clients × connection mode) each agent is driven for the same duration, in
// an order that rotates from cell to cell, and its throughput, latency, CPU
// per request and memory are reported with their ratio to ssh-agent's in the
// same run. A connection check then holds 200 connections open per agent.
//
//	go run ./bench             # the full matrix: 24 cells, about 80 s
//	go run ./bench -quick      # a smoke run: 16 cells of 150 ms, about 10 s
//	go run ./bench -json out.json
//
// Cells run for a fixed time rather than a fixed number of requests: the
// agents' costs per request differ a hundredfold (a vigil signature forks an
// approver; a keyring list is tens of microseconds), so a fixed count would
// either take minutes on the slowest agent or give the fastest too few
// samples, and a fixed time exposes every agent to the machine's background
// noise for as long.
//
// It runs on Linux only: the agents' CPU and memory come from /proc, and
// the clients use Linux socket options.
//
// Absolute figures depend on the machine and on whatever else runs on it;
// the ratios within one run are the point.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type options struct {
	duration, opTimeout, startTimeout time.Duration
	quick                             bool
	ops, clients, modes               string
	jsonPath, vigilBin, sshAgent      string
	memConns, memRounds               int
	quiet, stages                     bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var serveKeyringSock string
	fs.DurationVar(&o.duration, "duration", time.Second, "how long each agent is driven in each cell")
	fs.BoolVar(&o.quick, "quick", false, "smoke run for CI: 150ms cells, 1 and 8 clients (flags given explicitly still win)")
	fs.StringVar(&o.ops, "ops", "list,ed25519,ecdsa-p256,rsa-2048", "operations: list and the keys to sign with, comma-separated")
	fs.StringVar(&o.clients, "clients", "1,8,64", "concurrent clients, comma-separated")
	fs.StringVar(&o.modes, "modes", "persistent,new-conn", "connection modes: persistent (one per client), new-conn (one per request)")
	fs.StringVar(&o.jsonPath, "json", "", "also write every figure to `FILE` as JSON")
	fs.StringVar(&o.vigilBin, "vigil", "", "use this vigil `BINARY` instead of building ./cmd/vigil")
	fs.StringVar(&o.sshAgent, "ssh-agent", "/usr/bin/ssh-agent", "OpenSSH's ssh-agent")
	fs.IntVar(&o.memConns, "mem-conns", 200, "connections held open in the memory check (0: skip it)")
	fs.IntVar(&o.memRounds, "mem-rounds", 3, "rounds of the memory check")
	fs.DurationVar(&o.opTimeout, "op-timeout", 30*time.Second, "give up on a request after this long")
	fs.DurationVar(&o.startTimeout, "start-timeout", 20*time.Second, "how long an agent may take to start")
	fs.BoolVar(&o.quiet, "q", false, "no progress on stderr")
	fs.BoolVar(&o.stages, "stages", true, "also run the Go benchmark of each stage of a request (needs the source tree)")
	fs.StringVar(&serveKeyringSock, "serve-keyring", "", "internal: serve an x/crypto keyring agent on `SOCKET`")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./bench [flags]\n\nRuns vigil, OpenSSH's ssh-agent and an x/crypto keyring agent side by side.\n\nFlags:\n")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name == "serve-keyring" {
				return
			}
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(fs.Output(), "  -%s\n    \t%s", strings.TrimSpace(f.Name+" "+name), usage)
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				fmt.Fprintf(fs.Output(), " (default %s)", f.DefValue)
			}
			fmt.Fprintln(fs.Output())
		})
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: error: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if serveKeyringSock != "" {
		if err := serveKeyring(ctx, serveKeyringSock, stdout); err != nil {
			fmt.Fprintf(stderr, "bench: keyring: %v\n", err)
			return 1
		}
		return 0
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["duration"] {
			o.duration = 150 * time.Millisecond
		}
		if !set["clients"] {
			o.clients = "1,8"
		}
	}
	if err := bench(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "bench: error: %v\n", err)
		return 1
	}
	return 0
}

// report is everything the run measured; it is what -json writes.
type report struct {
	Started       time.Time               `json:"started"`
	TotalSec      float64                 `json:"total_s"`
	Command       string                  `json:"command"`
	Host          hostInfo                `json:"host"`
	CellSec       float64                 `json:"cell_s"`
	CPUMethod     string                  `json:"cpu_method"`
	LatencyMethod string                  `json:"latency_method"`
	Baseline      string                  `json:"baseline"`
	Agents        []agentInfo             `json:"agents"`
	Cells         []cellResult            `json:"cells"`
	Memory        map[string]*memResult   `json:"memory,omitempty"`
	MemoryRatio   map[string][]float64    `json:"memory_ratio_to_ssh_agent,omitempty"`
	Stages        []stageResult           `json:"stages,omitempty"`
	Warnings      []string                `json:"warnings,omitempty"`
	Logs          map[string]agentLogInfo `json:"logs"`
}

type hostInfo struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	OpenSSH   string `json:"openssh"`
	VigilRev  string `json:"vigil_rev,omitempty"`
	VigilBin  string `json:"vigil_binary"`
	GOMAXPROC int    `json:"gomaxprocs_bench"`
}

type agentInfo struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	PID   int    `json:"pid"`
	// RSS right after the keys were added, before any measurement.
	RSSStartKiB int `json:"rss_start_kib"`
}

type agentLogInfo struct {
	Lines int    `json:"lines"`
	Tail  string `json:"tail,omitempty"`
}

type cellResult struct {
	Op      string                  `json:"op"`
	Clients int                     `json:"clients"`
	Mode    string                  `json:"mode"`
	Order   []string                `json:"order"`
	Results map[string]*measurement `json:"results"`
	// Ratio of each agent's figure to ssh-agent's in this cell.
	Ratios map[string]map[string]float64 `json:"ratio_to_ssh_agent"`
}

func bench(ctx context.Context, o options, stdout, stderr io.Writer) error {
	started := time.Now()
	progress := func(format string, args ...any) {
		if !o.quiet {
			fmt.Fprintf(stderr, "bench: "+format+"\n", args...)
		}
	}
	keys, err := generateKeys()
	if err != nil {
		return err
	}
	specs, err := cellSpecs(o, keys)
	if err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "vigil-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	rep := &report{
		Started:       started,
		Command:       strings.Join(os.Args, " "),
		CellSec:       o.duration.Seconds(),
		CPUMethod:     cpuMethod,
		LatencyMethod: "wall time of one request as the client sees it; in new-conn mode including connect and close; nearest-rank percentiles over all clients' requests",
		Baseline:      nameOpenSSH,
		Logs:          map[string]agentLogInfo{},
	}
	rep.Host = host(ctx, o.sshAgent)

	vigilBin := o.vigilBin
	if vigilBin == "" {
		root, err := moduleRoot(ctx)
		if err != nil {
			return err
		}
		progress("building ./cmd/vigil in %s", root)
		if vigilBin, err = buildVigil(ctx, root, dir); err != nil {
			return err
		}
		rep.Host.VigilRev = gitRev(ctx, root)
	}
	rep.Host.VigilBin = vigilBin
	self, err := os.Executable()
	if err != nil {
		return err
	}

	vigilL, err := vigilLaunch(vigilBin, filepath.Join(dir, "vigil.sock"), dir, self)
	if err != nil {
		return err
	}
	launches := []launch{
		openSSHLaunch(o.sshAgent, filepath.Join(dir, "openssh.sock")),
		keyringLaunch(self, filepath.Join(dir, "keyring.sock")),
		vigilL,
	}
	agents := map[string]*agentProc{}
	stopAgents := func() {
		for _, name := range agentNames {
			if a := agents[name]; a != nil && !a.stopped {
				a.stopped = true
				if err := a.stop(); err != nil {
					fmt.Fprintf(stderr, "bench: warning: %v\n", err)
				}
			}
		}
	}
	defer stopAgents()
	for _, l := range launches {
		a, err := start(ctx, l, dir, o.startTimeout)
		if err != nil {
			return err
		}
		agents[l.name] = a
		if err := loadKeys(ctx, a.sock, keys); err != nil {
			return fmt.Errorf("%s: %w%s", a.name, err, a.logTail())
		}
		rss, err := readRSS(a.pid)
		if err != nil {
			return err
		}
		rep.Agents = append(rep.Agents, agentInfo{Name: a.name, Label: a.label, PID: a.pid, RSSStartKiB: rss})
		progress("%s: pid %d, keys loaded", a.name, a.pid)
	}

	// Warm up: every operation once per agent for a short while, so that
	// first-use costs (page faults, lazy initialisation) land nowhere.
	warm := min(o.duration/2, 200*time.Millisecond)
	for _, name := range agentNames {
		for _, op := range uniqueOps(specs) {
			if _, err := runCell(ctx, agents[name], cellSpec{op: op, clients: 1, persistent: true}, warm, o.opTimeout); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
		}
	}

	perms := permutations(agentNames)
	for i, spec := range specs {
		order := perms[i%len(perms)]
		cr := cellResult{Op: spec.op.name, Clients: spec.clients, Mode: spec.modeName(), Order: order,
			Results: map[string]*measurement{}}
		progress("cell %d/%d: %s, %d clients, %s (%s)", i+1, len(specs), spec.op.name, spec.clients, spec.modeName(),
			strings.Join(order, ", "))
		for _, name := range order {
			m, err := runCell(ctx, agents[name], spec, o.duration, o.opTimeout)
			if err != nil {
				return err
			}
			if m.Errors > 0 {
				w := fmt.Sprintf("%s: %s, %d clients, %s: %d of %d requests failed; first: %s", name, spec.op.name,
					spec.clients, spec.modeName(), m.Errors, m.Errors+m.Ops, m.FirstError)
				rep.Warnings = append(rep.Warnings, w)
				progress("warning: %s", w)
			}
			if m.LostThreads > 0 {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: %s, %d clients, %s: %d threads exited during the cell; their CPU is undercounted",
					name, spec.op.name, spec.clients, spec.modeName(), m.LostThreads))
			}
			cr.Results[name] = m
		}
		cr.Ratios = ratios(cr.Results)
		rep.Cells = append(rep.Cells, cr)
	}

	if o.memConns > 0 && o.memRounds > 0 {
		rep.Memory = map[string]*memResult{}
		for _, name := range agentNames {
			progress("memory check: %s, %d connections × %d rounds", name, o.memConns, o.memRounds)
			m, err := memCheck(ctx, agents[name], len(keys), o.memConns, o.memRounds, o.opTimeout)
			if err != nil {
				return fmt.Errorf("%s: memory check: %w", name, err)
			}
			for r, round := range m.Rounds {
				if round.Errors > 0 {
					rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: memory check round %d: %d of %d connections failed; first: %s",
						name, r+1, round.Errors, o.memConns, m.FirstError))
				}
			}
			rep.Memory[name] = m
		}
		rep.MemoryRatio = memRatios(rep.Memory)
	}

	for _, name := range agentNames {
		if agents[name].exited() {
			return fmt.Errorf("%s exited during the run (%v)%s", name, agents[name].waitErr, agents[name].logTail())
		}
		rep.Logs[name] = logInfo(agents[name])
	}
	if o.stages {
		// Run after the agents stopped, so the side-by-side cells are not
		// disturbed by compiling; what they measure is in-process anyway.
		stopAgents()
		benchtime := time.Second
		if o.quick {
			benchtime = 100 * time.Millisecond
		}
		root, err := moduleRoot(ctx)
		if err == nil {
			rep.Stages, err = runStages(ctx, root, benchtime, progress)
		}
		if err != nil {
			return fmt.Errorf("stage benchmarks (-stages=false to leave them out): %w", err)
		}
	}
	rep.TotalSec = time.Since(started).Seconds()
	writeTables(stdout, rep)
	writeStages(stdout, rep.Stages)
	if o.jsonPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// cellSpecs expands the flags into the list of cells, operation-major.
func cellSpecs(o options, keys []*benchKey) ([]cellSpec, error) {
	var ops []operation
	for _, name := range splitList(o.ops) {
		if name == "list" {
			ops = append(ops, operation{name: "list", nkeys: len(keys)})
			continue
		}
		var found *benchKey
		for _, k := range keys {
			if k.name == name || strings.TrimPrefix(name, "sign-") == k.name {
				found = k
			}
		}
		if found == nil {
			return nil, fmt.Errorf("-ops: unknown operation %q (want list, ed25519, ecdsa-p256 or rsa-2048)", name)
		}
		ops = append(ops, operation{name: "sign " + found.name, key: found, nkeys: len(keys)})
	}
	var clients []int
	for _, s := range splitList(o.clients) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-clients: %q is not a positive number", s)
		}
		clients = append(clients, n)
	}
	var modes []bool
	for _, s := range splitList(o.modes) {
		switch s {
		case "persistent":
			modes = append(modes, true)
		case "new-conn", "new":
			modes = append(modes, false)
		default:
			return nil, fmt.Errorf("-modes: unknown mode %q (want persistent or new-conn)", s)
		}
	}
	var specs []cellSpec
	for _, op := range ops {
		for _, c := range clients {
			for _, p := range modes {
				specs = append(specs, cellSpec{op: op, clients: c, persistent: p})
			}
		}
	}
	if len(specs) == 0 {
		return nil, errors.New("no cells to measure")
	}
	if o.duration <= 0 {
		return nil, errors.New("-duration must be positive")
	}
	return specs, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func uniqueOps(specs []cellSpec) []operation {
	var ops []operation
	seen := map[string]bool{}
	for _, s := range specs {
		if !seen[s.op.name] {
			seen[s.op.name] = true
			ops = append(ops, s.op)
		}
	}
	return ops
}

// permutations returns every order of names; cell i uses order i mod n!, so
// each agent goes first, second and last equally often.
func permutations(names []string) [][]string {
	if len(names) <= 1 {
		return [][]string{append([]string(nil), names...)}
	}
	var out [][]string
	for i, first := range names {
		rest := append(append([]string(nil), names[:i]...), names[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]string{first}, p...))
		}
	}
	return out
}

func host(ctx context.Context, sshAgent string) hostInfo {
	h := hostInfo{CPUs: runtime.NumCPU(), Go: runtime.Version(), GOMAXPROC: runtime.GOMAXPROCS(0)}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				h.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	// ssh-agent has no version flag; the ssh client beside it is the same
	// release.
	ssh := filepath.Join(filepath.Dir(sshAgent), "ssh")
	if out, err := exec.CommandContext(ctx, ssh, "-V").CombinedOutput(); err == nil {
		h.OpenSSH = strings.TrimSpace(string(out))
	}
	return h
}

func gitRev(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func logInfo(a *agentProc) agentLogInfo {
	b, err := os.ReadFile(a.logPath)
	if err != nil {
		return agentLogInfo{}
	}
	info := agentLogInfo{Lines: strings.Count(string(b), "\n")}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	info.Tail = strings.Join(lines, "\n")
	return info
}
