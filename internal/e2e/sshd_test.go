package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const sshdPath = "/usr/sbin/sshd"

var (
	testUserOnce sync.Once
	testUserUID  int
	testUserGID  int
	testUserErr  error
)

// ensureTestUser creates the throwaway login user for the loopback sshd, idempotently. Its password field is
// "*": with UsePAM no, sshd refuses a user whose password is locked ("!") even for public-key logins.
func ensureTestUser(t testing.TB) (uid, gid int) {
	t.Helper()
	testUserOnce.Do(func() {
		if os.Geteuid() != 0 {
			testUserErr = fmt.Errorf("the sshd tests run as root (to run sshd and create user %s)", testUser)
			return
		}
		if _, err := user.Lookup(testUser); err != nil {
			out, err := exec.Command("useradd", "--no-create-home", "--home-dir", "/nonexistent",
				"--shell", "/bin/sh", "--password", "*", testUser).CombinedOutput()
			if err != nil && !strings.Contains(string(out), "already exists") {
				testUserErr = fmt.Errorf("useradd %s: %v: %s (install the Debian package passwd)", testUser, err, out)
				return
			}
		}
		// Make sure the password field is "*" even if the user was made some other way.
		if out, err := exec.Command("usermod", "--password", "*", testUser).CombinedOutput(); err != nil {
			testUserErr = fmt.Errorf("usermod %s: %v: %s", testUser, err, out)
			return
		}
		u, err := user.Lookup(testUser)
		if err != nil {
			testUserErr = err
			return
		}
		testUserUID, _ = strconv.Atoi(u.Uid)
		testUserGID, _ = strconv.Atoi(u.Gid)
	})
	if testUserErr != nil {
		t.Fatal(testUserErr)
	}
	return testUserUID, testUserGID
}

// sshd is a loopback OpenSSH server with its own host key, config and authorized keys.
type sshd struct {
	port       int
	knownHosts string // a known_hosts file naming its host key
	hostKey    ssh.PublicKey
	hostPriv   string // the host's private key file, for tests that play the server's part
	p          *proc
}

type sshdOpts struct {
	authorized []*testKey // public keys written to AuthorizedKeysFile
	trustedCA  *testKey   // TrustedUserCAKeys, if set
}

func startSSHD(t testing.TB, o sshdOpts) *sshd {
	t.Helper()
	needTool(t, sshdPath, "openssh-server")
	keygen := needTool(t, "ssh-keygen", "openssh-client")
	ensureTestUser(t)
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}

	// sshd reads AuthorizedKeysFile as the target user: the directory must be traversable by it.
	dir, err := os.MkdirTemp("", "vigil-e2e-sshd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hostKey := filepath.Join(dir, "host_ed25519")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "e2e-host", "-f", hostKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen host key: %v: %s", err, out)
	}
	var ak strings.Builder
	for _, k := range o.authorized {
		ak.WriteString(k.authorizedLine() + "\n")
	}
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authKeys, []byte(ak.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := []string{
		"ListenAddress 127.0.0.1",
		"HostKey " + hostKey,
		"PidFile none",
		"AuthorizedKeysFile " + authKeys,
		"StrictModes no",
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"AllowUsers " + testUser,
		"UseDNS no",
		"PrintMotd no",
		"AllowAgentForwarding yes",
		"LogLevel DEBUG3",
	}
	if o.trustedCA != nil {
		ca := filepath.Join(dir, "trusted_user_ca")
		if err := os.WriteFile(ca, []byte(o.trustedCA.authorizedLine()+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg = append(cfg, "TrustedUserCAKeys "+ca)
	}
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(strings.Join(cfg, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostPubData, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	hostPub, _, _, _, err := ssh.ParseAuthorizedKey(hostPubData)
	if err != nil {
		t.Fatal(err)
	}

	// A free port: bind :0, note it, close it. Another process could take it before sshd does; then sshd exits
	// and we try again.
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfgPath, "-p", strconv.Itoa(port))
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		p := startProc(t, "sshd", cmd)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := waitSSHBanner(p, addr, 20*time.Second); err != nil {
			if p.exited() && attempt < 3 && strings.Contains(p.stderr.String(), "Address already in use") {
				continue
			}
			t.Fatalf("sshd: %v; stderr:\n%s", err, p.stderr.String())
		}
		s := &sshd{port: port, p: p, knownHosts: filepath.Join(dir, "known_hosts"), hostKey: hostPub, hostPriv: hostKey}
		line := knownHostsLine(addr, hostPub)
		if err := os.WriteFile(s.knownHosts, []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func knownHostsLine(addr string, hostPub ssh.PublicKey) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("[%s]:%s %s", host, port, ssh.MarshalAuthorizedKey(hostPub))
}

// waitSSHBanner dials addr until sshd answers with its SSH-2.0 banner, or p exits.
func waitSSHBanner(p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if p.exited() {
			return fmt.Errorf("exited: %v", p.err)
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && strings.HasPrefix(line, "SSH-2.0-") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no SSH banner on %s within %v", addr, timeout)
		}
		<-tick.C
	}
}

// sshArgs are the arguments to log in to s through the agent at sock, touching nothing under ~/.ssh.
func (s *sshd) sshArgs(sock string, extra ...string) []string {
	args := []string{
		"-F", "none",
		"-o", "UserKnownHostsFile=" + s.knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "IdentitiesOnly=no",
		"-o", "IdentityAgent=" + sock,
		"-o", "BatchMode=yes",
		"-o", "PasswordAuthentication=no",
		"-o", "KbdInteractiveAuthentication=no",
		"-o", "UpdateHostKeys=no",
		"-o", "ControlMaster=no",
		"-o", "ControlPath=none",
		"-o", "ConnectTimeout=20",
		"-p", strconv.Itoa(s.port),
		"-l", testUser,
	}
	args = append(args, extra...)
	return append(args, "127.0.0.1")
}
