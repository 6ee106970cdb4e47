package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// addKeys runs ssh-add with the keys' private files (and certificates beside them). Against OpenSSH's agent it
// adds them with -c, so that it asks the approver as vigil always does.
func addKeys(t testing.TB, a *agentProc, keys ...*testKey) {
	t.Helper()
	bin := needTool(t, "ssh-add", "openssh-client")
	var args []string
	if a.isOpenSSH() {
		args = append(args, "-c")
	}
	for _, k := range keys {
		args = append(args, k.path)
	}
	must(t, client(t, a.sock, nil, bin, args...))
}

// callerLine is what a prompt must show of the caller: its program path and, if known, "pid N".
func callerLine(path string, pid int) []string {
	if pid == 0 {
		return []string{path}
	}
	return []string{path, fmt.Sprintf("pid %d", pid)}
}

func TestSSHLogin(t *testing.T) {
	t.Parallel()
	sshBin := needTool(t, "ssh", "openssh-client")
	tests := []struct {
		name    string
		key     string
		cert    bool     // log in with the certificate, trusted through TrustedUserCAKeys
		opts    []string // extra ssh options
		wantAlg string   // the signature algorithm sshd must report accepting
	}{
		{name: "ed25519", key: "ed25519", wantAlg: "ssh-ed25519"},
		{name: "ecdsa-p256", key: "ecdsa256", wantAlg: "ecdsa-sha2-nistp256"},
		{name: "rsa-negotiated", key: "rsa2048", wantAlg: "rsa-sha2-512"},
		{name: "rsa-sha2-256", key: "rsa2048", opts: []string{"-o", "PubkeyAcceptedAlgorithms=rsa-sha2-256"}, wantAlg: "rsa-sha2-256"},
		{name: "rsa-sha2-512", key: "rsa2048", opts: []string{"-o", "PubkeyAcceptedAlgorithms=rsa-sha2-512"}, wantAlg: "rsa-sha2-512"},
		{name: "cert-ed25519", key: "cert-ed25519", cert: true, wantAlg: "ssh-ed25519-cert-v01@openssh.com"},
		{name: "cert-ecdsa256", key: "cert-ecdsa256", cert: true, wantAlg: "ecdsa-sha2-nistp256-cert-v01@openssh.com"},
		{name: "cert-rsa2048", key: "cert-rsa2048", cert: true, wantAlg: "rsa-sha2-512-cert-v01@openssh.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := key(t, tt.key)
			o := sshdOpts{authorized: []*testKey{k}}
			if tt.cert {
				o = sshdOpts{trustedCA: key(t, "ca")}
			}
			srv := startSSHD(t, o)
			ap := newApprover(t, "approve")
			a := startVigil(t, ap)
			addKeys(t, a, k)

			cmd := commandIn(t, a.sock, sshBin, append(srv.sshArgs(a.sock, tt.opts...), "echo", "ok")...)
			p := startProc(t, "ssh", cmd)
			out := cmd.Stdout.(*lockedBuffer)
			if err := p.wait(t, 60*time.Second); err != nil {
				t.Fatalf("ssh login with %s: %v\nstderr:\n%s", tt.name, err, p.stderr.String())
			}
			if got := strings.TrimSpace(out.String()); got != "ok" {
				t.Fatalf("ssh printed %q, want ok", got)
			}
			prompts := ap.expectPrompts(t, 1)
			checkPrompt(t, prompts[0], k.fingerprint(), k.comment)
			if !a.isOpenSSH() {
				checkPrompt(t, prompts[0], callerLine("/usr/bin/ssh", p.pid())...)
			}
			// sshd at LogLevel DEBUG3 logs "publickey-hostbound-v00@openssh.com have ALG signature for KEY".
			log := srv.p.stderr.String()
			if !strings.Contains(log, "Accepted publickey for "+testUser) {
				t.Errorf("sshd did not log an accepted publickey login:\n%s", log)
			}
			re := regexp.MustCompile(`have (\S+) signature for`)
			if m := re.FindAllStringSubmatch(log, -1); len(m) != 1 {
				t.Errorf("sshd logged %d signed publickey requests, want 1:\n%s", len(m), log)
			} else if got := m[0][1]; got != tt.wantAlg {
				t.Errorf("sshd verified a %s signature, want %s", got, tt.wantAlg)
			}
		})
	}
}

