package broker

import (
	"net"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh/agent"

	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/credential/cargo"
	"github.com/vigil-agent/vigil/internal/credential/paseto"
)

// keyStore is a MemoryStore that also keeps PASETO keys.
type keyStore struct {
	*MemoryStore
	keys *MemoryStore
}

func (s keyStore) GetKey(u string) (credential.Token, error)   { return s.keys.Get(u) }
func (s keyStore) PutKey(u string, tok credential.Token) error { return s.keys.Put(u, tok) }

// keyMessage sends a key message to the rig's agent.
func (r *rig) keyMessage(op string) (string, error) {
	r.t.Helper()
	c, err := net.Dial("unix", r.sock)
	if err != nil {
		r.t.Fatal(err)
	}
	defer c.Close()
	reply, err := agent.NewClient(c).Extension(CargoExtension, EncodeKeyRequest(op, indexURL))
	if err != nil {
		r.t.Fatal(err)
	}
	return DecodeKeyReply(reply[1:])
}

func TestCargoPaseto(t *testing.T) {
	r := newRig(t)
	ks := keyStore{MemoryStore: r.store, keys: NewMemoryStore()}
	r.broker.SetTokens(ks)

	if _, err := r.keyMessage(KeyPublicKey); err == nil || !strings.Contains(err.Error(), "no key") {
		t.Fatalf("public-key before keygen: %v", err)
	}
	pub, err := r.keyMessage(KeyGen)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := r.keyMessage(KeyPublicKey); err != nil || again != pub {
		t.Fatalf("public-key: %q %v, keygen said %q", again, err, pub)
	}
	if _, err := r.keyMessage(KeyGen); err == nil || !strings.Contains(err.Error(), "already has a key") {
		t.Fatalf("second keygen: %v", err)
	}
	if again, _ := r.keyMessage(KeyPublicKey); again != pub {
		t.Fatal("a second keygen replaced the key")
	}
	pk, err := paseto.ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	r.takeEvents()

	// Publish, approved: a v3.public token for exactly this publish.
	resp, e := decode(t, r.plugin(publish(t)))
	if e != nil {
		t.Fatalf("publish: %v", e)
	}
	if resp.Cache != cargo.CacheNever || resp.OperationIndependent {
		t.Errorf("publish response: cache %q, operation independent %v", resp.Cache, resp.OperationIndependent)
	}
	claims, err := paseto.VerifyCargo(pk, resp.Token.Reveal(), indexURL, r.now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := claims.Check(cargo.OpPublish, "foo", "0.2.0", cksum); err != nil {
		t.Error(err)
	}
	if err := claims.Check(cargo.OpPublish, "foo", "0.3.0", cksum); err == nil {
		t.Error("the 0.2.0 token passes for 0.3.0")
	}
	if len(r.takePrompts()) != 1 {
		t.Error("the publish was not asked")
	}
	ev := wantEvent(t, r.takeEvents(), audit.Allowed, "cargo-publish", "crate foo 0.2.0 at registry "+indexURL)
	if !strings.Contains(ev.Detail, "signed a v3.public token with "+pk.ID()) {
		t.Errorf("detail %q", ev.Detail)
	}

	// Denied: nothing signed.
	r.set(func(r *rig) { r.answer = false })
	wantError(t, r.plugin(publish(t)), cargo.Other, "vigil did not allow cargo to publish foo 0.2.0")

	// A plain token, when there is one, is preferred.
	r.set(func(r *rig) { r.answer = true })
	if err := r.store.Put(indexURL, credential.UncheckedToken(secret)); err != nil {
		t.Fatal(err)
	}
	resp, e = decode(t, r.plugin(publish(t)))
	if e != nil || resp.Token.Reveal() != secret {
		t.Errorf("with a plain token stored: %v", e)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if strings.Contains(r.logs.String(), paseto.PrefixSecret) {
		t.Errorf("the log holds a secret key:\n%s", r.logs.String())
	}
}
