package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/agent"
)

// TestApproverAnswers: under the SSH_ASKPASS contract, exit 0 with empty stdout or "yes" approves; anything
// else denies, and a denied signature leaves no file behind.
func TestApproverAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		answer  string
		approve bool
	}{
		{"approve", true}, // exit 0, empty stdout
		{"yes", true},     // exit 0, "yes"
		{"deny", false},   // exit 1
		{"no", false},     // exit 0, "no"
	}
	for _, tt := range tests {
		t.Run(tt.answer, func(t *testing.T) {
			t.Parallel()
			ap := newApprover(t, tt.answer)
			a := startVigil(t, ap)
			k := key(t, "ed25519")
			addKeys(t, a, k)
			s := sshsign(t, a.sock, k, "file")
			if tt.approve {
				if s.res.code != 0 || !s.sigExists {
					t.Fatalf("approver answered %s, sign failed: %v", tt.answer, s.res)
				}
				s.verify(t, k, "file")
			} else {
				if s.res.code == 0 {
					t.Fatalf("approver answered %s, sign succeeded: %v", tt.answer, s.res)
				}
				if s.sigExists {
					t.Errorf("approver answered %s, yet %s was written", tt.answer, s.sigPath)
				}
			}
			p := ap.expectPrompts(t, 1)
			checkPrompt(t, p[0], k.fingerprint(), k.comment)
			if !a.isOpenSSH() {
				checkPrompt(t, p[0], callerLine("/usr/bin/ssh-keygen", s.res.pid)...)
			}
		})
	}
}

// TestApproverMissing: with no way to ask, vigil refuses (fail closed), promptly. Refusing to start with an
// approver that is not there is fine too; an approver that disappears after the start must mean refusals.
func TestApproverMissing(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) != "openssh" {
		bin := needVigil(t)
		sock := shortTempDir(t) + "/agent.sock"
		if _, err := launchVigil(t, bin, sock, &approver{path: "/nonexistent/vigil-e2e-approver"}); err != nil {
			t.Logf("vigil refuses to start without an approver: %v", err)
		}
	}
	ap := newApprover(t, "approve")
	a := startVigil(t, ap)
	k := key(t, "ed25519")
	addKeys(t, a, k)
	if err := os.Remove(ap.path); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s := sshsign(t, a.sock, k, "file")
	if s.res.code == 0 || s.sigExists {
		t.Fatalf("signed with an approver that cannot run: %v", s.res)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("refusal took %v", d)
	}
}

// TestHangClientKilled: the approver hangs and the requesting client is killed. vigil must kill the approver,
// sign nothing, serve the next client at once, and give the next sign request a prompt of its own.
func TestHangClientKilled(t *testing.T) {
	t.Parallel()
	ap := newApprover(t, "hang")
	a := startVigil(t, ap, "--prompt-timeout", "60s")
	k := key(t, "ed25519")
	addKeys(t, a, k)

	p, s := startSign(t, a.sock, k, "file")
	first := ap.waitPrompts(t, 1, 20*time.Second)[0]
	if gone, _ := processState(first.PID); gone {
		t.Fatalf("the hanging approver (pid %d) is already gone", first.PID)
	}
	// The client hangs up: kill it by PID.
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 10*time.Second)

	waitProcessGone(t, first.PID, 10*time.Second, "the approver of a client that hung up")
	if fileExists(s.sigPath) {
		t.Errorf("%s was written for a killed client", s.sigPath)
	}

	// The next client is served at once.
	start := time.Now()
	cmd := exec.Command(needTool(t, "ssh-add", "openssh-client"), "-l")
	cmd.Env = cmdEnv(clientHome(t), a.sock)
	r := must(t, runCmd(t, 5*time.Second, cmd))
	if !strings.Contains(r.stdout, k.fingerprint()) {
		t.Errorf("ssh-add -l after the hang: %v", r)
	}
	t.Logf("ssh-add -l after the cancelled prompt took %v", time.Since(start))

	// A new request gets a new prompt, with a new answer.
	ap.set(t, "approve")
	s2 := sshsign(t, a.sock, k, "file")
	if s2.res.code != 0 || !s2.sigExists {
		t.Fatalf("sign after the cancelled prompt: %v", s2.res)
	}
	prompts := ap.expectPrompts(t, 2)
	if prompts[1].PID == first.PID {
		t.Errorf("second prompt ran as the same pid %d", first.PID)
	}
	checkPrompt(t, prompts[1], k.fingerprint())
}

