// Package e2e drives real OpenSSH clients (ssh, ssh-add, ssh-keygen), git, sshd and paramiko against the vigil
// binary, and runs one conformance body against both vigil and OpenSSH's ssh-agent.
//
// Every wait dials, reads, polls with a deadline or waits on a channel; nothing sleeps to synchronise.
// A tool that is missing fails the test with a message saying what to install.
package e2e

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment knobs, for developing the tests themselves:
//
//	VIGIL_E2E_AGENT=openssh  runs the tests that start "vigil" against OpenSSH's ssh-agent instead, adding every
//	                         key with -c so that it asks the approver too. vigil-only behaviour then fails.
//	VIGIL_E2E_VIGIL=PATH     uses a prebuilt vigil binary instead of building ./cmd/vigil.
//	VIGIL_E2E_RACE=0         builds vigil without -race even when the tests run with -race.
const (
	envAgent = "VIGIL_E2E_AGENT"
	envVigil = "VIGIL_E2E_VIGIL"
	envRace  = "VIGIL_E2E_RACE"
)

// raceEnabled is set when the tests are built with -race; vigil is then built with -race too, so that a data race
// in the agent under real clients fails the test that provoked it.
var raceEnabled bool

var (
	// vigilBin is the binary built by TestMain, or "" with vigilBuildErr set.
	vigilBin      string
	vigilBuildErr error
	// binDir holds the binaries built for the tests; TestMain removes it.
	binDir string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	// These tests mostly wait on other processes: run more of them at once than -parallel's default of
	// GOMAXPROCS, unless told otherwise.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		flag.Set("test.parallel", strconv.Itoa(max(8, 2*runtime.GOMAXPROCS(0))))
	}
	dir, err := os.MkdirTemp("", "vigil-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	defer cleanupKeys()

	binDir = dir
	if p := os.Getenv(envVigil); p != "" {
		vigilBin = p
	} else {
		vigilBin, vigilBuildErr = buildVigil(filepath.Join(dir, "vigil"), raceBuild())
	}
	return m.Run()
}

// raceBuild says whether vigil is built with -race.
func raceBuild() bool { return raceEnabled && os.Getenv(envRace) != "0" }

func buildVigil(out string, race bool) (string, error) {
	// go test puts its own GOROOT/bin first in the test's PATH.
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("go not found in PATH: %v", err)
	}
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command(gobin, append(args, "github.com/vigil-agent/vigil/cmd/vigil")...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/vigil: %v\n%s", err, buf.String())
	}
	return out, nil
}

// needVigil returns the vigil binary or fails the test with the build error.
func needVigil(t testing.TB) string {
	t.Helper()
	if vigilBuildErr != nil {
		t.Fatalf("vigil did not build: %v", vigilBuildErr)
	}
	return vigilBin
}

// needTool returns the path of a tool, or fails the test saying which package installs it.
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	if filepath.IsAbs(name) {
		if _, err := os.Stat(name); err != nil {
			t.Fatalf("%s is missing: install the Debian package %s (apt-get install -y %s)", name, pkg, pkg)
		}
		return name
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found in PATH: install the Debian package %s (apt-get install -y %s)", name, pkg, pkg)
	}
	return p
}

// shortTempDir is like t.TempDir but with a short path, so that unix socket paths stay under 108 bytes.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// poll calls cond until it reports true or the timeout passes; then it fails the test with cond's last message.
func poll(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, msg)
		}
		<-tick.C
	}
}

// lockedBuffer is a bytes.Buffer safe for a process's output goroutine and the test to share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a background process owned by a test, stopped by its PID in t.Cleanup.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{} // closed when Wait returns
	err    error         // from Wait, valid after done
}

