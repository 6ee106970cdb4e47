package keystore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func genKey(t testing.TB, kind string) crypto.PrivateKey {
	t.Helper()
	var (
		k   crypto.PrivateKey
		err error
	)
	switch kind {
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	case "p256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "p521":
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "rsa2048":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "rsa1024":
		k, err = rsa.GenerateKey(rand.Reader, 1024)
	}
	if err != nil || k == nil {
		t.Fatalf("generate %s: %v", kind, err)
	}
	return k
}

var keyKinds = []string{"ed25519", "p256", "p384", "p521", "rsa2048"}

// signAndVerify signs with the stored key and checks the signature against
// its public key.
func signAndVerify(t *testing.T, s *Store, k Key, flags uint32) *ssh.Signature {
	t.Helper()
	data := []byte("data to sign")
	sig, err := s.Sign(k.ID, data, flags)
	if err != nil {
		t.Fatalf("Sign(%s): %v", k.Describe(), err)
	}
	if err := k.Public.Verify(data, sig); err != nil {
		t.Fatalf("Verify(%s): %v", k.Describe(), err)
	}
	return sig
}

func TestAddListSign(t *testing.T) {
	s := New(nil)
	for _, kind := range keyKinds {
		k, err := s.Add(genKey(t, kind), nil, kind+" key", Constraints{})
		if err != nil {
			t.Fatalf("Add(%s): %v", kind, err)
		}
		signAndVerify(t, s, k, 0)
	}
	list := s.List()
	if len(list) != len(keyKinds) {
		t.Fatalf("List has %d keys, want %d", len(list), len(keyKinds))
	}
	for i, k := range list {
		if k.Comment != keyKinds[i]+" key" {
			t.Errorf("List[%d].Comment = %q: not in the order added", i, k.Comment)
		}
		got, err := s.Lookup(k.Public.Marshal())
		if err != nil || got.ID != k.ID {
			t.Errorf("Lookup(%s) = %v, %v", k.Comment, got.ID, err)
		}
	}
}

func TestRefusedKeys(t *testing.T) {
	s := New(nil)
	if _, err := s.Add(genKey(t, "rsa1024"), nil, "weak", Constraints{}); err == nil {
		t.Error("RSA-1024 key accepted")
	}
	if _, err := s.Add(ed25519.PrivateKey(make([]byte, 10)), nil, "short", Constraints{}); err == nil {
		t.Error("truncated ed25519 key accepted")
	}
	if _, err := s.Add("not a key", nil, "junk", Constraints{}); err == nil {
		t.Error("string accepted as a key")
	}
	if n := len(s.List()); n != 0 {
		t.Errorf("%d keys stored after refused adds", n)
	}
}

func TestRSAFlags(t *testing.T) {
	s := New(nil)
	k, err := s.Add(genKey(t, "rsa2048"), nil, "rsa", Constraints{})
	if err != nil {
		t.Fatal(err)
	}
	for flags, want := range map[uint32]string{0: ssh.KeyAlgoRSA, FlagRSASHA256: ssh.KeyAlgoRSASHA256, FlagRSASHA512: ssh.KeyAlgoRSASHA512} {
		if sig := signAndVerify(t, s, k, flags); sig.Format != want {
			t.Errorf("flags %d: format %s, want %s", flags, sig.Format, want)
		}
	}
	if _, err := s.Sign(k.ID, []byte("x"), 1); err == nil {
		t.Error("unknown flag 1 accepted")
	}
	ed, err := s.Add(genKey(t, "ed25519"), nil, "ed", Constraints{})
	if err != nil {
		t.Fatal(err)
	}
	if sig := signAndVerify(t, s, ed, FlagRSASHA256); sig.Format != ssh.KeyAlgoED25519 {
		t.Errorf("ed25519 with RSA flag: format %s", sig.Format)
	}
}

