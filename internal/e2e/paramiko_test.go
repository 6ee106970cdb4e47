package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// debianPython is Debian's python3, which has python3-paramiko; the python3 first on PATH may be another one.
const debianPython = "/usr/bin/python3"

// TestParamiko lists the agent's keys with paramiko.Agent(), signs with each through AgentKey.sign_ssh_data and
// verifies in Python, then logs in to the loopback sshd with the agent key.
func TestParamiko(t *testing.T) {
	t.Parallel()
	py := needTool(t, debianPython, "python3")
	if out, err := exec.Command(py, "-c", "import paramiko").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import paramiko: install the Debian package python3-paramiko: %v: %s", py, err, out)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "paramiko_agent.py"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key     string
		wantAlg string // signature algorithm paramiko's sign_ssh_data asks for
	}{
		{"ed25519", "ssh-ed25519"},
		{"ecdsa256", "ecdsa-sha2-nistp256"},
		{"rsa2048", "ssh-rsa"}, // paramiko 2.12's AgentKey.sign_ssh_data defaults to SHA-1 flags
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			t.Parallel()
			k := key(t, tt.key)
			srv := startSSHD(t, sshdOpts{authorized: []*testKey{k}})
			ap := newApprover(t, "approve")
			a := startVigil(t, ap)
			addKeys(t, a, k)

			cmd := exec.Command(py, script, "127.0.0.1", strconv.Itoa(srv.port), testUser, srv.knownHosts)
			cmd.Env = cmdEnv(clientHome(t), a.sock)
			r := runCmd(t, 60*time.Second, cmd)
			var out struct {
				Paramiko string
				Keys     []struct{ Type, Fingerprint, Comment string }
				Sigs     []struct {
					Fingerprint, Alg string
					Verified         bool
				} `json:"signatures"`
				Exec string
			}
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 {
				t.Fatalf("paramiko script: %v (json: %v)", r, err)
			}
			t.Logf("paramiko %s: %+v", out.Paramiko, out)
			// paramiko 2.12's AgentKey drops the comment (it keeps it from 3.2 on): compare fingerprints only.
			if len(out.Keys) != 1 || out.Keys[0].Fingerprint != k.fingerprint() {
				t.Errorf("paramiko.Agent() keys = %+v, want %s", out.Keys, k.fingerprint())
			}
			if len(out.Sigs) != 1 || !out.Sigs[0].Verified || out.Sigs[0].Alg != tt.wantAlg {
				t.Errorf("paramiko signatures = %+v, want one verified %s", out.Sigs, tt.wantAlg)
			}
			if out.Exec != "ok" {
				t.Errorf("remote command printed %q, want ok", out.Exec)
			}
			// One prompt for sign_ssh_data, one for the login.
			ps := ap.expectPrompts(t, 2)
			for _, p := range ps {
				checkPrompt(t, p, k.fingerprint(), k.comment)
				if !a.isOpenSSH() {
					checkPrompt(t, p, "/usr/bin/python3", "pid "+strconv.Itoa(r.pid))
				}
			}
		})
	}
}
