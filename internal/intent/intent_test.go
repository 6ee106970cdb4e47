package intent

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func sshsig(ns, hash string) []byte {
	return append([]byte("SSHSIG"), ssh.Marshal(struct {
		Namespace, Reserved, HashAlg string
		Hash                         []byte
	}{ns, "", hash, make([]byte, 64)})...)
}

func userauth(t testing.TB, method string, extra ...[]byte) []byte {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	b := ssh.Marshal(struct {
		SessionID []byte
		Type      byte
		User      string
		Service   string
		Method    string
		HasSig    bool
		Algorithm string
		PubKey    []byte
	}{make([]byte, 32), 50, "git", "ssh-connection", method, true, "ssh-ed25519", sp.Marshal()})
	for _, e := range extra {
		b = append(b, ssh.Marshal(struct{ B []byte }{e})...)
	}
	return b
}

func TestParse(t *testing.T) {
	hostPub, _, _ := ed25519.GenerateKey(rand.Reader)
	hostKey, _ := ssh.NewPublicKey(hostPub)
	tests := []struct {
		name string
		data []byte
		kind Kind
		text string
	}{
		{"git commit", sshsig("git", "sha512"), SSHSIG, `git commit`},
		{"file", sshsig("file", "sha256"), SSHSIG, `namespace "file"`},
		{"other namespace", sshsig("x@example.com", "sha512"), SSHSIG, `namespace "x@example.com"`},
		{"bad hash", sshsig("git", "md5"), Unknown, "unrecognised"},
		{"empty namespace", sshsig("", "sha512"), Unknown, "unrecognised"},
		{"login", userauth(t, "publickey"), Login, `SSH login as "git"`},
		{"hostbound login", userauth(t, "publickey-hostbound-v00@openssh.com", hostKey.Marshal()), Login, ssh.FingerprintSHA256(hostKey)},
		{"hostbound without key", userauth(t, "publickey-hostbound-v00@openssh.com"), Unknown, "unrecognised"},
		{"trailing junk", append(userauth(t, "publickey"), 1), Unknown, "unrecognised"},
		{"password method", userauth(t, "password"), Unknown, "unrecognised"},
		{"random", []byte("hello"), Unknown, "(5 bytes)"},
		{"empty", nil, Unknown, "(0 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Parse(tt.data)
			if in.Kind != tt.kind {
				t.Fatalf("Kind = %v, want %v", in.Kind, tt.kind)
			}
			if s := in.String(); !strings.Contains(s, tt.text) {
				t.Errorf("String() = %q, want it to contain %q", s, tt.text)
			}
		})
	}
}

func TestSanitisedUser(t *testing.T) {
	in := Intent{Kind: Login, User: "git\n\x1b[2J", Service: "ssh-connection"}
	if s := in.String(); strings.ContainsAny(s, "\n\x1b") {
		t.Errorf("String() leaks control characters: %q", s)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sshsig("git", "sha512"))
	f.Add(userauth(f, "publickey"))
	f.Add([]byte("SSHSIG"))
	f.Add([]byte{0, 0, 0, 0, 50})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := Parse(data)
		s := in.String()
		if strings.ContainsAny(s, "\n\r\x1b") {
			t.Fatalf("unsanitised: %q", s)
		}
		if in.Len != len(data) {
			t.Fatalf("Len = %d, want %d", in.Len, len(data))
		}
	})
}

// BenchmarkParse is the intent stage of a sign request: a git commit
// signature and a host-bound login.
func BenchmarkParse(b *testing.B) {
	hostPub, _, _ := ed25519.GenerateKey(rand.Reader)
	hostKey, _ := ssh.NewPublicKey(hostPub)
	for _, bc := range []struct {
		name string
		data []byte
		kind Kind
	}{
		{"sshsig", sshsig("git", "sha512"), SSHSIG},
		{"login", userauth(b, "publickey-hostbound-v00@openssh.com", hostKey.Marshal()), Login},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if Parse(bc.data).Kind != bc.kind {
					b.Fatal("misparsed")
				}
			}
		})
	}
}
