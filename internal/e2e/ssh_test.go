package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
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

// callerProgram is the program path a prompt should name.
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
