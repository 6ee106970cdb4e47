package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestLoginNamesVerifiedHost: vigil names the server of a login from the
// host key the server proved (session-bind) and the user's own known_hosts
// (here hashed, as Debian writes it), and only then calls it verified; a
// host rule allows only a verified destination.
func TestLoginNamesVerifiedHost(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent names no destination; nothing to compare")
		return
	}
	sshBin := needTool(t, "ssh", "openssh-client")
	keygen := needTool(t, "ssh-keygen", "openssh-client")
	k := key(t, "ed25519")
	srv := startSSHD(t, sshdOpts{authorized: []*testKey{k}})
	hostName := fmt.Sprintf("[127.0.0.1]:%d", srv.port)
	hostFP := ssh.FingerprintSHA256(srv.hostKey)

	// vigil's HOME with a hashed known_hosts entry for the server.
	knownHome := t.TempDir()
	sshDir := filepath.Join(knownHome, ".ssh")
	if err := os.Mkdir(sshDir, 0o700); err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(sshDir, "known_hosts")
	if err := os.WriteFile(kh, []byte(knownHostsLine(fmt.Sprintf("127.0.0.1:%d", srv.port), srv.hostKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(keygen, "-H", "-f", kh).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -H: %v: %s", err, out)
	}
	if b, _ := os.ReadFile(kh); !strings.HasPrefix(string(b), "|1|") {
		t.Fatalf("known_hosts not hashed: %q", b)
	}
	rules := filepath.Join(t.TempDir(), "rules.toml")
	rule := fmt.Sprintf("[[rule]]\npurpose = \"login\"\nhost = %q\naction = \"allow\"\n", hostName)
	if err := os.WriteFile(rules, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}

	login := func(t *testing.T, home string, flags ...string) []prompt {
		ap := newApprover(t, "approve")
		bin := needVigil(t)
		sock := filepath.Join(shortTempDir(t), "agent.sock")
		a, err := launchVigilHome(t, bin, sock, home, ap, flags...)
		if err != nil {
			t.Fatal(err)
		}
		addKeys(t, a, k)
		cmd := commandIn(t, a.sock, sshBin, append(srv.sshArgs(a.sock), "echo", "ok")...)
		p := startProc(t, "ssh", cmd)
		if err := p.wait(t, 60*time.Second); err != nil {
			t.Fatalf("ssh: %v\nstderr:\n%s", err, p.stderr.String())
		}
		return ap.prompts(t)
	}

	t.Run("hashed known_hosts: verified", func(t *testing.T) {
		ps := login(t, knownHome)
		if len(ps) != 1 {
			t.Fatalf("%d prompts, want 1", len(ps))
		}
		title := strings.SplitN(ps[0].Text, "\n", 2)[0]
		if want := "Allow ssh to log in as " + testUser + " to " + hostName + "?"; title != want {
			t.Errorf("title %q, want %q", title, want)
		}
		if h := promptLine(ps[0].Text, "host:"); !strings.Contains(h, hostName+" (verified host key") || !strings.Contains(h, hostFP) {
			t.Errorf("host line %q", h)
		}
	})
	t.Run("not in vigil's known_hosts: unverified", func(t *testing.T) {
		// The ssh client trusts the key (its own known_hosts file names it),
		// but that file is the caller's to choose: vigil does not use it.
		ps := login(t, t.TempDir())
		if len(ps) != 1 {
			t.Fatalf("%d prompts, want 1", len(ps))
		}
		if title := strings.SplitN(ps[0].Text, "\n", 2)[0]; !strings.Contains(title, "to an unverified host?") {
			t.Errorf("title %q should say the host is unverified", title)
		}
		if h := promptLine(ps[0].Text, "host:"); !strings.Contains(h, hostFP) || !strings.Contains(h, `the command line says "`+hostName+`" (not verified)`) {
			t.Errorf("host line %q", h)
		}
	})
	t.Run("host rule allows a verified destination", func(t *testing.T) {
		if ps := login(t, knownHome, "--config", rules); len(ps) != 0 {
			t.Errorf("%d prompts, want none: the rule allows logins to %s:\n%s", len(ps), hostName, ps[0].Text)
		}
	})
	t.Run("host rule ignores an unverified destination", func(t *testing.T) {
		if ps := login(t, t.TempDir(), "--config", rules); len(ps) != 1 {
			t.Errorf("%d prompts, want 1: the destination is not verified", len(ps))
		}
	})
}
