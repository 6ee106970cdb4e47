package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmuxWatch is `vigil watch` running in a detached tmux session on a private tmux server: the test reads the
// screen with capture-pane and types with send-keys, as a person at that terminal would.
type tmuxWatch struct {
	t    testing.TB
	bin  string
	sock string // the tmux server's socket
}

// startWatch runs `vigil watch --socket SOCK` in tmux and waits for its first screen.
func startWatch(t testing.TB, agentSock string) *tmuxWatch {
	t.Helper()
	w := &tmuxWatch{t: t, bin: needTool(t, "tmux", "tmux"), sock: filepath.Join(shortTempDir(t), "tmux.sock")}
	conf := filepath.Join(filepath.Dir(w.sock), "tmux.conf")
	// The pane stays after vigil watch exits, so that a failure still shows what it printed.
	if err := os.WriteFile(conf, []byte("set -g remain-on-exit on\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(w.bin, "-S", w.sock, "-f", conf, "new-session", "-d", "-s", "watch", "-x", "220", "-y", "60",
		needVigil(t)+" watch --socket "+agentSock)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TERM=xterm-256color", "LANG=C.UTF-8"}
	must(t, runCmd(t, 20*time.Second, cmd))
	// The server and everything in it end with the test: kill-server names this server by its own socket.
	t.Cleanup(func() { exec.Command(w.bin, "-S", w.sock, "kill-server").Run() })
	w.waitFor("vigil watch: "+agentSock, "No request is waiting")
	return w
}

func (w *tmuxWatch) tmux(args ...string) string {
	w.t.Helper()
	cmd := exec.Command(w.bin, append([]string{"-S", w.sock}, args...)...)
	return must(w.t, runCmd(w.t, 20*time.Second, cmd)).stdout
}

func (w *tmuxWatch) screen() string { return w.tmux("capture-pane", "-p", "-t", "watch") }

// waitFor polls the screen until it shows every one of want, and returns it.
func (w *tmuxWatch) waitFor(want ...string) string {
	w.t.Helper()
	var s string
	poll(w.t, 20*time.Second, fmt.Sprintf("vigil watch to show %q", want), func() (bool, string) {
		s = w.screen()
		for _, x := range want {
			if !strings.Contains(s, x) {
				return false, "the screen is:\n" + s
			}
		}
		return true, ""
	})
	return s
}

func (w *tmuxWatch) keys(k ...string) {
	w.t.Helper()
	w.tmux(append([]string{"send-keys", "-t", "watch"}, k...)...)
}

// signedBy waits for an ssh-keygen -Y sign started by startSign and says whether it wrote a signature.
func signedBy(t testing.TB, p *proc, s signing) bool {
	t.Helper()
	err := p.wait(t, 30*time.Second)
	_, statErr := os.Stat(s.sigPath)
	if (err == nil) != (statErr == nil) {
		t.Fatalf("ssh-keygen exit %v, but signature file: %v; stderr:\n%s", err, statErr, p.stderr.String())
	}
	return err == nil
}

// TestWatchTmux: vigil watch, the only approver, answers through a real terminal: allow once, a grant that
// covers the next signature without a prompt, revoke from the screen, and deny.
func TestWatchTmux(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Fatal("vigil watch is vigil's own: run this test against vigil")
	}
	a := startVigil(t, nil, "--prompt-timeout", "30s")
	k := key(t, "ed25519")
	addKeys(t, a, k)
	w := startWatch(t, a.sock)

	// Allow once. The allow keys are shown only once they are active.
	p, s := startSign(t, a.sock, k, "file")
	w.waitFor("REQUEST 1", "Allow ssh-keygen to sign a file?", "program: /usr/bin/ssh-keygen (pid", k.fingerprint(), "path:    local")
	w.waitFor("[a] allow once", "[g] grant for a while")
	w.keys("a")
	if !signedBy(t, p, s) {
		t.Fatal("allowed once in vigil watch, yet ssh-keygen failed")
	}
	s.verify(t, k, "file")
	w.waitFor("request 1: allowed once", "No request is waiting")

	// Grant for 5 minutes: this signature, and the next one without a prompt.
	p, s = startSign(t, a.sock, k, "file")
	w.waitFor("REQUEST 2", "[g] grant for a while")
	w.keys("g")
	w.waitFor("Grant for:", "[1] 5 min", "[3] until lock")
	w.keys("1")
	if !signedBy(t, p, s) {
		t.Fatal("granted in vigil watch, yet ssh-keygen failed")
	}
	// The grant names ssh-keygen, the program that ran it (this test), the key and purpose.
	screen := w.waitFor("request 2: granted for 5 min", "> 1  /usr/bin/ssh-keygen (run by ", "  "+k.fingerprint()+"  file  local")
	if !strings.Contains(screen, "used 0") {
		t.Errorf("a new grant should show no use yet:\n%s", screen)
	}
	s = sshsign(t, a.sock, k, "file") // nobody presses a key: only the grant can allow it
	if s.res.code != 0 {
		t.Fatalf("second signature under the grant failed: %v", s.res)
	}
	s.verify(t, k, "file")
	w.waitFor("used 1")

	// Revoke it on the screen: the next signature asks again; deny it.
	w.keys("r")
	w.waitFor("grant 1 revoked", "GRANTS\n  none")
	p, s = startSign(t, a.sock, k, "file")
	w.waitFor("REQUEST 3")
	w.keys("d")
	if signedBy(t, p, s) {
		t.Fatal("denied in vigil watch, yet ssh-keygen signed")
	}
	w.waitFor("request 3: denied")
	for _, want := range []string{"vigil watch connected", `why="approved, with grant 1`, `why="grant 1 `, "outcome=denied"} {
		if !strings.Contains(a.p.stderr.String(), want) {
			t.Errorf("vigil's log lacks %q:\n%s", want, a.p.stderr.String())
		}
	}

	// q quits, and then nobody can be asked: refused at once, saying why.
	w.keys("q")
	poll(t, 20*time.Second, "vigil to see vigil watch leave", func() (bool, string) {
		return strings.Contains(a.p.stderr.String(), "vigil watch disconnected"), a.p.stderr.String()
	})
	start := time.Now()
	s = sshsign(t, a.sock, k, "file")
	if s.res.code == 0 {
		t.Fatal("signed with no approver reachable")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("refusal with nobody to ask took %v", d)
	}
	if want := "tried vigil watch: no vigil watch is connected"; !strings.Contains(a.p.stderr.String(), want) {
		t.Errorf("vigil's log lacks %q:\n%s", want, a.p.stderr.String())
	}
}