// TestForwardedAgent: ssh -A to the loopback sshd, then use the forwarded agent there: list, and sign with
// ssh-keygen -Y as the remote user. Each signature (login, remote sign) asks once.
func TestForwardedAgent(t *testing.T) {
	t.Parallel()
	sshBin := needTool(t, "ssh", "openssh-client")
	k := key(t, "ed25519")
	srv := startSSHD(t, sshdOpts{authorized: []*testKey{k}})
	ap := newApprover(t, "approve")
	a := startVigil(t, ap)
	addKeys(t, a, k)

	// A directory the remote user (another uid) can read and write, holding only the public key.
	dir, err := os.MkdirTemp("", "vigil-e2e-fwd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	pub := filepath.Join(dir, "key.pub")
	data := filepath.Join(dir, "message.txt")
	if err := os.WriteFile(pub, []byte(k.authorizedLine()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(data, []byte("signed on the far side\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	remote := fmt.Sprintf(`set -e; test -S "$SSH_AUTH_SOCK"; ssh-add -l; ssh-keygen -Y sign -f %s -n file %s; echo signed`, pub, data)
	cmd := commandIn(t, a.sock, sshBin, append(srv.sshArgs(a.sock, "-A"), remote)...)
	p := startProc(t, "ssh -A", cmd)
	if err := p.wait(t, 60*time.Second); err != nil {
		t.Fatalf("ssh -A: %v\nstdout:\n%s\nstderr:\n%s", err, cmd.Stdout.(*lockedBuffer).String(), p.stderr.String())
	}
	out := cmd.Stdout.(*lockedBuffer).String()
	if !strings.Contains(out, k.fingerprint()) || !strings.Contains(out, "signed") {
		t.Fatalf("remote side printed %q, want the key listed and a signature made", out)
	}
	s := signing{dataPath: data, sigPath: data + ".sig"}
	s.verify(t, k, "file")
	ps := ap.expectPrompts(t, 2)
	for _, pr := range ps {
		checkPrompt(t, pr, k.fingerprint(), k.comment)
	}
	t.Logf("login prompt:\n%s\nforwarded sign prompt:\n%s", ps[0].Text, ps[1].Text)
	if !a.isOpenSSH() {
		if !strings.Contains(ps[0].Text, "path:    local") {
			t.Errorf("the local login's prompt does not say it is local:\n%s", ps[0].Text)
		}
		if !strings.Contains(ps[1].Text, "FORWARDED from") || strings.Contains(ps[1].Text, "path:    local") {
			t.Errorf("the prompt for a signature asked through a forwarded agent does not say so:\n%s", ps[1].Text)
		}
	}
}

// TestForwardedAgentSecondHop: ssh -A to sshd #1, and from there ssh to sshd #2 through the forwarded agent.
// The second login asks again; vigil knows (session-bind@openssh.com) which server each login is for.
func TestForwardedAgentSecondHop(t *testing.T) {
	t.Parallel()
	sshBin := needTool(t, "ssh", "openssh-client")
	k := key(t, "ed25519")
	hop1 := startSSHD(t, sshdOpts{authorized: []*testKey{k}})
	hop2 := startSSHD(t, sshdOpts{authorized: []*testKey{k}})
	ap := newApprover(t, "approve")
	a := startVigil(t, ap)
	addKeys(t, a, k)

	// On hop 1, as the test user: ssh to hop 2 with the forwarded agent.
	inner := strings.Join(quoteAll(hop2.sshArgs("$SSH_AUTH_SOCK")), " ")
	inner = strings.Replace(inner, "'IdentityAgent=$SSH_AUTH_SOCK'", `"IdentityAgent=$SSH_AUTH_SOCK"`, 1)
	remote := "ssh " + inner + " echo hop2-ok"
	cmd := commandIn(t, a.sock, sshBin, append(hop1.sshArgs(a.sock, "-A"), remote)...)
	p := startProc(t, "ssh -A", cmd)
	if err := p.wait(t, 60*time.Second); err != nil {
		t.Fatalf("ssh -A then ssh: %v\nstdout:\n%s\nstderr:\n%s", err, cmd.Stdout.(*lockedBuffer).String(), p.stderr.String())
	}
	if out := strings.TrimSpace(cmd.Stdout.(*lockedBuffer).String()); out != "hop2-ok" {
		t.Fatalf("second hop printed %q, want hop2-ok", out)
	}
	ps := ap.expectPrompts(t, 2)
	t.Logf("hop 1 prompt:\n%s\nhop 2 prompt:\n%s", ps[0].Text, ps[1].Text)
	for _, pr := range ps {
		checkPrompt(t, pr, k.fingerprint(), k.comment)
	}
	if a.isOpenSSH() {
		return
	}
	// vigil names each server by the host key it proved with session-bind:
	// the first login is to hop 1, the forwarded one to hop 2, from hop 1.
	fp1, fp2 := ssh.FingerprintSHA256(hop1.hostKey), ssh.FingerprintSHA256(hop2.hostKey)
	if h := promptLine(ps[0].Text, "host:"); !strings.Contains(h, fp1) {
		t.Errorf("the login to hop 1 (host key %s) is shown as %q", fp1, h)
	}
	if h := promptLine(ps[1].Text, "host:"); !strings.Contains(h, fp2) || strings.Contains(h, fp1) {
		t.Errorf("the forwarded login to hop 2 (host key %s) is shown as %q", fp2, h)
	}
	if f := promptLine(ps[1].Text, "FORWARDED from"); !strings.Contains(f, fp1) {
		t.Errorf("the forwarded login does not say it came through hop 1 (%s): %q", fp1, f)
	}
	if strings.Contains(ps[1].Text, "path:    local") {
		t.Errorf("the forwarded login's prompt says it is local:\n%s", ps[1].Text)
	}
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return out
}

// promptLine returns the first line of a prompt that starts, after
// indentation, with prefix.
func promptLine(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			return l
		}
	}
	return ""
}
