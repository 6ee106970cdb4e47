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

// TestOtherUserRefused: a client running as another uid (the sshd test user) reaches the socket once the file
// system lets it, and is still refused: it lists nothing and removes nothing. The same body runs against
// OpenSSH's ssh-agent, which also checks the peer's uid.
func TestOtherUserRefused(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"vigil", "openssh"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			setpriv := needTool(t, "setpriv", "util-linux")
			ssha := needTool(t, "ssh-add", "openssh-client")
			uid, gid := ensureTestUser(t)
			var a *agentProc
			if kind == "openssh" {
				a = startOpenSSHAgent(t, newApprover(t, "approve"))
			} else {
				a = startVigil(t, newApprover(t, "approve"))
			}
			k := key(t, "ed25519")
			must(t, sshAdd(t, a.sock, k.path))

			// Open the file system path to everyone: only the agent's own check is left.
			if err := os.Chmod(filepath.Dir(a.sock), 0o711); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(a.sock, 0o777); err != nil {
				t.Fatal(err)
			}
			home := t.TempDir()
			os.Chmod(home, 0o777)
			as := func(args ...string) result {
				t.Helper()
				full := append([]string{fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", gid), "--clear-groups", ssha}, args...)
				cmd := exec.Command(setpriv, full...)
				cmd.Env = cmdEnv(home, a.sock)
				return runCmd(t, 20*time.Second, cmd)
			}
			r := as("-l")
			if r.code == 0 || strings.Contains(r.stdout, k.fingerprint()) {
				t.Errorf("uid %d listed the keys: %v", uid, r)
			}
			t.Logf("ssh-add -l as uid %d: exit %d (%v) %s", uid, r.code, r.err, strings.TrimSpace(r.stdout+r.stderr))
			r = as("-D")
			if r.code == 0 {
				t.Errorf("uid %d removed all keys: %v", uid, r)
			}
			// The owner still has everything.
			if l := sshAddList(t, a.sock); len(l) != 1 || l[0].fp != k.fingerprint() {
				t.Errorf("after the other uid's attempts, ssh-add -l = %+v", l)
			}
		})
	}
}
