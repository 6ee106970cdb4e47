package agent

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// grantingApprover stands in for a person at a pinentry with an "Allow for
// 5 min" button.
type grantingApprover struct {
	asked    atomic.Int32
	allow    atomic.Bool
	grantFor time.Duration
	offered  atomic.Bool // whether the last prompt could offer a grant
}

func (g *grantingApprover) Confirm(ctx context.Context, text string) (bool, error) {
	ok, _, err := g.ConfirmGrant(ctx, text, false)
	return ok, err
}

func (g *grantingApprover) ConfirmGrant(_ context.Context, _ string, offerGrant bool) (bool, time.Duration, error) {
	g.asked.Add(1)
	g.offered.Store(offerGrant)
	if !g.allow.Load() {
		return false, 0, nil
	}
	if offerGrant {
		return true, g.grantFor, nil
	}
	return true, 0, nil
}

func sshsig(ns string) []byte {
	return append([]byte("SSHSIG"), ssh.Marshal(struct {
		Namespace, Reserved, HashAlg string
		Hash                         []byte
	}{ns, "", "sha512", make([]byte, 64)})...)
}

func TestGrants(t *testing.T) {
	g := &grantingApprover{grantFor: 5 * time.Minute}
	g.allow.Store(true)
	_, dial := serve(t, Config{Approver: g})
	client := agent.NewClient(dial())
	priv, pub := newKey(t)
	if err := client.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sign := func(data []byte) {
		t.Helper()
		if _, err := client.Sign(pub, data); err != nil {
			t.Fatalf("sign: %v", err)
		}
	}
	// A git signature can be scoped exactly: the person grants 5 minutes.
	sign(sshsig("git"))
	if g.asked.Load() != 1 || !g.offered.Load() {
		t.Fatalf("asked %d times, grant offered %v", g.asked.Load(), g.offered.Load())
	}
	for range 20 { // a rebase signing twenty commits asks once
		sign(sshsig("git"))
	}
	if n := g.asked.Load(); n != 1 {
		t.Errorf("asked %d times for 21 git signatures under a grant, want 1", n)
	}
	// The grant is listed, and revoking it makes the next signature ask.
	reply, err := client.Extension("grants@vigil", nil)
	if err != nil || !strings.Contains(string(reply), `"Purpose":"git"`) {
		t.Fatalf("grants@vigil = %q, %v", reply, err)
	}
	if _, err := client.Extension("revoke@vigil", []byte("all")); err != nil {
		t.Fatal(err)
	}
	sign(sshsig("git"))
	if n := g.asked.Load(); n != 2 {
		t.Errorf("a revoked grant still signed (asked %d times, want 2)", n)
	}
	g.asked.Store(1)
	// Another purpose is not covered.
	sign(sshsig("file"))
	if n := g.asked.Load(); n != 2 {
		t.Errorf("a file signature used the git grant (asked %d times)", n)
	}
	// Unrecognised data cannot be granted: it could be anything.
	sign([]byte("anything"))
	if g.offered.Load() {
		t.Error("a grant was offered for unrecognised data")
	}
	// Locking drops every grant.
	if err := client.Lock([]byte("pw")); err != nil {
		t.Fatal(err)
	}
	if err := client.Unlock([]byte("pw")); err != nil {
		t.Fatal(err)
	}
	before := g.asked.Load()
	sign(sshsig("git"))
	if g.asked.Load() != before+1 {
		t.Error("a grant survived a lock")
	}
}

func TestCooldown(t *testing.T) {
	g := &grantingApprover{}
	_, dial := serve(t, Config{Approver: g})
	client := agent.NewClient(dial())
	priv, pub := newKey(t)
	if err := client.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := client.Sign(pub, sshsig("git")); err == nil {
			t.Fatal("signed although the person said no")
		}
	}
	if _, err := client.Sign(pub, sshsig("git")); err == nil {
		t.Fatal("signed while cooling down")
	}
	if n := g.asked.Load(); n != 3 {
		t.Errorf("asked %d times, want 3: after three denials the program is refused without a prompt", n)
	}
}

// GrantUses caps a grant: it covers that many signatures, then the next one
// asks again.
func TestGrantUses(t *testing.T) {
	g := &grantingApprover{grantFor: 5 * time.Minute}
	g.allow.Store(true)
	_, dial := serve(t, Config{Approver: g, GrantUses: 3})
	client := agent.NewClient(dial())
	priv, pub := newKey(t)
	if err := client.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := client.Sign(pub, sshsig("git")); err != nil {
			t.Fatalf("sign %d: %v", i, err)
		}
	}
	// Asked for the first; the grant covered three; the fifth asked again.
	if n := g.asked.Load(); n != 2 {
		t.Errorf("asked %d times for 5 signatures with grant_uses = 3, want 2", n)
	}
}
