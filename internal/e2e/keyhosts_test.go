package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// boundList lists the agent's keys on a connection bound (session-bind) to
// srv, playing the ssh client's part with srv's host key.
func boundList(t *testing.T, sock string, srv *sshd) []string {
	t.Helper()
	b, err := os.ReadFile(srv.hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	host, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := dialAgent(sock, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sid := make([]byte, 32)
	rand.Read(sid)
	sig, err := host.Sign(rand.Reader, sid)
	if err != nil {
		t.Fatal(err)
	}
	ac := agent.NewClient(conn)
	if _, err := ac.Extension("session-bind@openssh.com", ssh.Marshal(struct {
		HostKey, SessionID, Sig []byte
		Fwd                     bool
	}{host.PublicKey().Marshal(), sid, ssh.Marshal(sig), false})); err != nil {
		t.Fatalf("session-bind: %v", err)
	}
	keys, err := ac.List()
	if err != nil {
		t.Fatal(err)
	}
	var fps []string
	for _, k := range keys {
		fps = append(fps, ssh.FingerprintSHA256(k))
	}
	return fps
}

// TestKeyHosts: vigil key hosts sets, on a key of the store, the servers it
// is for; a connection bound to another server is not offered it.
func TestKeyHosts(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent has no key store")
		return
	}
	bin := needVigil(t)
	srvA := startSSHD(t, sshdOpts{})
	srvB := startSSHD(t, sshdOpts{})
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	kh := knownHostsLine(fmt.Sprintf("127.0.0.1:%d", srvA.port), srvA.hostKey) +
		knownHostsLine(fmt.Sprintf("127.0.0.1:%d", srvB.port), srvB.hostKey)
	if err := os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(kh), 0o600); err != nil {
		t.Fatal(err)
	}
	askpass, passFile, _ := storeAskpass(t, t.TempDir())
	if err := os.WriteFile(passFile, []byte("pw for hosts\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(home, "store")
	vigil := func(args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(vigilEnvHome(home), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("vigil %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	vigil("key", "generate", "--store", store, "--comment", "for A")
	vigil("key", "generate", "--store", store, "--comment", "anywhere")
	nameA := fmt.Sprintf("[127.0.0.1]:%d", srvA.port)
	out := vigil("key", "hosts", "--store", store, "for A", nameA)
	fpA := strings.Fields(out)[0]
	if got := vigil("key", "hosts", "--store", store, "for A"); !strings.Contains(got, nameA) {
		t.Fatalf("vigil key hosts shows %q", got)
	}
	a, err := launchVigilHome(t, bin, filepath.Join(shortTempDir(t), "agent.sock"), home, newApprover(t, "approve"), "--store", store)
	if err != nil {
		t.Fatal(err)
	}
	if fps := boundList(t, a.sock, srvA); len(fps) != 2 {
		t.Errorf("bound to A: %v, want both keys", fps)
	}
	fps := boundList(t, a.sock, srvB)
	if len(fps) != 1 || fps[0] == fpA {
		t.Errorf("bound to B: %v, want only the key meant for anywhere (not %s)", fps, fpA)
	}
	// vigil why-not says what the agent does, the hosts set on the key
	// included.
	nameB := fmt.Sprintf("[127.0.0.1]:%d", srvB.port)
	for _, srv := range []*sshd{srvA, srvB} {
		name := fmt.Sprintf("[127.0.0.1]:%d", srv.port)
		checkWhyNot(t, vigil("why-not", "--socket", a.sock, name), name, boundList(t, a.sock, srv))
	}
	if out := collapse(vigil("why-not", nameA, "--socket", a.sock)); !strings.Contains(out, fpA+" for A offered the key's hosts (vigil key hosts) list "+nameA) {
		t.Errorf("why-not %s does not name the key's hosts:\n%s", nameA, out)
	}
	if out := collapse(vigil("why-not", nameB, "--socket", a.sock)); !strings.Contains(out, fpA+" for A hidden no offer lists "+nameB+" for this key") {
		t.Errorf("why-not %s does not say why the key is hidden:\n%s", nameB, out)
	}
	if out := must(t, client(t, a.sock, nil, "ssh-add", "-l")).stdout; strings.Count(out, "SHA256:") != 2 {
		t.Errorf("unbound list:\n%s", out)
	}
	vigil("key", "hosts", "--store", store, "--clear", "for A")
	if fps := boundList(t, a.sock, srvB); len(fps) != 2 {
		t.Errorf("after --clear, bound to B: %v, want both keys", fps)
	}
}

// checkWhyNot fails unless vigil why-not's table (out) says that exactly
// the keys offered (as a bound connection lists them) are offered to host.
func checkWhyNot(t *testing.T, out, host string, offered []string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "TO "+host) {
		t.Fatalf("vigil why-not %s:\n%s", host, out)
	}
	var says []string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		for _, w := range f[1:] {
			if w == "offered" {
				says = append(says, f[0])
				break
			}
			if w == "hidden" {
				break
			}
		}
	}
	slices.Sort(says)
	offered = slices.Sorted(slices.Values(offered))
	if !slices.Equal(says, offered) {
		t.Errorf("vigil why-not %s says %v are offered, the agent offers %v:\n%s", host, says, offered, out)
	}
}