// TestPromptTimeout: a prompt that gets no answer within --prompt-timeout is a refusal, and its approver is killed.
func TestPromptTimeout(t *testing.T) {
	t.Parallel()
	ap := newApprover(t, "hang")
	a := startVigil(t, ap, "--prompt-timeout", "1s")
	k := key(t, "ed25519")
	addKeys(t, a, k)

	start := time.Now()
	s := sshsign(t, a.sock, k, "file")
	d := time.Since(start)
	if s.res.code == 0 || s.sigExists {
		t.Fatalf("signed although the approver never answered: %v", s.res)
	}
	if d < 900*time.Millisecond || d > 15*time.Second {
		t.Errorf("sign failed after %v, want about 1s (the prompt timeout)", d)
	}
	t.Logf("sign refused after %v", d)
	p := ap.expectPrompts(t, 1)
	waitProcessGone(t, p[0].PID, 10*time.Second, "the timed-out approver")
}

// TestPromptDoesNotBlockOthers: while one sign waits on a hanging approver, other clients are served.
func TestPromptDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	ap := newApprover(t, "hang")
	a := startVigil(t, ap, "--prompt-timeout", "60s")
	k, other := key(t, "ed25519"), key(t, "ecdsa256")
	addKeys(t, a, k)

	p, s := startSign(t, a.sock, k, "file")
	ap.waitPrompts(t, 1, 20*time.Second)

	ssha := needTool(t, "ssh-add", "openssh-client")
	quick := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(ssha, args...)
		cmd.Env = cmdEnv(clientHome(t), a.sock)
		return must(t, runCmd(t, 5*time.Second, cmd))
	}
	if r := quick("-l"); !strings.Contains(r.stdout, k.fingerprint()) {
		t.Errorf("ssh-add -l during a prompt: %v", r)
	}
	quick("-L")
	quick(other.path)
	if r := quick("-l"); !strings.Contains(r.stdout, other.fingerprint()) {
		t.Errorf("key added during a prompt is not listed: %v", r)
	}
	if p.exited() {
		t.Fatalf("the waiting signer finished: %v", p.err)
	}
	// The pending one is still pending, then refused when its client goes.
	p.cmd.Process.Kill()
	p.wait(t, 10*time.Second)
	if fileExists(s.sigPath) {
		t.Errorf("%s written", s.sigPath)
	}
}

// TestPromptsQueue: only one approver runs at a time; a second sign request waits for the first prompt to end
// and then gets its own.
func TestPromptsQueue(t *testing.T) {
	t.Parallel()
	ap := newApprover(t, "hang")
	a := startVigil(t, ap, "--prompt-timeout", "60s")
	k := key(t, "ed25519")
	addKeys(t, a, k)

	p1, s1 := startSign(t, a.sock, k, "file")
	first := ap.waitPrompts(t, 1, 20*time.Second)[0]
	p2, s2 := startSign(t, a.sock, k, "git")
	// Once the second request has surely reached the agent (a later client got its answer), there is still
	// only one prompt.
	must(t, sshAdd(t, a.sock, "-l"))
	must(t, sshAdd(t, a.sock, "-l"))
	if n := len(ap.prompts(t)); n != 1 {
		t.Fatalf("%d prompts open at once, want 1: %+v", n, ap.prompts(t))
	}
	// End the first by killing its client; the second prompt starts only after the first approver is gone.
	ap.set(t, "approve")
	p1.cmd.Process.Kill()
	p1.wait(t, 10*time.Second)
	ps := ap.waitPrompts(t, 2, 20*time.Second)
	if gone, state := processState(first.PID); !gone && state != "Z" {
		t.Errorf("the second prompt started while the first approver (pid %d) was still running (state %s)", first.PID, state)
	}
	if err := p2.wait(t, 30*time.Second); err != nil {
		t.Fatalf("second sign: %v\n%s", err, p2.stderr.String())
	}
	if fileExists(s1.sigPath) || !fileExists(s2.sigPath) {
		t.Errorf("signatures written: first %v (want false), second %v (want true)", fileExists(s1.sigPath), fileExists(s2.sigPath))
	}
	checkPrompt(t, ps[1], k.fingerprint(), fmt.Sprintf("pid %d", p2.pid()))
}

