package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// listed is one line of `ssh-add -l`: "BITS SHA256:FP COMMENT (TYPE)".
type listed struct {
	bits    string
	fp      string
	comment string
	typ     string
}

// sshAddList runs ssh-add -l and parses it; an empty agent gives nil.
func sshAddList(t testing.TB, sock string) []listed {
	t.Helper()
	r := client(t, sock, nil, needTool(t, "ssh-add", "openssh-client"), "-l")
	if r.code == 1 && strings.Contains(r.stdout, "The agent has no identities.") {
		return nil
	}
	must(t, r)
	var out []listed
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			t.Fatalf("cannot parse ssh-add -l line %q", line)
		}
		out = append(out, listed{bits: f[0], fp: f[1], comment: strings.Join(f[2:len(f)-1], " "), typ: f[len(f)-1]})
	}
	return out
}

func hasFingerprint(l []listed, fp string) bool {
	for _, e := range l {
		if e.fp == fp {
			return true
		}
	}
	return false
}

func sshAdd(t testing.TB, sock string, args ...string) result {
	t.Helper()
	return client(t, sock, nil, needTool(t, "ssh-add", "openssh-client"), args...)
}

func TestSSHAddKeyTypes(t *testing.T) {
	t.Parallel()
	types := []struct {
		key, typ string
	}{
		{"ed25519", "(ED25519)"},
		{"ecdsa256", "(ECDSA)"},
		{"ecdsa384", "(ECDSA)"},
		{"ecdsa521", "(ECDSA)"},
		{"rsa2048", "(RSA)"},
		{"rsa3072", "(RSA)"},
	}
	a := startVigil(t, newApprover(t, "approve"))
	if l := sshAddList(t, a.sock); len(l) != 0 {
		t.Fatalf("a new agent lists %v, want nothing", l)
	}
	for i, tt := range types {
		k := key(t, tt.key)
		r := must(t, sshAdd(t, a.sock, k.path))
		if !strings.Contains(r.stderr, "Identity added: "+k.path) {
			t.Errorf("ssh-add %s said %q, want Identity added", tt.key, r.stderr)
		}
		l := sshAddList(t, a.sock)
		if len(l) != i+1 {
			t.Fatalf("after adding %d keys, ssh-add -l lists %d: %+v", i+1, len(l), l)
		}
		got := l[len(l)-1]
		want := listed{bits: fmt.Sprint(k.bits), fp: k.fingerprint(), comment: k.comment, typ: tt.typ}
		if got != want {
			t.Errorf("ssh-add -l after adding %s: got %+v, want %+v", tt.key, got, want)
		}
	}
	// -L prints each public key with its comment, as in the .pub file.
	r := must(t, sshAdd(t, a.sock, "-L"))
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(types) {
		t.Fatalf("ssh-add -L printed %d lines, want %d:\n%s", len(lines), len(types), r.stdout)
	}
	for i, tt := range types {
		k := key(t, tt.key)
		want := k.authorizedLine() + " " + k.comment
		if lines[i] != want {
			t.Errorf("ssh-add -L line %d = %q, want %q", i, lines[i], want)
		}
	}
}

func TestSSHAddDelete(t *testing.T) {
	t.Parallel()
	a := startVigil(t, newApprover(t, "approve"))
	k1, k2, k3 := key(t, "ed25519"), key(t, "ecdsa256"), key(t, "rsa2048")
	must(t, sshAdd(t, a.sock, k1.path, k2.path, k3.path))
	if l := sshAddList(t, a.sock); len(l) != 3 {
		t.Fatalf("ssh-add -l lists %d keys, want 3: %+v", len(l), l)
	}

	// -d with a public key file removes that key only.
	r := must(t, sshAdd(t, a.sock, "-d", pubOnly(t, k2)))
	if !strings.Contains(r.stderr, "Identity removed") {
		t.Errorf("ssh-add -d said %q, want Identity removed", r.stderr)
	}
	l := sshAddList(t, a.sock)
	if len(l) != 2 || hasFingerprint(l, k2.fingerprint()) || !hasFingerprint(l, k1.fingerprint()) || !hasFingerprint(l, k3.fingerprint()) {
		t.Fatalf("after ssh-add -d %s: %+v", k2.name, l)
	}
	// Removing it again fails.
	mustFail(t, sshAdd(t, a.sock, "-d", pubOnly(t, k2)))

	// -D removes everything.
	r = must(t, sshAdd(t, a.sock, "-D"))
	if !strings.Contains(r.stderr, "All identities removed.") {
		t.Errorf("ssh-add -D said %q, want All identities removed.", r.stderr)
	}
	r = sshAdd(t, a.sock, "-l")
	if r.code != 1 || !strings.Contains(r.stdout, "The agent has no identities.") {
		t.Fatalf("ssh-add -l after -D: %v", r)
	}
}

