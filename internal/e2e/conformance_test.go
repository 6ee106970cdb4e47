package e2e

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// agentDiffs are the known, intended differences between vigil and OpenSSH's ssh-agent.
type agentDiffs struct {
	listsWhileLocked bool // vigil lists public keys while locked; OpenSSH lists nothing
	promptsEverySign bool // vigil asks for every signature; OpenSSH only for keys added with confirm
	refusesRSA1024   bool // vigil refuses RSA keys under 2048 bits; OpenSSH takes 1024
}

// TestConformanceOpenSSH runs the conformance body against OpenSSH's ssh-agent, to check the body itself.
func TestConformanceOpenSSH(t *testing.T) {
	t.Parallel()
	ap := newApprover(t, "approve")
	a := startOpenSSHAgent(t, ap)
	testConformance(t, a.sock, ap, agentDiffs{})
}

func TestConformanceVigil(t *testing.T) {
	t.Parallel()
	ap := newApprover(t, "approve")
	a := startVigil(t, ap)
	d := agentDiffs{listsWhileLocked: true, promptsEverySign: true, refusesRSA1024: true}
	if a.isOpenSSH() {
		d = agentDiffs{}
	}
	testConformance(t, a.sock, ap, d)
}

// testConformance is one agent-protocol body, after x/crypto's testAgentInterface, run through x/crypto's
// agent client against any agent socket whose confirm prompts go to ap.
func testConformance(t *testing.T, sock string, ap *approver, d agentDiffs) {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ac := agent.NewClient(conn)

	prompts := 0
	expectPrompts := func(step string, delta int) {
		t.Helper()
		prompts += delta
		if got := len(ap.prompts(t)); got != prompts {
			t.Fatalf("%s: approver asked %d times in all, want %d", step, got, prompts)
		}
	}
	signPrompts := func(confirm bool) int {
		if confirm || d.promptsEverySign {
			return 1
		}
		return 0
	}
	list := func(step string) []*agent.Key {
		t.Helper()
		keys, err := ac.List()
		if err != nil {
			t.Fatalf("%s: List: %v", step, err)
		}
		return keys
	}
	data := []byte("vigil conformance data")

	if keys := list("start"); len(keys) != 0 {
		t.Fatalf("a new agent lists %d keys", len(keys))
	}

	// Add, list, sign, verify, remove: each key type, with and without confirm.
	for _, name := range []string{"ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa2048", "rsa3072"} {
		for _, confirm := range []bool{false, true} {
			k := key(t, name)
			step := fmt.Sprintf("%s confirm=%v", name, confirm)
			if err := ac.Add(agent.AddedKey{PrivateKey: k.priv, Comment: k.comment, ConfirmBeforeUse: confirm}); err != nil {
				t.Fatalf("%s: Add: %v", step, err)
			}
			keys := list(step)
			if len(keys) != 1 || keys[0].Comment != k.comment || !bytes.Equal(keys[0].Blob, k.pub.Marshal()) {
				t.Fatalf("%s: List = %v, want the one key with comment %q", step, keys, k.comment)
			}
			if k.pub.Type() == ssh.KeyAlgoRSA {
				for flag, format := range map[agent.SignatureFlags]string{
					agent.SignatureFlagRsaSha256: ssh.KeyAlgoRSASHA256,
					agent.SignatureFlagRsaSha512: ssh.KeyAlgoRSASHA512,
				} {
					sig, err := ac.SignWithFlags(k.pub, data, flag)
					if err != nil {
						t.Fatalf("%s: SignWithFlags(%s): %v", step, format, err)
					}
					if sig.Format != format {
						t.Errorf("%s: signature format %s, want %s", step, sig.Format, format)
					}
					if err := k.pub.Verify(data, sig); err != nil {
						t.Errorf("%s: Verify(%s): %v", step, format, err)
					}
					expectPrompts(step+" "+format, signPrompts(confirm))
				}
			} else {
				sig, err := ac.Sign(k.pub, data)
				if err != nil {
					t.Fatalf("%s: Sign: %v", step, err)
				}
				if err := k.pub.Verify(data, sig); err != nil {
					t.Errorf("%s: Verify: %v", step, err)
				}
				expectPrompts(step+" sign", signPrompts(confirm))
			}
			if confirm {
				p := ap.prompts(t)
				checkPrompt(t, p[len(p)-1], k.fingerprint())
			}
			if err := ac.Remove(k.pub); err != nil {
				t.Fatalf("%s: Remove: %v", step, err)
			}
			if keys := list(step + " after Remove"); len(keys) != 0 {
				t.Fatalf("%s: after Remove, List = %v", step, keys)
			}
			if err := ac.Remove(k.pub); err == nil {
				t.Errorf("%s: removing a key twice succeeded", step)
			}
		}
	}

	// A confirm key whose use is denied does not sign.
	{
		k := key(t, "ed25519")
		if err := ac.Add(agent.AddedKey{PrivateKey: k.priv, Comment: k.comment, ConfirmBeforeUse: true}); err != nil {
			t.Fatalf("Add confirm: %v", err)
		}
		ap.set(t, "deny")
		if sig, err := ac.Sign(k.pub, data); err == nil {
			t.Errorf("signed (%s) after the approver denied", sig.Format)
		}
		expectPrompts("denied sign", 1)
		ap.set(t, "approve")
		if err := ac.RemoveAll(); err != nil {
			t.Fatalf("RemoveAll: %v", err)
		}
	}

	// Adding the same key twice keeps one entry.
	{
		k := key(t, "ecdsa256")
		for i := range 2 {
			if err := ac.Add(agent.AddedKey{PrivateKey: k.priv, Comment: fmt.Sprintf("copy %d", i)}); err != nil {
				t.Fatalf("Add #%d: %v", i, err)
			}
		}
		if keys := list("added twice"); len(keys) != 1 {
			t.Errorf("the same key added twice is listed %d times", len(keys))
		}
		if err := ac.RemoveAll(); err != nil {
			t.Fatalf("RemoveAll: %v", err)
		}
	}

	// Certificates: listed as the certificate, signing with the certificate's key.
	for _, name := range []string{"cert-ed25519", "cert-ecdsa256", "cert-ecdsa384", "cert-ecdsa521", "cert-rsa2048"} {
		k := key(t, name)
		if err := ac.Add(agent.AddedKey{PrivateKey: k.priv, Certificate: k.cert, Comment: k.comment}); err != nil {
			t.Fatalf("%s: Add: %v", name, err)
		}
		keys := list(name)
		if len(keys) != 1 || !bytes.Equal(keys[0].Blob, k.cert.Marshal()) {
			t.Fatalf("%s: List = %v, want the certificate", name, keys)
		}
		var sig *ssh.Signature
		var err error
		if k.pub.Type() == ssh.KeyAlgoRSA {
			sig, err = ac.SignWithFlags(k.cert, data, agent.SignatureFlagRsaSha512)
		} else {
			sig, err = ac.Sign(k.cert, data)
		}
		if err != nil {
			t.Fatalf("%s: Sign: %v", name, err)
		}
		if err := k.cert.Verify(data, sig); err != nil {
			t.Errorf("%s: Verify: %v", name, err)
		}
		expectPrompts(name, signPrompts(false))
		if err := ac.Remove(k.cert); err != nil {
			t.Fatalf("%s: Remove: %v", name, err)
		}
	}

	// RemoveAll.
	for _, name := range []string{"ed25519", "ecdsa384", "rsa2048"} {
		k := key(t, name)
		if err := ac.Add(agent.AddedKey{PrivateKey: k.priv, Comment: k.comment}); err != nil {
			t.Fatalf("Add %s: %v", name, err)
		}
	}
	if keys := list("three keys"); len(keys) != 3 {
		t.Fatalf("List = %d keys, want 3", len(keys))
	}
	if err := ac.RemoveAll(); err != nil {
		t.Fatalf("RemoveAll: %v", err)
	}
	if keys := list("after RemoveAll"); len(keys) != 0 {
		t.Fatalf("after RemoveAll, List = %v", keys)
	}

	// Lock and unlock.
	{
		k, other := key(t, "ed25519"), key(t, "ecdsa256")
		if err := ac.Add(agent.AddedKey{PrivateKey: k.priv, Comment: k.comment}); err != nil {
			t.Fatalf("Add: %v", err)
		}
		if err := ac.Unlock([]byte("not locked")); err == nil {
			t.Errorf("Unlock of an unlocked agent succeeded")
		}
		if err := ac.Lock([]byte("pass phrase")); err != nil {
			t.Fatalf("Lock: %v", err)
		}
		keys := list("locked")
		if d.listsWhileLocked {
			if len(keys) != 1 || !bytes.Equal(keys[0].Blob, k.pub.Marshal()) {
				t.Errorf("while locked, List = %v, want the key", keys)
			}
		} else if len(keys) != 0 {
			t.Errorf("while locked, List = %v, want nothing", keys)
		}
		if _, err := ac.Sign(k.pub, data); err == nil {
			t.Errorf("signed while locked")
		}
		if err := ac.Add(agent.AddedKey{PrivateKey: other.priv, Comment: other.comment}); err == nil {
			t.Errorf("added a key while locked")
		}
		if err := ac.Remove(k.pub); err == nil {
			t.Errorf("removed a key while locked")
		}
		if err := ac.Lock([]byte("again")); err == nil {
			t.Errorf("locked a locked agent")
		}
		if err := ac.Unlock([]byte("wrong")); err == nil {
			t.Errorf("Unlock with a wrong passphrase succeeded")
		}
		expectPrompts("while locked", 0)
		if err := ac.Unlock([]byte("pass phrase")); err != nil {
			t.Fatalf("Unlock: %v", err)
		}
		keys = list("unlocked")
		if len(keys) != 1 || !bytes.Equal(keys[0].Blob, k.pub.Marshal()) {
			t.Fatalf("after Unlock, List = %v, want only the key", keys)
		}
		sig, err := ac.Sign(k.pub, data)
		if err != nil {
			t.Fatalf("Sign after Unlock: %v", err)
		}
		if err := k.pub.Verify(data, sig); err != nil {
			t.Errorf("Verify after Unlock: %v", err)
		}
		expectPrompts("after unlock", signPrompts(false))
		if err := ac.RemoveAll(); err != nil {
			t.Fatalf("RemoveAll: %v", err)
		}
	}

	// RSA-1024.
	{
		k := key(t, "rsa1024")
		err := ac.Add(agent.AddedKey{PrivateKey: k.priv, Comment: k.comment})
		if d.refusesRSA1024 && err == nil {
			t.Errorf("added an RSA-1024 key")
		} else if !d.refusesRSA1024 && err != nil {
			t.Errorf("Add RSA-1024: %v", err)
		}
		ac.RemoveAll()
	}

	// Unknown extension constraints and extensions are refused.
	{
		k := key(t, "ed25519")
		err := ac.Add(agent.AddedKey{PrivateKey: k.priv, Comment: k.comment,
			ConstraintExtensions: []agent.ConstraintExtension{{ExtensionName: "no-such-constraint@vigil.test"}}})
		if err == nil {
			t.Errorf("added a key with an unknown extension constraint")
		}
		if keys := list("after unknown constraint"); len(keys) != 0 {
			t.Errorf("after a refused constrained add, List = %v", keys)
		}
		if _, err := ac.Extension("no-such-extension@vigil.test", nil); err != agent.ErrExtensionUnsupported {
			t.Errorf("unknown extension: err = %v, want ErrExtensionUnsupported", err)
		}
	}

	// Lifetime: the key goes by itself.
	{
		k, stay := key(t, "ed25519"), key(t, "ecdsa384")
		if err := ac.Add(agent.AddedKey{PrivateKey: k.priv, Comment: k.comment, LifetimeSecs: 1}); err != nil {
			t.Fatalf("Add with lifetime: %v", err)
		}
		if err := ac.Add(agent.AddedKey{PrivateKey: stay.priv, Comment: stay.comment}); err != nil {
			t.Fatalf("Add: %v", err)
		}
		if keys := list("lifetime"); len(keys) != 2 {
			t.Fatalf("List = %v, want 2 keys", keys)
		}
		var keys []*agent.Key
		poll(t, 10*time.Second, "a key with a 1s lifetime to go", func() (bool, string) {
			keys = list("lifetime")
			return len(keys) == 1, fmt.Sprintf("%d keys listed", len(keys))
		})
		if !bytes.Equal(keys[0].Blob, stay.pub.Marshal()) {
			t.Errorf("the wrong key expired")
		}
	}

	// SHA-1 RSA signatures (flags 0): OpenSSH still makes them; whatever the agent does, log it.
	{
		k := key(t, "rsa2048")
		if err := ac.Add(agent.AddedKey{PrivateKey: k.priv, Comment: k.comment}); err != nil {
			t.Fatalf("Add: %v", err)
		}
		sig, err := ac.Sign(k.pub, data)
		if err != nil {
			t.Logf("ssh-rsa (SHA-1) sign refused: %v", err)
		} else {
			t.Logf("ssh-rsa sign with flags 0 gave a %s signature", sig.Format)
			if err := k.pub.Verify(data, sig); err != nil {
				t.Errorf("Verify(%s): %v", sig.Format, err)
			}
		}
	}
}