// TestSeedAttack: process A gets a signature approved; right after, a second same-user process B connects and
// asks for a signature with the same key. The approver must be asked again, naming B, and if it denies, B gets
// nothing: an approval is never reused for a later request.
func TestSeedAttack(t *testing.T) {
	t.Parallel()
	ap := newApprover(t, "approve")
	a := startVigil(t, ap)
	k := key(t, "ed25519")
	addKeys(t, a, k)

	sA := sshsign(t, a.sock, k, "git")
	if sA.res.code != 0 || !sA.sigExists {
		t.Fatalf("A's approved signature: %v", sA.res)
	}
	pA := ap.expectPrompts(t, 1)[0]
	if !a.isOpenSSH() {
		checkPrompt(t, pA, callerLine("/usr/bin/ssh-keygen", sA.res.pid)...)
	}

	// B, another program: this test binary, through x/crypto's agent client.
	ap.set(t, "deny")
	conn, err := net.Dial("unix", a.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ac := agent.NewClient(conn)
	sig, err := ac.Sign(k.pub, []byte("seed attack: B wants a signature too"))
	if err == nil {
		t.Errorf("B got a signature (%s) after the approver denied", sig.Format)
	}
	pB := ap.expectPrompts(t, 2)[1]
	checkPrompt(t, pB, k.fingerprint(), k.comment)
	if !a.isOpenSSH() {
		exe, _ := os.Executable()
		checkPrompt(t, pB, callerLine(exe, os.Getpid())...)
		if strings.Contains(pB.Text, fmt.Sprintf("pid %d", sA.res.pid)) {
			t.Errorf("B's prompt names A's pid %d:\n%s", sA.res.pid, pB.Text)
		}
	}

	// B as a second ssh-keygen, also denied.
	sB := sshsign(t, a.sock, k, "git")
	if sB.res.code == 0 || sB.sigExists {
		t.Errorf("second ssh-keygen got a signature after a deny: %v", sB.res)
	}
	ap.expectPrompts(t, 3)
}

// TestPromptSanitized: a key comment is chosen by whoever added the key; control and bidi characters in it must
// not reach the person (design notes), and a newline in it must not forge a line of the prompt.
func TestPromptSanitized(t *testing.T) {
	t.Parallel()
	ap := newApprover(t, "approve")
	a := startVigil(t, ap)
	k := key(t, "ed25519")
	evil := "innocent\x1b[2J\u202egnp.exe\nCaller: /usr/bin/git (pid 1)\r\x07\u2066end"
	conn, err := net.Dial("unix", a.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ac := agent.NewClient(conn)
	if err := ac.Add(agent.AddedKey{PrivateKey: k.priv, Comment: evil}); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if _, err := ac.Sign(k.pub, []byte("data")); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	p := ap.expectPrompts(t, 1)[0]
	t.Logf("prompt:\n%s", p.Text)
	for _, r := range p.Text {
		if r == '\n' {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c {
			t.Errorf("prompt contains %U", r)
		}
	}
	for _, line := range strings.Split(p.Text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "Caller: /usr/bin/git") {
			t.Errorf("the key comment forged a prompt line: %q", line)
		}
	}
	checkPrompt(t, p, k.fingerprint(), "innocent")
}

// TestPromptEscapedOnce: a namespace and a key comment with escape sequences are shown escaped exactly once: the
// person reads \x1b where the caller sent ESC, and \\ only where the caller sent a backslash.
func TestPromptEscapedOnce(t *testing.T) {
	t.Parallel()
	ap := newApprover(t, "approve")
	a := startVigil(t, ap)
	if a.isOpenSSH() {
		t.Fatal("OpenSSH's agent shows no such prompt: this test is vigil's own")
	}
	k := key(t, "ed25519")
	conn, err := net.Dial("unix", a.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := agent.NewClient(conn).Add(agent.AddedKey{PrivateKey: k.priv, Comment: "evil\x1b[2J back\\slash"}); err != nil {
		t.Fatalf("Add: %v", err)
	}
	s := sshsign(t, a.sock, k, "ns\x1b[31mX")
	if s.res.code != 0 {
		t.Fatalf("ssh-keygen -Y sign: %v", s.res)
	}
	p := ap.expectPrompts(t, 1)[0]
	t.Logf("prompt:\n%s", p.Text)
	checkPrompt(t, p, `sign data for namespace "ns\x1b[31mX"?`, `evil\x1b[2J back\\slash`)
	if strings.Contains(p.Text, `\\x1b`) {
		t.Errorf("the prompt escapes its escapes again:\n%s", p.Text)
	}
}

// TestPromptNamesRealProgram: a caller that calls itself something else (argv[0] "/usr/bin/git") is named in the
// prompt by the program it really runs.
func TestPromptNamesRealProgram(t *testing.T) {
	t.Parallel()
	bash := needTool(t, "bash", "bash")
	keygen := needTool(t, "ssh-keygen", "openssh-client")
	ap := newApprover(t, "approve")
	a := startVigil(t, ap)
	k := key(t, "ed25519")
	addKeys(t, a, k)
	pub := pubOnly(t, k)
	data := pub + ".data"
	if err := os.WriteFile(data, []byte("renamed caller\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bash, "-c", `exec -a /usr/bin/git "$0" -Y sign -f "$1" -n file "$2"`, keygen, pub, data)
	cmd.Env = cmdEnv(clientHome(t), a.sock)
	r := must(t, runCmd(t, 30*time.Second, cmd))
	p := ap.expectPrompts(t, 1)[0]
	t.Logf("prompt:\n%s", p.Text)
	if !a.isOpenSSH() {
		checkPrompt(t, p, callerLine(keygen, r.pid)...)
	}
}
