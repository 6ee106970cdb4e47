package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/credential/cargo"
)

func runPlugin(t *testing.T, cfg PluginConfig, stdin string) (hello, resp string) {
	t.Helper()
	var out bytes.Buffer
	cfg.Stdin, cfg.Stdout = strings.NewReader(stdin), &out
	if err := RunCargoPlugin(context.Background(), cfg); err != nil {
		t.Fatalf("RunCargoPlugin: %v", err)
	}
	hello, resp, _ = strings.Cut(out.String(), "\n")
	if hello != `{"v":[1]}` {
		t.Fatalf("first line %q, want the hello", hello)
	}
	return hello, resp
}

func TestPluginHelloOnly(t *testing.T) {
	if _, resp := runPlugin(t, PluginConfig{}, ""); resp != "" {
		t.Fatalf("answered %q to no request", resp)
	}
}

func TestPluginNoAgent(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.sock"), filepath.Join(dir, "b.sock")
	_, resp := runPlugin(t, PluginConfig{Sockets: []string{a, b}}, publishLine(t)+"\n")
	wantError(t, resp, cargo.Other, "vigil agent not running at "+a+" or "+b)

	_, resp = runPlugin(t, PluginConfig{}, publishLine(t)+"\n")
	wantError(t, resp, cargo.Other, "vigil agent not running")
}

func publishLine(t *testing.T) string { return publish(t) }

// fakeAgent answers SSH_AGENT_FAILURE to everything, and keeps what it was
// sent.
type fakeAgent struct {
	sock string
	mu   sync.Mutex
	got  [][]byte
}

func newFakeAgent(t *testing.T) *fakeAgent {
	f := &fakeAgent{sock: filepath.Join(t.TempDir(), "other.sock")}
	ln, err := net.Listen("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				for {
					var n uint32
					if binary.Read(c, binary.BigEndian, &n) != nil || n > 1<<20 {
						return
					}
					msg := make([]byte, n)
					if _, err := io.ReadFull(c, msg); err != nil {
						return
					}
					f.mu.Lock()
					f.got = append(f.got, msg)
					f.mu.Unlock()
					if _, err := c.Write([]byte{0, 0, 0, 1, 5}); err != nil {
						return
					}
				}
			}()
		}
	}()
	return f
}

// An agent at SSH_AUTH_SOCK that is not vigil is asked which extensions it
// serves, and nothing else: a login's token never reaches it.
func TestPluginOtherAgent(t *testing.T) {
	other := newFakeAgent(t)
	_, resp := runPlugin(t, PluginConfig{Sockets: []string{other.sock}}, login(t, secret)+"\n")
	wantError(t, resp, cargo.Other, "the agent at "+other.sock+" is not vigil")
	other.mu.Lock()
	got := other.got
	other.got = nil
	other.mu.Unlock()
	if len(got) != 1 || !bytes.Contains(got[0], []byte("query")) {
		t.Errorf("the other agent was sent %q, want only the query", got)
	}
	for _, m := range got {
		if bytes.Contains(m, []byte(secret)) {
			t.Fatal("the token was sent to an agent that is not vigil")
		}
	}

	// With vigil's socket after it, vigil answers.
	r := newRig(t)
	_, resp = runPlugin(t, PluginConfig{Sockets: []string{other.sock, r.sock}}, login(t, secret)+"\n")
	if got, e := decode(t, resp); e != nil || got.Kind != cargo.KindLogin {
		t.Fatalf("login through the second socket: %+v %v", got, e)
	}
}

// A login without a token reads it from the terminal.
func TestPluginLoginFromTerminal(t *testing.T) {
	r := newRig(t)
	asked := ""
	cfg := PluginConfig{Sockets: []string{r.sock}, ReadToken: func(registry string) (credential.Token, error) {
		asked = registry
		return credential.NewToken(secret)
	}}
	_, resp := runPlugin(t, cfg, line(t, cargo.Request{Kind: cargo.KindLogin})+"\n")
	if got, e := decode(t, resp); e != nil || got.Kind != cargo.KindLogin {
		t.Fatalf("login: %+v %v", got, e)
	}
	if asked != "fake" {
		t.Errorf("ReadToken asked for %q, want fake", asked)
	}
	if tok, err := r.store.Get(indexURL); err != nil || tok.Reveal() != secret {
		t.Fatalf("store after login: %v", err)
	}

	cfg.ReadToken = func(string) (credential.Token, error) { return credential.Token{}, errors.New("no tty here") }
	_, resp = runPlugin(t, cfg, line(t, cargo.Request{Kind: cargo.KindLogin})+"\n")
	wantError(t, resp, cargo.Other, "no tty here")
}

func TestPluginMalformedRequest(t *testing.T) {
	_, resp := runPlugin(t, PluginConfig{Sockets: []string{"/nonexistent"}}, "not json\n")
	wantError(t, resp, cargo.Other, "")
}