// TestSSHAddConfirm adds a key with -c: vigil asks for every signature anyway, and must ask once, not twice.
func TestSSHAddConfirm(t *testing.T) {
	t.Parallel()
	ap := newApprover(t, "approve")
	a := startVigil(t, ap)
	k := key(t, "ed25519")
	r := must(t, sshAdd(t, a.sock, "-c", k.path))
	if !strings.Contains(r.stderr, "Identity added") {
		t.Errorf("ssh-add -c said %q", r.stderr)
	}
	if l := sshAddList(t, a.sock); len(l) != 1 || l[0].fp != k.fingerprint() {
		t.Fatalf("ssh-add -l: %+v", l)
	}
	sig := sshsign(t, a.sock, k, "file")
	if sig.res.code != 0 {
		t.Fatalf("sign with a -c key: %v", sig.res)
	}
	p := ap.expectPrompts(t, 1)
	checkPrompt(t, p[0], k.fingerprint(), k.comment)
}

func TestSSHAddLifetime(t *testing.T) {
	t.Parallel()
	a := startVigil(t, newApprover(t, "approve"))
	short, long := key(t, "ed25519"), key(t, "ecdsa256")
	start := time.Now()
	must(t, sshAdd(t, a.sock, "-t", "2", short.path))
	must(t, sshAdd(t, a.sock, long.path))
	if l := sshAddList(t, a.sock); len(l) != 2 {
		t.Fatalf("ssh-add -l lists %d keys, want 2: %+v", len(l), l)
	}
	poll(t, 15*time.Second, "the key added with -t 2 to expire", func() (bool, string) {
		l := sshAddList(t, a.sock)
		return !hasFingerprint(l, short.fingerprint()), fmt.Sprintf("still listed: %+v", l)
	})
	// OpenSSH counts lifetimes in whole seconds of its monotonic clock, so "-t 2" may end after just over 1s.
	if d := time.Since(start); d < time.Second {
		t.Errorf("key added with -t 2 was gone after %v", d)
	}
	if l := sshAddList(t, a.sock); len(l) != 1 || l[0].fp != long.fingerprint() {
		t.Fatalf("after expiry: %+v, want only %s", l, long.name)
	}
}

// TestSSHAddLock locks with -x and unlocks with -X, the passphrase coming through SSH_ASKPASS.
func TestSSHAddLock(t *testing.T) {
	t.Parallel()
	ap := newApprover(t, "approve")
	a := startVigil(t, ap)
	k, other := key(t, "ed25519"), key(t, "ecdsa256")
	addKeys(t, a, k)

	pass := newApprover(t, "pass:correct horse")
	askpass := []string{"SSH_ASKPASS=" + pass.path, "SSH_ASKPASS_REQUIRE=force", "DISPLAY="}
	ssha := needTool(t, "ssh-add", "openssh-client")

	r := must(t, client(t, a.sock, askpass, ssha, "-x"))
	if !strings.Contains(r.stderr, "Agent locked.") {
		t.Errorf("ssh-add -x said %q, want Agent locked.", r.stderr)
	}
	if n := len(pass.prompts(t)); n != 2 {
		t.Errorf("ssh-add -x asked for the passphrase %d times, want 2 (enter, confirm)", n)
	}

	// Keys are still listed while locked (vigil; OpenSSH lists nothing).
	l := sshAddList(t, a.sock)
	if a.isOpenSSH() {
		if len(l) != 0 {
			t.Errorf("OpenSSH lists %+v while locked", l)
		}
	} else if len(l) != 1 || l[0].fp != k.fingerprint() {
		t.Errorf("while locked, ssh-add -l lists %+v, want %s", l, k.fingerprint())
	}
	// Signing is refused, without asking anyone.
	if s := sshsign(t, a.sock, k, "file"); s.res.code == 0 || s.sigExists {
		t.Errorf("signed while locked: %v", s.res)
	}
	if n := len(ap.prompts(t)); n != 0 {
		t.Errorf("the approver was asked %d times while the agent was locked, want 0: %+v", n, ap.prompts(t))
	}
	// Adding is refused.
	mustFail(t, sshAdd(t, a.sock, other.path))
	if l := sshAddList(t, a.sock); hasFingerprint(l, other.fingerprint()) {
		t.Errorf("a key added while locked is listed: %+v", l)
	}

	// A wrong passphrase does not unlock.
	pass.set(t, "pass:wrong")
	r = mustFail(t, client(t, a.sock, askpass, ssha, "-X"))
	if !strings.Contains(r.stderr, "Failed to unlock agent") {
		t.Errorf("ssh-add -X with a wrong passphrase said %q", r.stderr)
	}
	if s := sshsign(t, a.sock, k, "file"); s.res.code == 0 {
		t.Errorf("signed after a wrong unlock: %v", s.res)
	}
	if n := len(ap.prompts(t)); n != 0 {
		t.Errorf("the approver was asked %d times while locked, want 0", n)
	}

	// The right one does, and signing works again.
	pass.set(t, "pass:correct horse")
	r = must(t, client(t, a.sock, askpass, ssha, "-X"))
	if !strings.Contains(r.stderr, "Agent unlocked.") {
		t.Errorf("ssh-add -X said %q, want Agent unlocked.", r.stderr)
	}
	if l := sshAddList(t, a.sock); len(l) != 1 || l[0].fp != k.fingerprint() {
		t.Errorf("after unlock, ssh-add -l lists %+v", l)
	}
	s := sshsign(t, a.sock, k, "file")
	if s.res.code != 0 {
		t.Fatalf("sign after unlock: %v", s.res)
	}
	ap.expectPrompts(t, 1)
}