// startProc starts cmd (whose Stderr, if nil, is captured) and registers a cleanup that stops it by PID.
func startProc(t testing.TB, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, stderr: new(lockedBuffer), done: make(chan struct{})}
	if cmd.Stderr == nil {
		cmd.Stderr = p.stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// A grandchild (a hanging approver) may hold our pipes open after the process exits.
	cmd.WaitDelay = 3 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t, syscall.SIGTERM)
		if t.Failed() {
			if s := p.stderr.String(); s != "" {
				t.Logf("%s (pid %d) stderr:\n%s", name, cmd.Process.Pid, s)
			}
		}
	})
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the process's PID and waits for it to exit, killing it after a deadline.
// It reports whether the process exited from sig without being killed.
func (p *proc) stop(t testing.TB, sig syscall.Signal) bool {
	t.Helper()
	if p.exited() {
		return false
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return true
	case <-time.After(10 * time.Second):
	}
	t.Errorf("%s (pid %d) did not exit within 10s of %v; killing it", p.name, p.pid(), sig)
	_ = p.cmd.Process.Kill()
	<-p.done
	return false
}

// wait waits for the process to exit by itself.
func (p *proc) wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("%s (pid %d) still running after %v", p.name, p.pid(), timeout)
		return nil
	}
}

// result is what a finished command left behind.
type result struct {
	args   []string
	stdout string
	stderr string
	code   int // exit code, -1 if killed by a signal or not started
	err    error
	pid    int
}

func (r result) String() string {
	return fmt.Sprintf("%q: exit %d (%v)\nstdout:\n%s\nstderr:\n%s", r.args, r.code, r.err, r.stdout, r.stderr)
}

// cmdEnv builds a client environment from scratch: nothing of the caller's own agent or home leaks in.
func cmdEnv(home, sock string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"LANG=C",
		"LC_ALL=C",
	}
	if sock != "" {
		env = append(env, "SSH_AUTH_SOCK="+sock)
	}
	return append(env, extra...)
}

// runCmd runs a prepared command to completion with a timeout and returns what it printed.
func runCmd(t testing.TB, timeout time.Duration, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 3 * time.Second
	r := result{args: cmd.Args}
	if err := cmd.Start(); err != nil {
		r.err, r.code = err, -1
		return r
	}
	r.pid = cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case r.err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		r.err = fmt.Errorf("killed after %v: %w", timeout, <-done)
	}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	r.code = cmd.ProcessState.ExitCode()
	return r
}

// client runs a client tool against an agent socket, with a home of its own, and returns its result.
func client(t testing.TB, sock string, extraEnv []string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = cmdEnv(clientHome(t), sock, extraEnv...)
	return runCmd(t, 60*time.Second, cmd)
}

var clientHomes sync.Map // testing.TB -> string

func clientHome(t testing.TB) string {
	if h, ok := clientHomes.Load(t); ok {
		return h.(string)
	}
	h := t.TempDir()
	clientHomes.Store(t, h)
	t.Cleanup(func() { clientHomes.Delete(t) })
	return h
}

// must fails the test unless r succeeded.
func must(t testing.TB, r result) result {
	t.Helper()
	if r.err != nil || r.code != 0 {
		t.Fatalf("command failed: %v", r)
	}
	return r
}

// mustFail fails the test if r succeeded.
func mustFail(t testing.TB, r result) result {
	t.Helper()
	if r.err == nil && r.code == 0 {
		t.Fatalf("command succeeded, want failure: %v", r)
	}
	return r
}

// ---- the scripted approver ----

const recordEnd = "----- vigil-e2e end of record -----"

// approver is a script that follows the OpenSSH SSH_ASKPASS contract: it records its argv[1], the value of
// SSH_ASKPASS_PROMPT and its own PID, then answers from a control file:
//
//	approve     exit 0, empty stdout
//	yes         print "yes", exit 0
//	no          print "no", exit 0 (a deny under the contract)
//	deny        exit 1
//	hang        exec sleep 1000 (same PID, so it can be killed)
//	pass:TEXT   print TEXT, exit 0 (a passphrase, for ssh-add -x / -X)
type approver struct {
	path    string
	log     string
	control string
}