// TestWatchApproverOrder: approver = ["tui", "askpass"]: with no vigil watch connected the askpass program asks;
// once one is connected, it does, and askpass is not run.
func TestWatchApproverOrder(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Fatal("the approver list is vigil's own: run this test against vigil")
	}
	ap := newApprover(t, "approve")
	conf := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("approver = [\"tui\", \"askpass\"]\naskpass = %q\n", ap.path)), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startVigil(t, nil, "--config", conf)
	k := key(t, "ed25519")
	addKeys(t, a, k)

	s := sshsign(t, a.sock, k, "file")
	if s.res.code != 0 {
		t.Fatalf("askpass approves, yet the signature failed: %v", s.res)
	}
	checkPrompt(t, ap.expectPrompts(t, 1)[0], "Allow ssh-keygen to sign a file?", k.fingerprint())

	w := startWatch(t, a.sock)
	p, s := startSign(t, a.sock, k, "file")
	w.waitFor("REQUEST 1", k.fingerprint(), "[a] allow once")
	w.keys("a")
	if !signedBy(t, p, s) {
		t.Fatal("allowed in vigil watch, yet ssh-keygen failed")
	}
	ap.expectPrompts(t, 1)
}

// TestWatchOtherUserRefused: the control socket is 0600 beside the agent's; a client running as another uid that
// the file system lets through is still disconnected before it is shown anything.
func TestWatchOtherUserRefused(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Fatal("the control socket is vigil's own: run this test against vigil")
	}
	setpriv := needTool(t, "setpriv", "util-linux")
	python := needTool(t, debianPython, "python3")
	uid, gid := ensureTestUser(t)
	a := startVigil(t, nil)
	ctl := filepath.Join(filepath.Dir(a.sock), "control.sock")
	fi, err := os.Stat(ctl)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode %v, want a socket, 0600", fi.Mode())
	}
	// Open the file system path to everyone: only vigil's own peer check is left.
	if err := os.Chmod(filepath.Dir(a.sock), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ctl, 0o777); err != nil {
		t.Fatal(err)
	}
	script := `import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(20)
print(repr(s.recv(4096)))
`
	cmd := exec.Command(setpriv, fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", gid), "--clear-groups",
		python, "-c", script, ctl)
	r := must(t, runCmd(t, 30*time.Second, cmd))
	if strings.TrimSpace(r.stdout) != "b''" {
		t.Errorf("uid %d read %s from the control socket, want nothing", uid, r.stdout)
	}
	if !strings.Contains(a.p.stderr.String(), "peer is another user") {
		t.Errorf("vigil's log does not record the refusal:\n%s", a.p.stderr.String())
	}
}

// TestWatchScriptRefused: a program of the same user that is not vigil watch (a python script dialling
// control.sock and answering every prompt with a grant) is disconnected before it sees a prompt, so it cannot
// approve its own requests: the request goes to the next approver, askpass, which denies it.
func TestWatchScriptRefused(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Fatal("the control socket is vigil's own: run this test against vigil")
	}
	python := needTool(t, debianPython, "python3")
	ap := newApprover(t, "deny")
	conf := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("askpass = %q\n", ap.path)), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startVigil(t, nil, "--config", conf)
	k := key(t, "ed25519")
	addKeys(t, a, k)

	script := `import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
for line in f:
    m = json.loads(line)
    if m["type"] == "prompt":
        f.write(json.dumps({"type": "answer", "id": m["id"], "answer": "grant", "for": "lock"}) + "\n")
        f.flush()
`
	startProc(t, "answering script", exec.Command(python, "-c", script, filepath.Join(filepath.Dir(a.sock), "control.sock")))
	poll(t, 20*time.Second, "vigil to refuse the script", func() (bool, string) {
		log := a.p.stderr.String()
		return strings.Contains(log, "control connection refused") && strings.Contains(log, "only vigil watch"), log
	})
	s := sshsign(t, a.sock, k, "file")
	if s.res.code == 0 {
		t.Fatal("signed: the script answered its own request")
	}
	checkPrompt(t, ap.expectPrompts(t, 1)[0], "Allow ssh-keygen to sign a file?", k.fingerprint())
}