func TestSSHAddCertificate(t *testing.T) {
	t.Parallel()
	a := startVigil(t, newApprover(t, "approve"))
	certs := []struct{ key, typ string }{
		{"cert-ed25519", "(ED25519-CERT)"},
		{"cert-ecdsa256", "(ECDSA-CERT)"},
		{"cert-ecdsa384", "(ECDSA-CERT)"},
		{"cert-ecdsa521", "(ECDSA-CERT)"},
		{"cert-rsa2048", "(RSA-CERT)"},
	}
	for _, c := range certs {
		k := key(t, c.key)
		r := must(t, sshAdd(t, a.sock, k.path))
		if !strings.Contains(r.stderr, "Certificate added: "+k.certPath()) {
			t.Errorf("ssh-add %s said %q, want Certificate added", c.key, r.stderr)
		}
	}
	// ssh-add adds the plain key and the certificate: two identities each, with the same fingerprint.
	l := sshAddList(t, a.sock)
	if len(l) != 2*len(certs) {
		t.Fatalf("ssh-add -l lists %d identities, want %d: %+v", len(l), 2*len(certs), l)
	}
	for _, c := range certs {
		k := key(t, c.key)
		var n int
		var sawCert bool
		for _, e := range l {
			if e.fp == k.fingerprint() {
				n++
				sawCert = sawCert || e.typ == c.typ
			}
		}
		if n != 2 || !sawCert {
			t.Errorf("%s: ssh-add -l lists it %d times (want 2), cert type %s seen: %v", c.key, n, c.typ, sawCert)
		}
	}
	r := must(t, sshAdd(t, a.sock, "-L"))
	for _, c := range certs {
		k := key(t, c.key)
		certLine, err := os.ReadFile(k.certPath())
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(certLine))
		if !strings.Contains(r.stdout, f[0]+" "+f[1]+" ") {
			t.Errorf("ssh-add -L does not show the certificate %s", c.key)
		}
	}
}

func TestSSHAddRSA1024Refused(t *testing.T) {
	t.Parallel()
	a := startVigil(t, newApprover(t, "approve"))
	k := key(t, "rsa1024")
	mustFail(t, sshAdd(t, a.sock, k.path))
	if l := sshAddList(t, a.sock); len(l) != 0 {
		t.Errorf("after a refused RSA-1024 add, ssh-add -l lists %+v", l)
	}
	// The agent still works.
	must(t, sshAdd(t, a.sock, key(t, "rsa2048").path))
}

// TestSSHAddDestinationConstraintRefused: ssh-add -h sends the restrict-destination-v00@openssh.com extension
// constraint; vigil refuses every extension constraint rather than ignore it.
// TestSSHAddDestinationConstraint: a key added with ssh-add -h hostA is
// used for a login to host A, hidden from and refused for host B, and
// refused for anything but a login (ssh-keygen -Y), as OpenSSH's agent does.
func TestSSHAddDestinationConstraint(t *testing.T) {
	t.Parallel()
	ap := newApprover(t, "approve")
	a := startVigil(t, ap)
	sshBin := needTool(t, "ssh", "openssh-client")
	k := key(t, "ed25519")
	srvA := startSSHD(t, sshdOpts{authorized: []*testKey{k}})
	srvB := startSSHD(t, sshdOpts{authorized: []*testKey{k}})
	// ssh-add -h looks the destination's host keys up in known_hosts.
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte("hostA "+string(ssh.MarshalAuthorizedKey(srvA.hostKey))), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, sshAdd(t, a.sock, "-H", kh, "-h", "hostA", k.path))
	if l := sshAddList(t, a.sock); len(l) != 1 {
		t.Fatalf("a constrained key is listed locally as %+v, want it listed", l)
	}
	login := func(srv *sshd) error {
		cmd := commandIn(t, a.sock, sshBin, append(srv.sshArgs(a.sock), "echo", "ok")...)
		p := startProc(t, "ssh", cmd)
		return p.wait(t, 60*time.Second)
	}
	if err := login(srvA); err != nil {
		t.Fatalf("login to the permitted host A failed: %v", err)
	}
	if err := login(srvB); err == nil {
		t.Fatal("login to host B succeeded with a key constrained to host A")
	}
	if a.isOpenSSH() {
		return
	}
	if s := sshsign(t, a.sock, k, "file"); s.sigExists {
		t.Error("ssh-keygen -Y signed with a destination-constrained key")
	}
	if n := len(ap.prompts(t)); n != 1 {
		t.Errorf("%d prompts, want 1 (the login to A; the rest refused without asking)", n)
	}
}