// prompt is one recorded run of the approver.
type prompt struct {
	PID  int
	Kind string // SSH_ASKPASS_PROMPT, "" if unset
	Argc int
	Text string // argv[1]
}

func newApprover(t testing.TB, answer string) *approver {
	t.Helper()
	dir := t.TempDir()
	a := &approver{
		path:    filepath.Join(dir, "approver"),
		log:     filepath.Join(dir, "prompts.log"),
		control: filepath.Join(dir, "answer"),
	}
	// Absolute paths only: the agent may run it with a bare environment.
	script := `#!/bin/sh
{
printf 'pid=%s\n' "$$"
printf 'kind=%s\n' "${SSH_ASKPASS_PROMPT-}"
printf 'argc=%s\n' "$#"
printf '%s\n' "${1-}"
printf '%s\n' '` + recordEnd + `'
} >> '` + a.log + `'
answer=$(/bin/cat '` + a.control + `' 2>/dev/null)
case "$answer" in
approve) exit 0 ;;
yes) echo yes; exit 0 ;;
no) echo no; exit 0 ;;
hang) exec /bin/sleep 1000 ;;
pass:*) printf '%s\n' "${answer#pass:}"; exit 0 ;;
*) exit 1 ;;
esac
`
	if err := os.WriteFile(a.path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	a.set(t, answer)
	// A hanging approver the agent failed to kill would sleep on for 1000s: end it, by its recorded PID.
	t.Cleanup(func() {
		for _, p := range a.prompts(t) {
			if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID)); err == nil &&
				strings.Contains(string(cmdline), "sleep\x001000") {
				syscall.Kill(p.PID, syscall.SIGKILL)
			}
		}
	})
	return a
}

func (a *approver) set(t testing.TB, answer string) {
	t.Helper()
	tmp := a.control + ".tmp"
	if err := os.WriteFile(tmp, []byte(answer), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, a.control); err != nil {
		t.Fatal(err)
	}
}

// prompts returns every complete record so far.
func (a *approver) prompts(t testing.TB) []prompt {
	t.Helper()
	data, err := os.ReadFile(a.log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []prompt
	recs := strings.Split(string(data), recordEnd+"\n")
	for _, rec := range recs[:len(recs)-1] { // the last piece is incomplete or empty
		var p prompt
		lines := strings.SplitN(rec, "\n", 4)
		if len(lines) < 4 {
			t.Fatalf("malformed approver record %q", rec)
		}
		p.PID, _ = strconv.Atoi(strings.TrimPrefix(lines[0], "pid="))
		p.Kind = strings.TrimPrefix(lines[1], "kind=")
		p.Argc, _ = strconv.Atoi(strings.TrimPrefix(lines[2], "argc="))
		p.Text = strings.TrimSuffix(lines[3], "\n")
		out = append(out, p)
	}
	return out
}

// waitPrompts waits until at least n prompts are recorded and returns them all.
func (a *approver) waitPrompts(t testing.TB, n int, timeout time.Duration) []prompt {
	t.Helper()
	var got []prompt
	poll(t, timeout, fmt.Sprintf("%d approver prompt(s)", n), func() (bool, string) {
		got = a.prompts(t)
		return len(got) >= n, fmt.Sprintf("have %d: %+v", len(got), got)
	})
	return got
}

// expectPrompts fails unless exactly n prompts were recorded.
func (a *approver) expectPrompts(t testing.TB, n int) []prompt {
	t.Helper()
	got := a.prompts(t)
	if len(got) != n {
		t.Fatalf("approver asked %d times, want %d: %+v", len(got), n, got)
	}
	return got
}

// checkPrompt fails unless a prompt is a confirm prompt that names every one of want.
func checkPrompt(t testing.TB, p prompt, want ...string) {
	t.Helper()
	if p.Kind != "confirm" {
		t.Errorf("approver ran with SSH_ASKPASS_PROMPT=%q, want confirm", p.Kind)
	}
	if p.Argc != 1 {
		t.Errorf("approver ran with %d arguments, want 1", p.Argc)
	}
	for _, w := range want {
		if !strings.Contains(p.Text, w) {
			t.Errorf("prompt does not show %q; the person read:\n%s", w, p.Text)
		}
	}
}

// processGone reports whether pid no longer names a live process (gone, or a zombie, reported separately).
func processState(pid int) (gone bool, state string) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true, "gone"
	}
	// pid (comm) S ...
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false, s
	}
	return false, s[i+2 : i+3]
}

