package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/intent"
)

func bindMsg(t testing.TB, host ssh.Signer, sid []byte, fwd bool) []byte {
	t.Helper()
	sig, err := host.Sign(rand.Reader, sid)
	if err != nil {
		t.Fatal(err)
	}
	return ssh.Marshal(struct {
		HostKey, SessionID, Sig []byte
		Fwd                     bool
	}{host.PublicKey().Marshal(), sid, ssh.Marshal(sig), fwd})
}

func hostSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSessionBind(t *testing.T) {
	hostA, hostB := hostSigner(t), hostSigner(t)
	sid1, sid2 := []byte("session-1"), []byte("session-2")

	t.Run("forwarding chain then auth", func(t *testing.T) {
		c := &conn{who: &caller.Info{}}
		steps := []struct {
			msg  []byte
			want string
		}{
			{bindMsg(t, hostA, sid1, true), ""},
			{bindMsg(t, hostA, sid1, true), "already bound"},
			{bindMsg(t, hostB, sid1, true), "already bound"},
			{bindMsg(t, hostB, sid2, false), ""},
			{bindMsg(t, hostA, []byte("session-3"), true), "already bound for authentication"},
		}
		for i, s := range steps {
			if got := c.bind(s.msg); !strings.Contains(got, s.want) || (s.want == "") != (got == "") {
				t.Errorf("step %d: bind = %q, want %q", i, got, s.want)
			}
		}
		// The last hop binds for authentication, but the connection came
		// through a forwarded agent: that must stay visible.
		if len(c.binds) != 2 || !c.forwarded() {
			t.Errorf("binds = %d, forwarded = %v; want 2, true", len(c.binds), c.forwarded())
		}
	})
	t.Run("bad signature", func(t *testing.T) {
		c := &conn{who: &caller.Info{}}
		msg := bindMsg(t, hostA, sid1, false)
		msg[len(msg)-2] ^= 1 // inside the signature blob
		if got := c.bind(msg); got == "" {
			t.Error("bind with a corrupted signature accepted")
		}
	})
	t.Run("limit", func(t *testing.T) {
		c := &conn{who: &caller.Info{}}
		for i := range maxBinds {
			if got := c.bind(bindMsg(t, hostA, []byte{byte(i)}, true)); got != "" {
				t.Fatalf("bind %d: %s", i, got)
			}
		}
		if got := c.bind(bindMsg(t, hostA, []byte("one more"), true)); got == "" {
			t.Error("bind beyond the limit accepted")
		}
	})
	t.Run("login must match the bound session", func(t *testing.T) {
		c := &conn{who: &caller.Info{}}
		if got := c.bind(bindMsg(t, hostA, sid1, false)); got != "" {
			t.Fatal(got)
		}
		if why := c.checkLogin(intent.Intent{Kind: intent.Login, SessionID: sid1}); why != "" {
			t.Errorf("matching login refused: %s", why)
		}
		if why := c.checkLogin(intent.Intent{Kind: intent.Login, SessionID: sid2}); why == "" {
			t.Error("login for another session accepted")
		}
		if why := c.checkLogin(intent.Intent{Kind: intent.Login, SessionID: sid1, HostKey: hostB.PublicKey()}); why == "" {
			t.Error("login naming another host key accepted")
		}
		if why := c.checkLogin(intent.Intent{Kind: intent.SSHSIG}); why != "" {
			t.Errorf("SSHSIG refused on a bound connection: %s", why)
		}
	})
}

func TestQuery(t *testing.T) {
	a := New(Config{})
	req := ssh.Marshal(struct {
		Type byte
		Name string
	}{msgExtension, "query"})
	reply := a.handle(context.Background(), &conn{who: &caller.Info{}}, req)
	if len(reply) == 0 || reply[0] != msgSuccess {
		t.Fatalf("query reply %v", reply)
	}
	var names struct {
		A, B string
		Rest []byte `ssh:"rest"`
	}
	if err := ssh.Unmarshal(reply[1:], &names); err != nil || names.B != "session-bind@openssh.com" {
		t.Errorf("query names = %+v, %v", names, err)
	}
	unknown := ssh.Marshal(struct {
		Type byte
		Name string
	}{msgExtension, "nope@example.com"})
	if r := a.handle(context.Background(), &conn{who: &caller.Info{}}, unknown); r[0] != msgFailure {
		t.Errorf("unknown extension reply %v", r)
	}
}

// TestQueryForwarded: a forwarded connection is told only of the
// extensions it may use, so a vigil command on the remote host does not
// send a passphrase through every hop to an agent that would refuse it.
func TestQueryForwarded(t *testing.T) {
	a := New(Config{})
	req := ssh.Marshal(struct {
		Type byte
		Name string
	}{msgExtension, extQuery})
	names := func(c *conn) string {
		reply := a.handle(context.Background(), c, req)
		if len(reply) == 0 || reply[0] != msgSuccess {
			t.Fatalf("query reply %v", reply)
		}
		var out []string
		for rest := reply[1:]; len(rest) > 0; {
			var m struct {
				S    string
				Rest []byte `ssh:"rest"`
			}
			if err := ssh.Unmarshal(rest, &m); err != nil {
				t.Fatal(err)
			}
			out, rest = append(out, m.S), m.Rest
		}
		return strings.Join(out, " ")
	}
	if got := names(&conn{who: &caller.Info{}}); !strings.Contains(got, extUnlock) {
		t.Errorf("local query lists %q, want %s among them", got, extUnlock)
	}
	if got := names(&conn{who: &caller.Info{}, fwd: true}); got != extQuery+" "+extSessionBind {
		t.Errorf("forwarded query lists %q, want only %s and %s", got, extQuery, extSessionBind)
	}
}
