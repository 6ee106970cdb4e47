package vault

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// sshKeygen makes a key with OpenSSH's ssh-keygen and returns the private
// key file and the parsed .pub line.
func sshKeygen(t *testing.T, name, passphrase string, args ...string) (priv []byte, pub ssh.PublicKey, comment string) {
	t.Helper()
	bin, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Fatal("ssh-keygen not installed (package openssh-client)")
	}
	path := filepath.Join(t.TempDir(), name)
	args = append([]string{"-q", "-f", path, "-N", passphrase, "-C", name + "@vigil-test"}, args...)
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	priv, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	line, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, comment, _, _, err = ssh.ParseAuthorizedKey(line)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub, comment
}

// TestImportSSHKeygen imports keys that OpenSSH's ssh-keygen made, in its
// own format and the PEM ones, encrypted and not. Encrypted keys use one
// bcrypt round (-a 1): the format is the same as with the default 16, and
// x/crypto's bcrypt_pbkdf is slow under the race detector.
func TestImportSSHKeygen(t *testing.T) {
	v := newVault(t)
	tests := []struct {
		name     string
		args     []string
		pass     string
		wantType KeyType
	}{
		{"ed25519", []string{"-t", "ed25519"}, "", Ed25519},
		{"ed25519-enc", []string{"-t", "ed25519", "-a", "1"}, "key pass", Ed25519},
		{"ecdsa256", []string{"-t", "ecdsa", "-b", "256"}, "", ECDSAP256},
		{"ecdsa256-enc", []string{"-t", "ecdsa", "-b", "256", "-a", "1"}, "key pass", ECDSAP256},
		{"ecdsa384-enc", []string{"-t", "ecdsa", "-b", "384", "-a", "1"}, "key pass", ECDSAP384},
		{"ecdsa521", []string{"-t", "ecdsa", "-b", "521"}, "", "ecdsa-p521"},
		{"rsa3072", []string{"-t", "rsa", "-b", "3072"}, "", RSA3072},
		{"rsa3072-enc", []string{"-t", "rsa", "-b", "3072", "-a", "1"}, "key pass", RSA3072},
		{"rsa2048-pem-enc", []string{"-t", "rsa", "-b", "2048", "-m", "PEM"}, "key pass", "rsa-2048"},
		{"ecdsa256-pem", []string{"-t", "ecdsa", "-b", "256", "-m", "PEM"}, "", ECDSAP256},
		{"ed25519-pkcs8", []string{"-t", "ed25519", "-m", "PKCS8"}, "", Ed25519},
	}
	var (
		mu   sync.Mutex
		pubs = map[string]ssh.PublicKey{}
	)
	t.Run("group", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				file, pub, comment := sshKeygen(t, tt.name, tt.pass, tt.args...)
				fp := ssh.FingerprintSHA256(pub)
				if tt.pass != "" {
					// No callback: the CLI learns it must ask, and for which key.
					_, err := v.Import(pass1, file, ImportOptions{Comment: comment})
					missing, ok := errors.AsType[*ssh.PassphraseMissingError](err)
					if !ok {
						t.Fatalf("Import without passphrase = %v, want *ssh.PassphraseMissingError", err)
					}
					if missing.PublicKey != nil && ssh.FingerprintSHA256(missing.PublicKey) != fp {
						t.Errorf("PassphraseMissingError names %s, want %s", ssh.FingerprintSHA256(missing.PublicKey), fp)
					}
					// A wrong key passphrase, and a cancelled prompt.
					_, err = v.Import(pass1, file, ImportOptions{Passphrase: func() ([]byte, error) { return []byte("nope"), nil }})
					if !errors.Is(err, ErrBadKeyPassphrase) {
						t.Errorf("Import with wrong key passphrase = %v, want ErrBadKeyPassphrase", err)
					}
					cancelled := errors.New("cancelled")
					_, err = v.Import(pass1, file, ImportOptions{Passphrase: func() ([]byte, error) { return nil, cancelled }})
					if !errors.Is(err, cancelled) {
						t.Errorf("Import with cancelled prompt = %v", err)
					}
				}
				var given []byte
				e, err := v.Import(pass1, file, ImportOptions{Comment: comment, Passphrase: func() ([]byte, error) {
					given = []byte(tt.pass)
					return given, nil
				}})
				if err != nil {
					t.Fatalf("Import: %v", err)
				}
				if e.Fingerprint != fp || e.Comment != comment || e.Type != tt.wantType {
					t.Errorf("Import = %s %q %s, want %s %q %s", e.Fingerprint, e.Comment, e.Type, fp, comment, tt.wantType)
				}
				if len(given) > 0 && !bytes.Equal(given, make([]byte, len(given))) {
					t.Errorf("key passphrase not wiped after use")
				}
				if _, err := v.Import(pass1, file, ImportOptions{Passphrase: func() ([]byte, error) { return []byte(tt.pass), nil }}); !errors.Is(err, ErrDuplicate) {
					t.Errorf("Import again = %v, want ErrDuplicate", err)
				}
				mu.Lock()
				pubs[fp] = pub
				mu.Unlock()
			})
		}
	})

	// Every imported key signs, and OpenSSH's public key verifies it.
	keys := unlockAll(t, v, pass1)
	if len(keys) != len(pubs) {
		t.Fatalf("Unlock: %d keys, imported %d", len(keys), len(pubs))
	}
	for _, k := range keys {
		signVerify(t, UnlockedKey{Entry: Entry{Public: pubs[k.Fingerprint], Fingerprint: k.Fingerprint}, Private: k.Private})
	}
}

func TestImportRefuses(t *testing.T) {
	v := newVault(t)
	for _, tt := range []struct {
		name string
		args []string
		want error
	}{
		{"rsa1024", []string{"-t", "rsa", "-b", "1024"}, ErrUnsupportedKey},
		{"rsa1024-pem", []string{"-t", "rsa", "-b", "1024", "-m", "PEM"}, ErrUnsupportedKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file, _, _ := sshKeygen(t, tt.name, "", tt.args...)
			_, err := v.Import(pass1, file, ImportOptions{})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), "1024 bits") {
				t.Errorf("Import = %v, want %v saying 1024 bits", err, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		name string
		file string
	}{
		{"empty", ""},
		{"not pem", "hello"},
		{"public key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ6lQ8o1GbOq9Y8YbZJ1M2jvCqCQmO0xM3eOTZqN1kWb x"},
		{"truncated", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB\n-----END OPENSSH PRIVATE KEY-----\n"},
	} {
		if _, err := v.Import(pass1, []byte(tt.file), ImportOptions{}); err == nil {
			t.Errorf("Import(%s) succeeded", tt.name)
		}
	}
	if _, err := v.Import(pass1, nil, ImportOptions{Comment: "bad\ncomment"}); err == nil || !strings.Contains(err.Error(), "control character") {
		t.Errorf("Import with a newline in the comment = %v", err)
	}
	if keys := unlockAll(t, v, pass1); len(keys) != 0 {
		t.Errorf("%d keys stored", len(keys))
	}
}
