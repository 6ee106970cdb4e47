package vault

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// cheapKDF keeps tests fast; DefaultKDF is measured by BenchmarkUnlock.
var cheapKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

var (
	pass1 = []byte("correct horse battery staple")
	pass2 = []byte("tr0ub4dor&3")
	pass3 = []byte("a third one")
)

// newVault returns an initialised store in a new directory, with a clock
// that ticks one second per call.
func newVault(t testing.TB) *Vault {
	t.Helper()
	v := openVault(t, filepath.Join(t.TempDir(), "vigil"))
	if err := v.Init(pass1); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return v
}

func openVault(t testing.TB, dir string) *Vault {
	t.Helper()
	clock := time.Date(2026, 10, 20, 10, 0, 0, 0, time.UTC)
	v, err := Open(Config{Dir: dir, KDF: cheapKDF, Now: func() time.Time {
		clock = clock.Add(time.Second)
		return clock
	}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return v
}

// unlockAll unlocks and fails the test on any problem.
func unlockAll(t testing.TB, v *Vault, pass []byte) []UnlockedKey {
	t.Helper()
	keys, problems, err := v.Unlock(pass)
	if err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	for _, p := range problems {
		t.Errorf("Unlock problem: %v", p)
	}
	return keys
}

// signVerify signs with k and checks the signature against its public key,
// with every algorithm an RSA key offers.
func signVerify(t testing.TB, k UnlockedKey) {
	t.Helper()
	s, err := k.Signer()
	if err != nil {
		t.Fatalf("Signer(%s): %v", k.Fingerprint, err)
	}
	if got, want := s.PublicKey().Marshal(), k.Public.Marshal(); !bytes.Equal(got, want) {
		t.Fatalf("signer of %s has another public key", k.Fingerprint)
	}
	data := []byte("data to sign")
	algs := []string{""}
	if k.Public.Type() == ssh.KeyAlgoRSA {
		algs = []string{ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512}
	}
	for _, alg := range algs {
		var sig *ssh.Signature
		if alg == "" {
			sig, err = s.Sign(rand.Reader, data)
		} else {
			sig, err = s.(ssh.AlgorithmSigner).SignWithAlgorithm(rand.Reader, data, alg)
		}
		if err != nil {
			t.Fatalf("Sign(%s, %q): %v", k.Fingerprint, alg, err)
		}
		if err := k.Public.Verify(data, sig); err != nil {
			t.Fatalf("Verify(%s, %q): %v", k.Fingerprint, alg, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	v := newVault(t)
	want := map[string]KeyType{}
	for _, kt := range GenerateTypes {
		if kt == RSA4096 && testing.Short() {
			continue
		}
		e, err := v.Generate(pass1, kt, "key "+string(kt))
		if err != nil {
			t.Fatalf("Generate(%s): %v", kt, err)
		}
		if e.Type != kt || e.Comment != "key "+string(kt) || e.Fingerprint != ssh.FingerprintSHA256(e.Public) {
			t.Errorf("Generate(%s) = %+v", kt, e)
		}
		want[e.Fingerprint] = kt
	}

	listed, problems, err := v.List()
	if err != nil || len(problems) > 0 {
		t.Fatalf("List: %v %v", problems, err)
	}
	keys := unlockAll(t, v, pass1)
	if len(keys) != len(want) || len(listed) != len(want) {
		t.Fatalf("Unlock gave %d keys, List %d, want %d", len(keys), len(listed), len(want))
	}
	for i, k := range keys {
		if want[k.Fingerprint] != k.Type {
			t.Errorf("Unlock: %s is %s, want %s", k.Fingerprint, k.Type, want[k.Fingerprint])
		}
		if k.Fingerprint != listed[i].Fingerprint || !k.Created.Equal(listed[i].Created) || k.Comment != listed[i].Comment {
			t.Errorf("Unlock[%d] = %+v, List[%d] = %+v", i, k.Entry, i, listed[i])
		}
		if i > 0 && !keys[i-1].Created.Before(k.Created) {
			t.Errorf("keys not oldest first: %v then %v", keys[i-1].Created, k.Created)
		}
		switch k.Private.(type) {
		case ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey:
		default:
			t.Errorf("Private is %T", k.Private)
		}
		signVerify(t, k)
		k.Wipe()
		if k.Private != nil {
			t.Errorf("Wipe left the key")
		}
	}
}

func TestGenerateRefuses(t *testing.T) {
	v := newVault(t)
	for _, tc := range []struct {
		name    string
		kt      KeyType
		comment string
	}{
		{"dsa", "dsa", ""},
		{"rsa-2048 is import only", "rsa-2048", ""},
		{"newline in comment", Ed25519, "a\nb"},
		{"escape in comment", Ed25519, "\x1b[31mred"},
		{"invalid utf-8", Ed25519, "\xff"},
		{"long comment", Ed25519, strings.Repeat("x", maxComment+1)},
	} {
		if _, err := v.Generate(pass1, tc.kt, tc.comment); err == nil {
			t.Errorf("%s: Generate succeeded", tc.name)
		}
	}
	if got, _, _ := v.List(); len(got) != 0 {
		t.Errorf("List after refusals = %d keys", len(got))
	}
	// Anything printable is fine, spaces included.
	if _, err := v.Generate(pass1, Ed25519, " alice@laptop (work) — ключ "); err != nil {
		t.Errorf("Generate with a Unicode comment: %v", err)
	}
}

func TestParseKeyType(t *testing.T) {
	for _, kt := range GenerateTypes {
		if got, err := ParseKeyType(string(kt)); got != kt || err != nil {
			t.Errorf("ParseKeyType(%q) = %q, %v", kt, got, err)
		}
	}
	if _, err := ParseKeyType("ecdsa-p521"); err == nil || !strings.Contains(err.Error(), "ed25519, ecdsa-p256") {
		t.Errorf("ParseKeyType(ecdsa-p521) = %v, want an error listing the types", err)
	}
}

func TestWrongPassphrase(t *testing.T) {
	v := newVault(t)
	// Zero keys: the header's slot alone catches it.
	if _, _, err := v.Unlock(pass2); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("Unlock(wrong) with no keys = %v, want ErrBadPassphrase", err)
	}
	if _, err := v.Generate(pass2, Ed25519, "x"); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("Generate(wrong) = %v, want ErrBadPassphrase", err)
	}
	if _, err := v.Generate(pass1, Ed25519, "x"); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]byte{pass2, nil, {}, append(bytes.Clone(pass1), 0)} {
		keys, _, err := v.Unlock(p)
		if !errors.Is(err, ErrBadPassphrase) || keys != nil {
			t.Errorf("Unlock(%q) = %d keys, %v; want ErrBadPassphrase", p, len(keys), err)
		}
		if err != nil && (strings.Contains(err.Error(), string(pass2)) || strings.Contains(err.Error(), string(pass1))) {
			t.Errorf("error %q contains a passphrase", err)
		}
	}
	if err := v.ChangePassphrase(pass2, pass3); !errors.Is(err, ErrBadPassphrase) {
		t.Errorf("ChangePassphrase(wrong) = %v, want ErrBadPassphrase", err)
	}
	if err := v.Init(pass2); !errors.Is(err, ErrInitialized) {
		t.Errorf("Init again = %v, want ErrInitialized", err)
	}
	unlockAll(t, v, pass1)
}

func TestNotInitialized(t *testing.T) {
	v := openVault(t, filepath.Join(t.TempDir(), "a", "b"))
	if info, err := v.Info(); err != nil || info.Initialized {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	if _, _, err := v.Unlock(pass1); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Unlock = %v, want ErrNotInitialized", err)
	}
	if _, err := v.Generate(pass1, Ed25519, ""); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Generate = %v, want ErrNotInitialized", err)
	}
	if keys, problems, err := v.List(); err != nil || len(keys)+len(problems) != 0 {
		t.Errorf("List = %v, %v, %v", keys, problems, err)
	}
	fi, err := os.Stat(v.Dir())
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("created directory: %v, %v", fi.Mode(), err)
	}
	if err := v.Init(pass1); err != nil {
		t.Fatal(err)
	}
	info, err := v.Info()
	if err != nil || !info.Initialized || info.ChangeInterrupted || info.KDF != cheapKDF {
		t.Errorf("Info after Init = %+v, %v", info, err)
	}
	fi, err = os.Stat(filepath.Join(v.Dir(), headerName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("header: %v, %v", fi.Mode(), err)
	}
}

func TestFindRemoveExport(t *testing.T) {
	v := newVault(t)
	a, _ := v.Generate(pass1, Ed25519, "work")
	if _, err := v.Generate(pass1, ECDSAP256, "work"); !errors.Is(err, ErrCommentTaken) || !strings.Contains(err.Error(), a.Fingerprint) {
		t.Errorf("second key with the comment work: %v, want ErrCommentTaken naming %s", err, a.Fingerprint)
	}
	b, _ := v.Generate(pass1, ECDSAP256, "work too")
	c, err := v.Generate(pass1, Ed25519, "home")
	if err != nil {
		t.Fatal(err)
	}
	// A store written before comments had to differ can hold two keys
	// with one comment: Find must still refuse to choose. (The edited
	// comment would fail b's unlock, but b is removed before that.)
	data, err := os.ReadFile(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.Path, bytes.Replace(data, []byte("comment work too\n"), []byte("comment work\n"), 1), 0o600); err != nil {
		t.Fatal(err)
	}

	if got, err := v.Find("home"); err != nil || got.Fingerprint != c.Fingerprint {
		t.Errorf("Find(home) = %s, %v", got.Fingerprint, err)
	}
	if got, err := v.Find(a.Fingerprint); err != nil || got.Fingerprint != a.Fingerprint {
		t.Errorf("Find(fp) = %s, %v", got.Fingerprint, err)
	}
	_, err = v.Find("work")
	amb, ok := errors.AsType[*AmbiguousError](err)
	if !ok || len(amb.Matches) != 2 {
		t.Fatalf("Find(work) = %v, want *AmbiguousError with 2 matches", err)
	}
	for _, fp := range []string{a.Fingerprint, b.Fingerprint} {
		if !strings.Contains(err.Error(), fp) {
			t.Errorf("%q does not list %s", err, fp)
		}
	}
	if _, err := v.Remove("work"); !errors.As(err, &amb) {
		t.Errorf("Remove(work) = %v, want *AmbiguousError", err)
	}
	if _, err := v.Find("nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find(nobody) = %v", err)
	}
	if _, err := v.Find("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find(unknown fp) = %v", err)
	}

	line, err := v.ExportPublic("home")
	if err != nil {
		t.Fatal(err)
	}
	pub, comment, _, rest, err := ssh.ParseAuthorizedKey(line)
	if err != nil || comment != "home" || len(rest) != 0 || !bytes.Equal(pub.Marshal(), c.Public.Marshal()) || !bytes.HasSuffix(line, []byte("\n")) {
		t.Errorf("ExportPublic = %q: %v %q %q", line, err, comment, rest)
	}

	if got, err := v.Remove(a.Fingerprint); err != nil || got.Fingerprint != a.Fingerprint {
		t.Fatalf("Remove(fp) = %v, %v", got, err)
	}
	if got, err := v.Remove("work"); err != nil || got.Fingerprint != b.Fingerprint {
		t.Fatalf("Remove(work) = %v, %v", got, err)
	}
	if _, err := v.Remove("work"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove(work) again = %v", err)
	}
	keys := unlockAll(t, v, pass1)
	if len(keys) != 1 || keys[0].Fingerprint != c.Fingerprint {
		t.Errorf("after removals: %d keys", len(keys))
	}
}