func certFor(t *testing.T, priv crypto.PrivateKey) *ssh.Certificate {
	t.Helper()
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ssh.NewSignerFromKey(genKey(t, "ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{
		Key: signer.PublicKey(), CertType: ssh.UserCert, KeyId: "test",
		ValidPrincipals: []string{"alice"}, ValidBefore: ssh.CertTimeInfinity,
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestCertificate(t *testing.T) {
	s := New(nil)
	for _, kind := range keyKinds {
		priv := genKey(t, kind)
		cert := certFor(t, priv)
		k, err := s.Add(priv, cert, kind+" cert", Constraints{})
		if err != nil {
			t.Fatalf("Add cert %s: %v", kind, err)
		}
		if !k.Certificate() || k.Fingerprint != ssh.FingerprintSHA256(cert.Key) {
			t.Errorf("%s: Certificate()=%v fp=%s", kind, k.Certificate(), k.Fingerprint)
		}
		sig := signAndVerify(t, s, k, 0)
		if err := cert.Key.Verify([]byte("data to sign"), sig); err != nil {
			t.Errorf("%s: certificate signature does not verify with the certified key: %v", kind, err)
		}
	}
	if _, err := s.Add(genKey(t, "ed25519"), certFor(t, genKey(t, "ed25519")), "mismatch", Constraints{}); err == nil {
		t.Error("certificate for another key accepted")
	}
}

func TestLockUnlock(t *testing.T) {
	s := New(nil)
	var keys []Key
	for _, kind := range keyKinds {
		priv := genKey(t, kind)
		k, err := s.Add(priv, nil, kind, Constraints{})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	cert := genKey(t, "p256")
	ck, err := s.Add(cert, certFor(t, cert), "cert", Constraints{})
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, ck)

	if err := s.Lock([]byte("hunter2")); err != nil {
		t.Fatal(err)
	}
	if err := s.Lock([]byte("again")); !errors.Is(err, ErrLocked) {
		t.Errorf("second Lock = %v, want ErrLocked", err)
	}
	if got := len(s.List()); got != len(keys) {
		t.Errorf("locked store lists %d keys, want %d", got, len(keys))
	}
	for _, e := range s.keys {
		if e.priv != nil || e.signer != nil || len(e.sealed) == 0 {
			t.Fatalf("%s: plaintext kept while locked", e.Comment)
		}
	}
	if _, err := s.Sign(keys[0].ID, []byte("x"), 0); !errors.Is(err, ErrLocked) {
		t.Errorf("Sign while locked = %v, want ErrLocked", err)
	}
	if _, err := s.Add(genKey(t, "ed25519"), nil, "new", Constraints{}); !errors.Is(err, ErrLocked) {
		t.Errorf("Add while locked = %v, want ErrLocked", err)
	}
	if err := s.Remove(keys[0].Public.Marshal()); !errors.Is(err, ErrLocked) {
		t.Errorf("Remove while locked = %v, want ErrLocked", err)
	}
	if err := s.Unlock([]byte("hunter3")); !errors.Is(err, ErrBadPassphrase) {
		t.Errorf("Unlock with the wrong passphrase = %v, want ErrBadPassphrase", err)
	}
	if !s.Locked() {
		t.Fatal("wrong passphrase unlocked the store")
	}
	if err := s.Unlock([]byte("hunter2")); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		signAndVerify(t, s, k, 0)
	}
	if err := s.Unlock([]byte("hunter2")); !errors.Is(err, ErrNotLocked) {
		t.Errorf("Unlock when unlocked = %v, want ErrNotLocked", err)
	}
}

func TestLockEmpty(t *testing.T) {
	s := New(nil)
	if err := s.Lock([]byte("pw")); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock([]byte("other")); !errors.Is(err, ErrBadPassphrase) {
		t.Errorf("wrong passphrase on an empty store = %v, want ErrBadPassphrase", err)
	}
	if err := s.Unlock([]byte("pw")); err != nil {
		t.Fatal(err)
	}
}

func TestLifetimeExact(t *testing.T) {
	s := New(nil)
	now := time.Unix(1_000_000, 0)
	s.now = func() time.Time { return now }
	k, err := s.Add(genKey(t, "ed25519"), nil, "short-lived", Constraints{Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour - time.Millisecond)
	if len(s.List()) != 1 {
		t.Fatal("key gone before its lifetime ended")
	}
	signAndVerify(t, s, k, 0)
	now = now.Add(time.Millisecond)
	if len(s.List()) != 0 {
		t.Error("key listed at the end of its lifetime")
	}
	if _, err := s.Sign(k.ID, []byte("x"), 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Sign after expiry = %v, want ErrNotFound", err)
	}
}

// TestLifetimeTimerRemoves: when a key's lifetime ends, its timer removes
// it from memory and then tells OnExpire which key went, once.
func TestLifetimeTimerRemoves(t *testing.T) {
	s := New(nil)
	expired := make(chan Key, 2)
	s.OnExpire(func(k Key) { expired <- k })
	stays, err := s.Add(genKey(t, "ed25519"), nil, "stays", Constraints{})
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.Add(genKey(t, "ed25519"), nil, "brief", Constraints{Lifetime: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-expired:
		if got.ID != k.ID || got.Fingerprint != k.Fingerprint || got.Expires.Sub(got.Added) != 20*time.Millisecond {
			t.Errorf("OnExpire got %+v, want the key added with a 20ms lifetime", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnExpire not called for a key whose lifetime ended")
	}
	s.mu.RLock()
	n := len(s.keys)
	s.mu.RUnlock()
	if n != 1 || s.List()[0].ID != stays.ID {
		t.Fatalf("%d keys in memory after the expiry, want only the one without a lifetime", n)
	}
	select {
	case got := <-expired:
		t.Errorf("OnExpire called again, for %+v", got)
	default:
	}
}

func TestReAddReplaces(t *testing.T) {
	s := New(nil)
	priv := genKey(t, "ed25519")
	first, err := s.Add(priv, nil, "first", Constraints{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(genKey(t, "ed25519"), nil, "other", Constraints{}); err != nil {
		t.Fatal(err)
	}
	// The store wipes what it was given, so hand it a copy.
	again, err := s.Add(append(ed25519.PrivateKey{}, priv.(ed25519.PrivateKey)...), nil, "again", Constraints{Confirm: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID == first.ID || !again.Confirm {
		t.Errorf("re-add kept the old entry: %+v", again)
	}
	list := s.List()
	if len(list) != 2 || list[1].Comment != "again" {
		t.Errorf("List after re-add = %d keys, last %q", len(list), list[len(list)-1].Comment)
	}
	if _, err := s.Sign(first.ID, []byte("x"), 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Sign with the replaced entry's ID = %v, want ErrNotFound", err)
	}
}

func TestRemove(t *testing.T) {
	s := New(nil)
	k, _ := s.Add(genKey(t, "p256"), nil, "a", Constraints{})
	if err := s.Remove(k.Public.Marshal()); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(k.Public.Marshal()); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove = %v, want ErrNotFound", err)
	}
	s.Add(genKey(t, "p256"), nil, "b", Constraints{})
	if err := s.RemoveAll(); err != nil || len(s.List()) != 0 {
		t.Errorf("RemoveAll = %v, %d keys left", err, len(s.List()))
	}
}

// TestConcurrentSignAndLock runs signatures on several goroutines while the
// store is locked and unlocked: under -race this checks that signing shares
// the store and that locking waits for signatures in flight.
func TestConcurrentSignAndLock(t *testing.T) {
	s := New(nil)
	k, err := s.Add(genKey(t, "ed25519"), nil, "busy", Constraints{})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				sig, err := s.Sign(k.ID, []byte("data"), 0)
				if err == nil {
					if verr := k.Public.Verify([]byte("data"), sig); verr != nil {
						t.Errorf("bad signature during lock churn: %v", verr)
						return
					}
				} else if !errors.Is(err, ErrLocked) {
					t.Errorf("Sign: %v", err)
					return
				}
			}
		}()
	}
	for range 5 {
		if err := s.Lock([]byte("pw")); err != nil {
			t.Error(err)
		}
		if err := s.Unlock([]byte("pw")); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestWipe(t *testing.T) {
	s := New(nil)
	s.Add(genKey(t, "ed25519"), nil, "a", Constraints{})
	if err := s.Lock([]byte("pw")); err != nil {
		t.Fatal(err)
	}
	s.Wipe()
	if s.Locked() || len(s.List()) != 0 {
		t.Error("Wipe left keys or the lock behind")
	}
}

// TestLockWipesPlaintext: the Ed25519 key bytes the store was given are
// zero after Lock (the store owns them), and so is an RSA key's private
// exponent. What the crypto packages copy internally is out of reach; see
// package secmem.
func TestLockWipesPlaintext(t *testing.T) {
	s := New(nil)
	ed := genKey(t, "ed25519").(ed25519.PrivateKey)
	rk := genKey(t, "rsa2048").(*rsa.PrivateKey)
	if _, err := s.Add(ed, nil, "ed", Constraints{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(rk, nil, "rsa", Constraints{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Lock([]byte("pw")); err != nil {
		t.Fatal(err)
	}
	for i, b := range ed {
		if b != 0 {
			t.Fatalf("ed25519 key byte %d not wiped", i)
		}
	}
	if rk.D.Sign() != 0 {
		t.Error("RSA private exponent not wiped")
	}
	if err := s.Unlock([]byte("pw")); err != nil {
		t.Fatal(err)
	}
	for _, k := range s.List() {
		signAndVerify(t, s, k, 0)
	}
}
