package agent

import (
	"context"
	"errors"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/vigil-agent/vigil/internal/caller"
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
