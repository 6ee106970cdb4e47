package destrict

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func hostKey(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type hop struct {
	user, host string
	keys       []ssh.PublicKey
	ca         bool
}

// wire encodes constraints as ssh-add -h sends them.
func wire(pairs ...[2]hop) []byte {
	enc := func(h hop) []byte {
		b := ssh.Marshal(struct {
			User, Host string
			Reserved   []byte
		}{h.user, h.host, nil})
		for _, k := range h.keys {
			b = append(b, ssh.Marshal(struct {
				Key  []byte
				IsCA bool
			}{k.Marshal(), h.ca})...)
		}
		return b
	}
	var out []byte
	for _, p := range pairs {
		c := ssh.Marshal(struct{ From, To, Reserved []byte }{enc(p[0]), enc(p[1]), nil})
		out = append(out, ssh.Marshal(struct{ C []byte }{c})...)
	}
	return out
}

func TestPermitted(t *testing.T) {
	a, b, c := hostKey(t), hostKey(t), hostKey(t)
	// ssh-add -h hostA -h "hostA>git@hostB"
	cs, err := Parse(wire(
		[2]hop{{}, {host: "hostA", keys: []ssh.PublicKey{a.PublicKey()}}},
		[2]hop{{host: "hostA", keys: []ssh.PublicKey{a.PublicKey()}}, {user: "git", host: "hostB", keys: []ssh.PublicKey{b.PublicKey()}}},
	))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	bind := func(k ssh.Signer, fwd bool) Bind { return Bind{HostKey: k.PublicKey(), Forwarding: fwd} }
	tests := []struct {
		name  string
		binds []Bind
		user  string
		want  bool
	}{
		{"local use (no binds)", nil, "", true},
		{"login to A", []Bind{bind(a, false)}, "alice", true},
		{"login to C", []Bind{bind(c, false)}, "alice", false},
		{"list for A", []Bind{bind(a, false)}, "", true},
		{"list for C", []Bind{bind(c, false)}, "", false},
		{"forward to A, login to B as git", []Bind{bind(a, true), bind(b, false)}, "git", true},
		{"forward to A, login to B as root", []Bind{bind(a, true), bind(b, false)}, "root", false},
		{"forward to A, login to C", []Bind{bind(a, true), bind(c, false)}, "git", false},
		{"forward to C, login to B", []Bind{bind(c, true), bind(b, false)}, "git", false},
		{"sign on a forwarding hop", []Bind{bind(a, true)}, "git", false},
		{"list through forward to A", []Bind{bind(a, true)}, "", true},
		{"list through forward to B", []Bind{bind(a, true), bind(b, true)}, "", false},
		{"forward through a signing bind", []Bind{bind(a, false), bind(b, false)}, "git", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Permitted(cs, tt.binds, tt.user, now); got != tt.want {
				t.Errorf("Permitted = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHostCertificate(t *testing.T) {
	ca, host := hostKey(t), hostKey(t)
	cert := &ssh.Certificate{Key: host.PublicKey(), CertType: ssh.HostCert, KeyId: "h",
		ValidPrincipals: []string{"build.example"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	cs, err := Parse(wire([2]hop{{}, {host: "build.example", keys: []ssh.PublicKey{ca.PublicKey()}, ca: true}}))
	if err != nil {
		t.Fatal(err)
	}
	if !Permitted(cs, []Bind{{HostKey: cert}}, "u", time.Now()) {
		t.Error("host certificate signed by the CA refused")
	}
	if Permitted(cs, []Bind{{HostKey: host.PublicKey()}}, "u", time.Now()) {
		t.Error("the plain key matched a CA entry")
	}
	other := *cert
	other.ValidPrincipals = []string{"other.example"}
	if err := other.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	if Permitted(cs, []Bind{{HostKey: &other}}, "u", time.Now()) {
		t.Error("a certificate for another host name matched")
	}
}

func TestParseRefuses(t *testing.T) {
	a := hostKey(t)
	for name, b := range map[string][]byte{
		"empty":             nil,
		"garbage":           []byte{0, 0, 0, 9, 1},
		"to without key":    wire([2]hop{{}, {host: "x"}}),
		"from user":         wire([2]hop{{user: "u"}, {host: "x", keys: []ssh.PublicKey{a.PublicKey()}}}),
		"from host, no key": wire([2]hop{{host: "y"}, {host: "x", keys: []ssh.PublicKey{a.PublicKey()}}}),
	} {
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	a := hostKey(f)
	f.Add(wire([2]hop{{}, {host: "hostA", keys: []ssh.PublicKey{a.PublicKey()}}}))
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := Parse(b)
		if err == nil && len(cs) == 0 {
			t.Fatal("no error and no constraints")
		}
		if err == nil {
			Permitted(cs, []Bind{{HostKey: a.PublicKey()}}, "u", time.Now())
		}
	})
}