// waitProcessGone polls until pid has exited and been reaped.
func waitProcessGone(t testing.TB, pid int, timeout time.Duration, what string) {
	t.Helper()
	poll(t, timeout, what+fmt.Sprintf(" (pid %d) to be gone", pid), func() (bool, string) {
		gone, state := processState(pid)
		if state == "Z" {
			return false, "it is a zombie: killed but not reaped"
		}
		return gone, "still running, state " + state
	})
}

// ---- the agent under test ----

// agentProc is a running agent: vigil, or OpenSSH's ssh-agent.
type agentProc struct {
	kind   string // "vigil" or "openssh"
	sock   string
	p      *proc
	stdout *lockedBuffer // everything after the first line
	first  string        // first stdout line (vigil)
}

func (a *agentProc) isOpenSSH() bool { return a.kind == "openssh" }

// startVigil starts `vigil serve` on a fresh socket with the given approver and extra flags, and waits for it
// to print its SSH_AUTH_SOCK line. Under VIGIL_E2E_AGENT=openssh it starts ssh-agent instead.
func startVigil(t testing.TB, ap *approver, flags ...string) *agentProc {
	t.Helper()
	if os.Getenv(envAgent) == "openssh" {
		return startOpenSSHAgent(t, ap)
	}
	bin := needVigil(t)
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "agent.sock")
	a, err := launchVigil(t, bin, sock, ap, flags...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// vigilEnv is the environment vigil runs with: built from scratch, its own home and XDG directories.
func vigilEnv(t testing.TB) []string {
	return vigilEnvHome(t.TempDir())
}

// vigilEnvHome is vigilEnv with a home directory the test prepared.
func vigilEnvHome(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_STATE_HOME=" + filepath.Join(home, ".local", "state"),
		"XDG_DATA_HOME=" + filepath.Join(home, ".local", "share"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"LANG=C",
	}
}

// launchVigil starts vigil serve and waits for its first stdout line, or for it to exit.
func launchVigil(t testing.TB, bin, sock string, ap *approver, flags ...string) (*agentProc, error) {
	t.Helper()
	return launchVigilHome(t, bin, sock, t.TempDir(), ap, flags...)
}

// launchVigilHome is launchVigil with vigil's HOME set to home.
func launchVigilHome(t testing.TB, bin, sock, home string, ap *approver, flags ...string) (*agentProc, error) {
	t.Helper()
	return launchVigilEnv(t, bin, sock, vigilEnvHome(home), ap, flags...)
}

// launchVigilEnv is launchVigil with vigil's whole environment given.
func launchVigilEnv(t testing.TB, bin, sock string, env []string, ap *approver, flags ...string) (*agentProc, error) {
	t.Helper()
	args := []string{"serve", "--socket", sock}
	if ap != nil {
		args = append(args, "--approver", ap.path)
	}
	args = append(args, flags...)
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out := &firstLineWriter{line: make(chan string, 1)}
	cmd.Stdout = out
	p := startProc(t, "vigil", cmd)
	a := &agentProc{kind: "vigil", sock: sock, p: p, stdout: &out.all}
	select {
	case <-p.done:
		return nil, fmt.Errorf("vigil exited before printing SSH_AUTH_SOCK (%v); stdout %q; stderr:\n%s",
			p.err, out.all.String(), p.stderr.String())
	case line := <-out.line:
		a.first = line
		want := "SSH_AUTH_SOCK=" + sock + "; export SSH_AUTH_SOCK;\n"
		if line != want {
			return a, fmt.Errorf("vigil printed %q, want %q", line, want)
		}
	case <-time.After(20 * time.Second):
		return nil, fmt.Errorf("vigil printed nothing within 20s; stderr:\n%s", p.stderr.String())
	}
	// Runs before startProc's cleanup: stop vigil as a user would and check it went cleanly.
	t.Cleanup(func() { a.checkCleanShutdown(t) })
	// The contract: the line comes once the socket accepts.
	c, err := net.Dial("unix", sock)
	if err != nil {
		return a, fmt.Errorf("vigil printed its line but the socket does not accept: %v", err)
	}
	c.Close()
	return a, nil
}

// checkCleanShutdown stops vigil with SIGTERM (if it still runs) and fails the test unless it exited 0 without a
// panic or a data race report.
func (a *agentProc) checkCleanShutdown(t testing.TB) {
	t.Helper()
	if !a.p.exited() {
		a.p.stop(t, syscall.SIGTERM)
	}
	stderr := a.p.stderr.String()
	if code := a.p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("vigil (pid %d) exited %d, want 0 (SIGTERM); stderr:\n%s", a.p.pid(), code, stderr)
		return
	}
	for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("vigil (pid %d) stderr has %q:\n%s", a.p.pid(), bad, stderr)
			return
		}
	}
}

