package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// testKey is a key pair made by ssh-keygen, shared by all tests (read only).
type testKey struct {
	name    string // e.g. "ed25519"
	path    string // private key file; path+".pub" is the public half
	comment string
	pub     ssh.PublicKey
	priv    any              // crypto private key, for x/crypto agent clients
	cert    *ssh.Certificate // set for the cert* keys; path+"-cert.pub" sits beside path
	bits    int
}

func (k *testKey) pubPath() string     { return k.path + ".pub" }
func (k *testKey) certPath() string    { return k.path + "-cert.pub" }
func (k *testKey) fingerprint() string { return ssh.FingerprintSHA256(k.pub) }

// authorizedLine is the public key in authorized_keys / allowed_signers form.
func (k *testKey) authorizedLine() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.pub)))
}

type keySpec struct {
	name string
	typ  string
	bits int
	cert bool // sign a certificate for it with the CA
}

// The user the loopback sshd logs in, and the certificates' principal.
const testUser = "vigile2e"

var keySpecs = []keySpec{
	{"ed25519", "ed25519", 256, false},
	{"ecdsa256", "ecdsa", 256, false},
	{"ecdsa384", "ecdsa", 384, false},
	{"ecdsa521", "ecdsa", 521, false},
	{"rsa2048", "rsa", 2048, false},
	{"rsa3072", "rsa", 3072, false},
	{"rsa1024", "rsa", 1024, false},
	{"ca", "ed25519", 256, false},
	{"cert-ed25519", "ed25519", 256, true},
	{"cert-ecdsa256", "ecdsa", 256, true},
	{"cert-ecdsa384", "ecdsa", 384, true},
	{"cert-ecdsa521", "ecdsa", 521, true},
	{"cert-rsa2048", "rsa", 2048, true},
}

var (
	keysOnce sync.Once
	keysDir  string
	keysMap  map[string]*testKey
	keysErr  error
)

func cleanupKeys() {
	if keysDir != "" {
		os.RemoveAll(keysDir)
	}
}

// key returns the shared test key of that name, making all of them on first use.
func key(t testing.TB, name string) *testKey {
	t.Helper()
	keysOnce.Do(func() { keysErr = makeKeys() })
	if keysErr != nil {
		t.Fatalf("make test keys: %v", keysErr)
	}
	k, ok := keysMap[name]
	if !ok {
		t.Fatalf("no test key %q", name)
	}
	return k
}

func makeKeys() error {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		return fmt.Errorf("ssh-keygen not found: install the Debian package openssh-client")
	}
	dir, err := os.MkdirTemp("", "vigil-e2e-keys-")
	if err != nil {
		return err
	}
	keysDir = dir
	keysMap = make(map[string]*testKey)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range keySpecs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := &testKey{
				name:    s.name,
				path:    filepath.Join(dir, "id_"+s.name),
				comment: "e2e-" + s.name + "@vigil.test",
				bits:    s.bits,
			}
			out, err := exec.Command(keygen, "-q", "-t", s.typ, "-b", fmt.Sprint(s.bits), "-N", "",
				"-C", k.comment, "-f", k.path).CombinedOutput()
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("ssh-keygen %s: %v: %s", s.name, err, out))
				mu.Unlock()
				return
			}
			mu.Lock()
			keysMap[s.name] = k
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	ca := keysMap["ca"]
	for _, s := range keySpecs {
		k := keysMap[s.name]
		if s.cert {
			out, err := exec.Command(keygen, "-q", "-s", ca.path, "-I", "e2e-"+s.name, "-n", testUser,
				"-V", "-5m:+1h", k.pubPath()).CombinedOutput()
			if err != nil {
				return fmt.Errorf("ssh-keygen -s (certify %s): %v: %s", s.name, err, out)
			}
		}
		if err := k.load(); err != nil {
			return err
		}
	}
	return nil
}

func (k *testKey) load() error {
	pubData, err := os.ReadFile(k.pubPath())
	if err != nil {
		return err
	}
	k.pub, _, _, _, err = ssh.ParseAuthorizedKey(pubData)
	if err != nil {
		return fmt.Errorf("parse %s: %v", k.pubPath(), err)
	}
	privData, err := os.ReadFile(k.path)
	if err != nil {
		return err
	}
	k.priv, err = ssh.ParseRawPrivateKey(privData)
	if err != nil {
		return fmt.Errorf("parse %s: %v", k.path, err)
	}
	if certData, err := os.ReadFile(k.certPath()); err == nil {
		p, _, _, _, err := ssh.ParseAuthorizedKey(certData)
		if err != nil {
			return fmt.Errorf("parse %s: %v", k.certPath(), err)
		}
		k.cert = p.(*ssh.Certificate)
	}
	return nil
}

// pubOnly copies the public half (and certificate, if any) of k into a fresh directory and returns the path of
// the copied .pub. ssh-keygen -Y sign -f X.pub uses the private X directly if it sits beside X.pub; this makes sure
// it has to go through the agent.
func pubOnly(t testing.TB, k *testKey) string {
	t.Helper()
	dir := t.TempDir()
	dst := filepath.Join(dir, filepath.Base(k.pubPath()))
	data, err := os.ReadFile(k.pubPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}
