package agent

import (
	"context"
	"errors"
	"net"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/pins"
)

func TestExtension(t *testing.T) {
	var asked []string
	echo := ExtensionFunc(func(ctx context.Context, req *ExtensionRequest) ([]byte, error) {
		if string(req.Contents) == "fail" {
			return nil, errors.New("handler said no")
		}
		ok, _ := req.Ask(ctx, "Allow echo?")
		if !ok {
			return nil, errors.New("not allowed")
		}
		return append([]byte("echo:"), req.Contents...), nil
	})
	_, dial := serve(t, Config{
		Extensions: map[string]Extension{"echo@vigil": echo},
		Approver: funcApprover(func(_ context.Context, p string) (bool, error) {
			asked = append(asked, p)
			return true, nil
		}),
	})
	client := agent.NewClient(dial())
	reply, err := client.Extension("echo@vigil", []byte("hi"))
	if err != nil || string(reply) != "\x06echo:hi" {
		t.Fatalf("reply %q, %v", reply, err)
	}
	if len(asked) != 1 || asked[0] != "Allow echo?" {
		t.Errorf("asked %q", asked)
	}
	if _, err := client.Extension("echo@vigil", []byte("fail")); err == nil {
		t.Error("a failing handler answered success")
	}
	if _, err := client.Extension("other@vigil", nil); err == nil {
		t.Error("an unknown extension answered success")
	}
}

// TestExtensionRefusalReasons: vigil's extensions say why they refused, in
// an SSH_AGENT_EXTENSION_FAILURE the command line can print; an extension
// vigil does not serve is a plain SSH_AGENT_FAILURE.
func TestExtensionRefusalReasons(t *testing.T) {
	_, dial := serve(t, Config{
		Pins:       pins.Memory(),
		Extensions: map[string]Extension{"fail@vigil": ExtensionFunc(func(context.Context, *ExtensionRequest) ([]byte, error) { return nil, errors.New("handler said no") })},
	})
	client := NewClient(dial())
	for _, tt := range []struct {
		name, contents string
		want           string // "" for SSH_AGENT_FAILURE
	}{
		{extRevoke, "99", "no grant 99"},
		{extRevoke, "a\x1b[2J\r\u202e", `no grant "a\x1b[2J\x0d\u202e"`},
		{extRevoke, `typed\x1b`, `no grant "typed\\x1b"`},
		{extForget, "/usr/bin/nope", "no such pin: /usr/bin/nope"},
		{extUnlock, string(ssh.Marshal(struct{ P []byte }{[]byte("pass")})), "no key store"},
		{extUnlock, "", "malformed unlock request"},
		{"fail@vigil", "", "handler said no"},
		{"other@vigil", "", ""},
	} {
		reply, err := client.Extension(tt.name, []byte(tt.contents))
		var refused *RefusedError
		switch {
		case tt.want == "" && !errors.Is(err, agent.ErrExtensionUnsupported):
			t.Errorf("%s %q: reply %q, %v; want SSH_AGENT_FAILURE", tt.name, tt.contents, reply, err)
		case tt.want != "" && (!errors.As(err, &refused) || refused.Reason != tt.want):
			t.Errorf("%s %q: reply %q, %v; want the refusal %q", tt.name, tt.contents, reply, err, tt.want)
		}
	}
}

// TestClientEscapesReason: a reason from an agent that is not vigil (or not
// this vigil) reaches a terminal escaped, whatever the agent sent.
func TestClientEscapesReason(t *testing.T) {
	c, agentSide := net.Pipe()
	defer c.Close()
	go func() {
		defer agentSide.Close()
		if _, err := readFrame(agentSide); err != nil {
			return
		}
		writeFrame(agentSide, append([]byte{msgExtensionFailure}, ssh.Marshal(struct{ R string }{"bad\x1b[2J\u202eline\r"})...))
	}()
	_, err := NewClient(c).Extension("x@vigil", nil)
	var refused *RefusedError
	if want := `bad\x1b[2J\u202eline\x0d`; !errors.As(err, &refused) || refused.Reason != want {
		t.Errorf("got %v, want the refusal %q", err, want)
	}
}

func TestExtensionRefusedWhenForwarded(t *testing.T) {
	called := false
	a := New(Config{Extensions: map[string]Extension{"x@vigil": ExtensionFunc(func(context.Context, *ExtensionRequest) ([]byte, error) {
		called = true
		return nil, nil
	})}})
	req := ssh.Marshal(struct {
		Type     byte
		Name     string
		Contents []byte `ssh:"rest"`
	}{msgExtension, "x@vigil", nil})
	if r := a.handle(context.Background(), &conn{who: &caller.Info{}, fwd: true}, req); r[0] != msgFailure || called {
		t.Errorf("forwarded extension: reply %v, handler called %v", r, called)
	}
	if r := a.handle(context.Background(), &conn{who: &caller.Info{}}, req); r[0] != msgSuccess || !called {
		t.Errorf("local extension: reply %v, handler called %v", r, called)
	}
}