// startOpenSSHAgent starts OpenSSH's ssh-agent in the foreground on a fresh socket, with the approver as its
// SSH_ASKPASS (SSH_ASKPASS_REQUIRE=force), so that keys added with -c ask it.
func startOpenSSHAgent(t testing.TB, ap *approver) *agentProc {
	t.Helper()
	bin := needTool(t, "ssh-agent", "openssh-client")
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command(bin, "-D", "-a", sock)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "SSH_ASKPASS_REQUIRE=force"}
	if ap != nil {
		env = append(env, "SSH_ASKPASS="+ap.path)
	}
	cmd.Env = env
	out := new(lockedBuffer)
	cmd.Stdout = out
	p := startProc(t, "ssh-agent", cmd)
	a := &agentProc{kind: "openssh", sock: sock, p: p, stdout: out}
	waitDial(t, p, "unix", sock, 20*time.Second)
	return a
}

// waitDial waits until addr accepts a connection, failing early if p exits.
func waitDial(t testing.TB, p *proc, network, addr string, timeout time.Duration) {
	t.Helper()
	poll(t, timeout, p.name+" to accept on "+addr, func() (bool, string) {
		if p.exited() {
			t.Fatalf("%s exited (%v) before accepting on %s; stderr:\n%s", p.name, p.err, addr, p.stderr.String())
		}
		c, err := net.Dial(network, addr)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
}

// firstLineWriter keeps everything written to it and sends the first complete line on line.
type firstLineWriter struct {
	all  lockedBuffer
	mu   sync.Mutex
	sent bool
	line chan string
}

func (w *firstLineWriter) Write(p []byte) (int, error) {
	n, err := w.all.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.sent {
		if s := w.all.String(); strings.Contains(s, "\n") {
			w.sent = true
			w.line <- s[:strings.Index(s, "\n")+1]
		}
	}
	return n, err
}

// rss returns VmRSS of pid in KiB.
func rss(t testing.TB, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			n, _ := strconv.Atoi(f[0])
			return n
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// commandIn prepares a client command against an agent socket, with its stdout captured in a *lockedBuffer, for
// startProc.
func commandIn(t testing.TB, sock, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = cmdEnv(clientHome(t), sock)
	cmd.Stdout = new(lockedBuffer)
	return cmd
}
