package e2e

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// TestOffersPerHost: with three keys, each meant for one host, ssh to host
// A is offered only A's key and host B only B's (sshd sees one key tried);
// ssh-keygen -Y, whose connection is bound to no server, sees every key;
// a signature with a key not offered to the bound server is refused without
// a prompt; vigil why-not explains it.
func TestOffersPerHost(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent offers every key to every host (without ssh-add -h)")
		return
	}
	sshBin := needTool(t, "ssh", "openssh-client")
	bin := needVigil(t)
	kA, kB, kC := key(t, "ed25519"), key(t, "ecdsa256"), key(t, "rsa2048")
	all := []*testKey{kA, kB, kC}
	srvA := startSSHD(t, sshdOpts{authorized: all})
	srvB := startSSHD(t, sshdOpts{authorized: all})
	nameA, nameB := fmt.Sprintf("[127.0.0.1]:%d", srvA.port), fmt.Sprintf("[127.0.0.1]:%d", srvB.port)

	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	kh := knownHostsLine(fmt.Sprintf("127.0.0.1:%d", srvA.port), srvA.hostKey) +
		knownHostsLine(fmt.Sprintf("127.0.0.1:%d", srvB.port), srvB.hostKey)
	if err := os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(kh), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "config.toml")
	offers := fmt.Sprintf("[[offer]]\nkey = %q\nhosts = [%q]\n[[offer]]\nkey = %q\nhosts = [%q]\n[[offer]]\nkey = %q\nhosts = [\"nowhere.example\"]\n",
		kA.fingerprint(), nameA, kB.fingerprint(), nameB, kC.fingerprint())
	if err := os.WriteFile(cfg, []byte(offers), 0o600); err != nil {
		t.Fatal(err)
	}
	ap := newApprover(t, "approve")
	a, err := launchVigilHome(t, bin, filepath.Join(shortTempDir(t), "agent.sock"), home, ap, "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	addKeys(t, a, all...)

	offered := regexp.MustCompile(`Offering public key: .* (SHA256:\S+) agent`)
	login := func(srv *sshd, want *testKey) {
		t.Helper()
		cmd := commandIn(t, a.sock, sshBin, append(srv.sshArgs(a.sock, "-v"), "echo", "ok")...)
		p := startProc(t, "ssh", cmd)
		if err := p.wait(t, 60*time.Second); err != nil {
			t.Fatalf("ssh to port %d: %v\n%s", srv.port, err, p.stderr.String())
		}
		var fps []string
		for _, m := range offered.FindAllStringSubmatch(p.stderr.String(), -1) {
			fps = append(fps, m[1])
		}
		if len(fps) != 1 || fps[0] != want.fingerprint() {
			t.Errorf("ssh to port %d was offered %v, want only %s", srv.port, fps, want.fingerprint())
		}
		t.Logf("ssh -v to port %d offered %v", srv.port, fps)
		ps := ap.prompts(t)
		if len(ps) == 0 || !strings.Contains(ps[len(ps)-1].Text, "offered: 1 of 3 keys to this server ("+want.fingerprint()+")") {
			t.Errorf("the login prompt does not say which keys were offered:\n%v", ps)
		}
	}
	login(srvA, kA)
	login(srvB, kB)
	if n := len(ap.prompts(t)); n != 2 {
		t.Errorf("%d prompts for two logins, want 2", n)
	}

	// Not bound to a server: every key, and signing with the key meant
	// for no host here works.
	if out := must(t, client(t, a.sock, nil, "ssh-add", "-l")).stdout; strings.Count(out, "SHA256:") != 3 {
		t.Errorf("unbound list shows:\n%s", out)
	}
	if s := sshsign(t, a.sock, kC, "file"); !s.sigExists {
		t.Errorf("ssh-keygen -Y sign with an offer-restricted key failed: %s", s.res)
	}

	// A connection bound to server A (we hold A's host key, so we can play
	// the client's part of session-bind) lists only A's key, and a
	// signature with B's key is refused without asking anyone.
	before := len(ap.prompts(t))
	hostKey, err := os.ReadFile(srvA.hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.ParsePrivateKey(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := dialAgent(a.sock, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sid := make([]byte, 32)
	rand.Read(sid)
	sig, err := hostSigner.Sign(rand.Reader, sid)
	if err != nil {
		t.Fatal(err)
	}
	bind := ssh.Marshal(struct {
		HostKey, SessionID, Sig []byte
		Fwd                     bool
	}{hostSigner.PublicKey().Marshal(), sid, ssh.Marshal(sig), false})
	ac := agent.NewClient(conn)
	if _, err := ac.Extension("session-bind@openssh.com", bind); err != nil {
		t.Fatalf("session-bind: %v", err)
	}
	keys, err := ac.List()
	if err != nil || len(keys) != 1 || ssh.FingerprintSHA256(keys[0]) != kA.fingerprint() {
		t.Fatalf("bound to A, the agent lists %d keys (%v)", len(keys), err)
	}
	if _, err := ac.Sign(kB.pub, []byte("data")); err == nil {
		t.Error("signed with a key not offered to the bound server")
	}
	if n := len(ap.prompts(t)); n != before {
		t.Errorf("the refused signature asked a person (%d prompts, want %d)", n, before)
	}

	cmd := exec.Command(bin, "why-not", "--socket", a.sock, nameA)
	cmd.Env = vigilEnvHome(home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vigil why-not: %v\n%s", err, out)
	}
	for _, want := range []string{kA.fingerprint() + "  " + kA.comment + "  offered", kB.fingerprint() + "  " + kB.comment + "  hidden"} {
		if !regexp.MustCompile(regexp.QuoteMeta(kA.fingerprint())).Match(out) || !strings.Contains(collapse(string(out)), collapse(want)) {
			t.Errorf("why-not output lacks %q:\n%s", want, out)
		}
	}
	checkWhyNot(t, string(out), nameA, boundList(t, a.sock, srvA))
	cmd = exec.Command(bin, "why-not", "--socket", a.sock, nameB)
	cmd.Env = vigilEnvHome(home)
	if out, err = cmd.CombinedOutput(); err != nil {
		t.Fatalf("vigil why-not: %v\n%s", err, out)
	}
	checkWhyNot(t, string(out), nameB, boundList(t, a.sock, srvB))
}

// collapse squeezes runs of spaces, so tabwriter's padding does not matter.
func collapse(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
