package broker

import (
	"errors"
	"strings"
	"testing"

	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/credential/cargo"
	"github.com/vigil-agent/vigil/internal/credential/paseto"
)

// keyStore is a MemoryStore that also keeps PASETO keys, without subjects.
type keyStore struct {
	*MemoryStore
	keys *MemoryStore
}

func (s keyStore) GetKey(u string) (credential.Token, error)   { return s.keys.Get(u) }
func (s keyStore) PutKey(u string, tok credential.Token) error { return s.keys.Put(u, tok) }
func (s keyStore) RemoveKey(u string) error                    { return s.keys.Remove(u) }
func (s keyStore) GetSubject(string) (string, error)           { return "", nil }
func (s keyStore) PutSubject(string, string) error             { return errors.New("no subjects here") }

// keyMessage sends a key message to the rig's agent.
func (r *rig) keyMessage(op string) (string, error) {
	r.t.Helper()
	reply, err := r.control(CargoExtension, string(EncodeKeyRequest(KeyRequest{Op: op, IndexURL: indexURL})))
	if err != nil {
		r.t.Fatal(err)
	}
	return DecodeKeyReply(reply)
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

// TestCargoLoginKey: cargo login given a k3.secret PASERK (as cargo:paseto
// takes one) stores it as the registry's key and drops the plain token, so
// that gets are answered with tokens that key signs; logout forgets it.
func TestCargoLoginKey(t *testing.T) {
	// RFC 3231's example key.
	const (
		secretKey = "k3.secret.fNYVuMvBgOlljt9TDohnaYLblghqaHoQquVZwgR6X12cBFHZLFsaU3q7X3k1Zn36"
		publicKey = "k3.public.AmDwjlyf8jAV3gm5Z7Kz9xAOcsKslt_Vwp5v-emjFzBHLCtcANzTaVEghTNEMj9PkQ"
	)
	r := newRig(t)
	ks := keyStore{MemoryStore: r.store, keys: NewMemoryStore()}
	r.broker.SetTokens(ks)
	if err := r.store.Put(indexURL, credential.UncheckedToken(secret)); err != nil {
		t.Fatal(err)
	}

	wantError(t, r.plugin(login(t, "k3.secret.AAAA")), cargo.Other, "the k3.secret key given to cargo login is unusable")
	if _, err := ks.GetKey(indexURL); err == nil {
		t.Fatal("an unusable key was stored")
	}
	r.takeEvents()

	if resp, e := decode(t, r.plugin(login(t, secretKey))); e != nil || resp.Kind != cargo.KindLogin {
		t.Fatalf("login with a key: %+v %v", resp, e)
	}
	// The key's id is RFC 3231's for that key.
	if ev := wantEvent(t, r.takeEvents(), audit.Allowed, "cargo-login", "registry "+indexURL); !strings.Contains(ev.Detail, "k3.pid.QB3WNBP-5j-0XQV2MOuvuOcLlJ8uz-pmqtIZus1x3YTu") {
		t.Errorf("login record detail %q, want the key's id", ev.Detail)
	}
	if pub, err := r.keyMessage(KeyPublicKey); err != nil || pub != publicKey {
		t.Fatalf("public key after login: %q %v, want %q", pub, err, publicKey)
	}
	if _, err := r.store.Get(indexURL); err == nil {
		t.Error("the plain token is still stored, and would be used before the key")
	}
	// Another key does not replace it: a same-user process could
	// otherwise swap out the key the registry trusts. The same key again
	// is fine.
	const otherKey = "k3.secret.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"
	if _, err := paseto.ParseSecretKey(otherKey); err != nil {
		t.Fatalf("test key: %v", err)
	}
	r.takeEvents()
	wantError(t, r.plugin(login(t, otherKey)), cargo.Other, "run `cargo logout --registry fake` first")
	wantEvent(t, r.takeEvents(), audit.Denied, "cargo-login", "registry "+indexURL)
	if got, err := ks.GetKey(indexURL); err != nil || got.Reveal() != secretKey {
		t.Fatalf("the stored key was replaced by another cargo login (%v)", err)
	}
	if resp, e := decode(t, r.plugin(login(t, secretKey))); e != nil || resp.Kind != cargo.KindLogin {
		t.Fatalf("login again with the same key: %+v %v", resp, e)
	}
	r.takeEvents()
	pk, err := paseto.ParsePublicKey(publicKey)
	if err != nil {
		t.Fatal(err)
	}
	resp, e := decode(t, r.plugin(publish(t)))
	if e != nil {
		t.Fatalf("publish: %v", e)
	}
	if _, err := paseto.VerifyCargo(pk, resp.Token.Reveal(), indexURL, r.now, 0); err != nil {
		t.Errorf("the publish token does not verify with the imported key: %v", err)
	}

	if resp, e := decode(t, r.plugin(line(t, cargo.Request{Kind: cargo.KindLogout}))); e != nil || resp.Kind != cargo.KindLogout {
		t.Fatalf("logout: %+v %v", resp, e)
	}
	if _, err := ks.GetKey(indexURL); err == nil {
		t.Error("the key is still stored after logout")
	}
	wantError(t, r.plugin(line(t, cargo.Request{Kind: cargo.KindLogout})), cargo.NotFound, "")

	r.mu.Lock()
	defer r.mu.Unlock()
	if strings.Contains(r.logs.String(), paseto.PrefixSecret) {
		t.Errorf("the log holds a secret key:\n%s", r.logs.String())
	}
}
