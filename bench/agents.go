//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh/agent"
)

// The three agents, in the order of the table's columns. ssh-agent is the
// baseline every ratio is taken against.
const (
	nameOpenSSH = "ssh-agent"
	nameKeyring = "keyring"
	nameVigil   = "vigil"
)

var agentNames = []string{nameOpenSSH, nameKeyring, nameVigil}

// launch says how to start one agent.
type launch struct {
	name string
	// label describes the agent as measured, for sign figures: for vigil,
	// how its signatures get approved.
	label string
	cmd   *exec.Cmd
	sock  string
	// readyLine, if set, is the first line the agent prints on stdout once
	// its socket accepts.
	readyLine string
}

// vigilLaunch is how vigil is started, and the only place that knows. It
// runs vigil with its real decision path on: caller
// identification, intent parsing and a policy rule that allows this
// benchmark program (by its verified executable path) without asking. The
// approver is /bin/false, so a request the rule failed to cover shows up as
// a failure instead of a silent prompt.
func vigilLaunch(bin, sock, dir, self string) (launch, error) {
	exe, err := filepath.EvalSymlinks(self)
	if err != nil {
		return launch{}, err
	}
	cfg := filepath.Join(dir, "vigil.toml")
	rule := fmt.Sprintf("[[rule]]\nexe = %q\naction = \"allow\"\n", exe)
	if err := os.WriteFile(cfg, []byte(rule), 0o600); err != nil {
		return launch{}, err
	}
	return launch{
		name:      nameVigil,
		label:     "vigil (rule allows this program; caller, intent and policy checked per request)",
		cmd:       exec.Command(bin, "serve", "--socket", sock, "--config", cfg, "--approver", "/bin/false", "--prompt-timeout", "60s"),
		sock:      sock,
		readyLine: "SSH_AUTH_SOCK=" + sock + "; export SSH_AUTH_SOCK;",
	}, nil
}

func openSSHLaunch(bin, sock string) launch {
	return launch{
		name:  nameOpenSSH,
		label: "OpenSSH ssh-agent",
		cmd:   exec.Command(bin, "-D", "-a", sock),
		sock:  sock,
		// ssh-agent -D prints its SSH_AUTH_SOCK line after listen too, but
		// the benchmark relies only on dialling.
	}
}

// keyringLaunch re-executes this program as a plain x/crypto keyring agent,
// so that its CPU and memory are a process of their own.
func keyringLaunch(self, sock string) launch {
	return launch{
		name:      nameKeyring,
		label:     "x/crypto agent.NewKeyring + ServeAgent",
		cmd:       exec.Command(self, "-serve-keyring", sock),
		sock:      sock,
		readyLine: keyringReady,
	}
}

const keyringReady = "keyring ready"

// serveKeyring is the child process behind keyringLaunch: one
// agent.NewKeyring, served with agent.ServeAgent on every connection.
// It returns nil once ctx ends (SIGTERM from the benchmark).
func serveKeyring(ctx context.Context, sock string, stdout io.Writer) error {
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	kr := agent.NewKeyring()
	fmt.Fprintln(stdout, keyringReady)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go func() {
			defer c.Close()
			_ = agent.ServeAgent(kr, c)
		}()
	}
}

// agentProc is a running agent.
type agentProc struct {
	name, label string
	sock        string
	pid         int
	logPath     string // its stderr, and its stdout unless it has a ready line
	cmd         *exec.Cmd
	done        chan struct{} // closed once it has exited and been reaped
	waitErr     error
	stopped     bool // stop was called
}

// start runs l, with stdout and stderr going to dir/NAME.log, and returns
// once the agent answers a request on its socket.
func start(ctx context.Context, l launch, dir string, timeout time.Duration) (*agentProc, error) {
	sock := l.sock
	logPath := filepath.Join(dir, l.name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	cmd := l.cmd
	home := filepath.Join(dir, l.name+"-home")
	if err := os.Mkdir(home, 0o700); err != nil {
		return nil, err
	}
	// A clean environment: no user config, no SSH_AUTH_SOCK, no askpass.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_RUNTIME_DIR=" + home,
		"LANG=C",
	}
	cmd.Stderr = logf
	// If the benchmark dies, so do the agents.
	dieWithParent(cmd)
	var stdout io.ReadCloser
	if l.readyLine != "" {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return nil, err
		}
	} else {
		cmd.Stdout = logf
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", l.name, err)
	}
	a := &agentProc{name: l.name, label: l.label, sock: sock, pid: cmd.Process.Pid, logPath: logPath,
		cmd: cmd, done: make(chan struct{})}
	lines := make(chan string, 1)
	if stdout != nil {
		// Wait reads nothing from a pipe it did not make for itself, so
		// this goroutine drains stdout until the agent exits.
		go func() {
			r := bufio.NewReader(stdout)
			line, _ := r.ReadString('\n')
			lines <- strings.TrimSuffix(line, "\n")
			_, _ = io.Copy(io.Discard, r)
		}()
	}
	go func() {
		a.waitErr = cmd.Wait()
		close(a.done)
	}()

	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if l.readyLine != "" {
		select {
		case line := <-lines:
			if line != l.readyLine {
				a.stop()
				return nil, fmt.Errorf("%s printed %q, want %q%s", l.name, line, l.readyLine, a.logTail())
			}
		case <-a.done:
			return nil, fmt.Errorf("%s exited before it was ready (%v)%s", l.name, a.waitErr, a.logTail())
		case <-ctx.Done():
			a.stop()
			return nil, fmt.Errorf("%s printed nothing within %v%s", l.name, timeout, a.logTail())
		}
	}
	// Dial until it answers a request.
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "unix", sock)
		if err == nil {
			c.SetDeadline(deadline)
			_, err = agent.NewClient(c).List()
			c.Close()
			if err == nil {
				return a, nil
			}
		}
		select {
		case <-a.done:
			return nil, fmt.Errorf("%s exited before it answered (%v)%s", l.name, a.waitErr, a.logTail())
		case <-ctx.Done():
			a.stop()
			return nil, fmt.Errorf("%s did not answer on %s within %v: %v%s", l.name, sock, timeout, err, a.logTail())
		case <-time.After(5 * time.Millisecond):
			// Socket not there yet: pace the next dial.
		}
	}
}

// stop sends SIGTERM to the agent's pid, and SIGKILL if it has not exited
// within 5 s. It reports how the agent ended.
func (a *agentProc) stop() error {
	select {
	case <-a.done:
		return a.waitErr
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = a.cmd.Process.Kill()
	<-a.done
	return fmt.Errorf("%s (pid %d) ignored SIGTERM for 5s and was killed", a.name, a.pid)
}

func (a *agentProc) exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// logTail is the end of the agent's log, for error messages.
func (a *agentProc) logTail() string {
	b, err := os.ReadFile(a.logPath)
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "; its log ends:\n" + string(b)
}

// buildVigil builds ./cmd/vigil of the module in root into dir.
func buildVigil(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "vigil")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/vigil")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/vigil in %s: %v\n%s", root, err, out)
	}
	return bin, nil
}

// moduleRoot finds the vigil module's root from the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the vigil module: run from the repository, or pass -vigil BINARY")
	}
	return filepath.Dir(gomod), nil
}