func TestUsage(t *testing.T) {
	v := newVault(t)
	a, _ := v.Generate(pass1, Ed25519, "a")
	b, err := v.Generate(pass1, Ed25519, "b")
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	v.MarkUsed(a.Fingerprint, t1)
	v.MarkUsed(a.Fingerprint, t1.Add(-time.Hour)) // older: ignored
	// Pending uses show at once.
	if e, _ := v.Find("a"); !e.LastUsed.Equal(t1) {
		t.Errorf("LastUsed before flush = %v, want %v", e.LastUsed, t1)
	}
	if err := v.FlushUsage(); err != nil {
		t.Fatal(err)
	}
	// A new Vault (the CLI) sees what the agent flushed.
	other := openVault(t, v.Dir())
	list, problems, err := other.List()
	if err != nil || len(problems) > 0 {
		t.Fatal(problems, err)
	}
	for _, e := range list {
		want := map[string]time.Time{a.Fingerprint: t1}[e.Fingerprint]
		if !e.LastUsed.Equal(want) {
			t.Errorf("%s LastUsed = %v, want %v", e.Comment, e.LastUsed, want)
		}
	}
	// Merging: another writer's later time wins, and removed keys go.
	v.MarkUsed(b.Fingerprint, t1)
	other.MarkUsed(a.Fingerprint, t1.Add(time.Hour))
	if err := other.FlushUsage(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Remove("b"); err != nil {
		t.Fatal(err)
	}
	if err := v.FlushUsage(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(v.Dir(), usageName))
	if err != nil {
		t.Fatal(err)
	}
	want := usageMagic + "\n" + a.Fingerprint + " 2026-11-01T09:00:00Z\n"
	if string(data) != want {
		t.Errorf("usage file = %q, want %q", data, want)
	}
	keys := unlockAll(t, v, pass1)
	if len(keys) != 1 || !keys[0].LastUsed.Equal(t1.Add(time.Hour)) {
		t.Errorf("Unlock LastUsed = %v", keys[0].LastUsed)
	}
	// A damaged usage file is a problem, not a failure, and a flush
	// replaces it.
	if err := os.WriteFile(filepath.Join(v.Dir(), usageName), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if list, problems, err := v.List(); err != nil || len(list) != 1 || len(problems) != 1 {
		t.Errorf("List with damaged usage = %d keys, %v, %v", len(list), problems, err)
	}
	v.MarkUsed(a.Fingerprint, t1)
	if err := v.FlushUsage(); err != nil {
		t.Fatal(err)
	}
	if _, problems, _ := v.List(); len(problems) != 0 {
		t.Errorf("problems after flush: %v", problems)
	}
}

func TestAddAndDuplicate(t *testing.T) {
	v := newVault(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e, err := v.Add(pass1, priv, "mine")
	if err != nil {
		t.Fatal(err)
	}
	if priv[0] == 0 && priv[1] == 0 && priv[2] == 0 && priv[3] == 0 {
		t.Errorf("Add wiped the caller's key")
	}
	if _, err := v.Add(pass1, &priv, "again"); !errors.Is(err, ErrDuplicate) || !strings.Contains(err.Error(), e.Fingerprint) {
		t.Errorf("Add again = %v, want ErrDuplicate naming %s", err, e.Fingerprint)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Add(pass1, small, ""); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("Add(RSA-1024) = %v, want ErrUnsupportedKey", err)
	}
	keys := unlockAll(t, v, pass1)
	if len(keys) != 1 || !bytes.Equal(keys[0].Private.(ed25519.PrivateKey), priv) {
		t.Errorf("Unlock did not return the added key")
	}
}

// TestNoTempsLeft checks that writes leave no temporary file, and that a
// stale one (a writer killed mid-write) is neither read as a key nor left
// after the next write.
func TestNoTempsLeft(t *testing.T) {
	v := newVault(t)
	if _, err := v.Generate(pass1, Ed25519, "a"); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(v.Dir(), tempPrefix+"123456")
	if err := os.WriteFile(stale, []byte("half a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if keys := unlockAll(t, v, pass1); len(keys) != 1 {
		t.Errorf("%d keys", len(keys))
	}
	if _, err := v.Generate(pass1, Ed25519, "b"); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(v.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			t.Errorf("temporary file %s left", e.Name())
		}
	}
}

func TestOpenConfig(t *testing.T) {
	if _, err := Open(Config{}); err == nil {
		t.Error("Open with no directory succeeded")
	}
	if _, err := Open(Config{Dir: filepath.Join(t.TempDir(), "v"), KDF: KDFParams{Time: 1, MemoryKiB: 1 << 30, Threads: 1}}); err == nil {
		t.Error("Open with 1 TiB of argon2 memory succeeded")
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: f}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Open(file) = %v", err)
	}
	v, err := Open(Config{Dir: filepath.Join(t.TempDir(), "v")})
	if err != nil {
		t.Fatal(err)
	}
	if v.kdf != DefaultKDF {
		t.Errorf("Open with zero KDF: %v, %+v", err, v.kdf)
	}
}
