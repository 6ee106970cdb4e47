package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/keystore"
	"github.com/vigil-agent/vigil/internal/policy"
)

// funcApprover stands in for the person: the e2e tests use real askpass
// programs; these tests need precise control over timing.
type funcApprover func(ctx context.Context, prompt string) (bool, error)

func (f funcApprover) Confirm(ctx context.Context, prompt string) (bool, error) {
	return f(ctx, prompt)
}

func approveAll(context.Context, string) (bool, error) { return true, nil }

// serve runs an Agent on a real unix socket and returns a dialer for it.
func serve(t testing.TB, cfg Config) (*Agent, func() net.Conn) {
	t.Helper()
	if cfg.Keys == nil {
		cfg.Keys = keystore.New(nil)
	}
	a := New(cfg)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			who, err := caller.FromConn(c)
			if err != nil {
				t.Error(err)
				c.Close()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer who.Close()
				a.ServeConn(ctx, c, who)
			}()
		}
	}()
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	return a, func() net.Conn {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
}

func newKey(t testing.TB) (ed25519.PrivateKey, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return priv, sp
}

func TestSignNeedsApproval(t *testing.T) {
	var prompts []string
	var answer atomic.Bool
	_, dial := serve(t, Config{Approver: funcApprover(func(_ context.Context, p string) (bool, error) {
		prompts = append(prompts, p)
		return answer.Load(), nil
	})})
	client := agent.NewClient(dial())
	priv, pub := newKey(t)
	if err := client.Add(agent.AddedKey{PrivateKey: priv, Comment: "work\x1b[31m key", ConfirmBeforeUse: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Sign(pub, []byte("data")); err == nil {
		t.Fatal("signed although the approver said no")
	}
	answer.Store(true)
	sig, err := client.Sign(pub, []byte("data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Verify([]byte("data"), sig); err != nil {
		t.Fatal(err)
	}
	if len(prompts) != 2 {
		t.Fatalf("approver asked %d times, want once per signature (2)", len(prompts))
	}
	p := prompts[1]
	for _, want := range []string{ssh.FingerprintSHA256(pub), `work\x1b[31m key`, "[added with confirm]", "(pid ", "path:    local", "Allow agent.test to sign unrecognised data (4 bytes)?"} {
		if !strings.Contains(p, want) {
			t.Errorf("prompt lacks %q:\n%s", want, p)
		}
	}
	if strings.Contains(p, "\x1b") {
		t.Errorf("prompt carries a raw escape character:\n%q", p)
	}
}

func TestNoApproverRefuses(t *testing.T) {
	_, dial := serve(t, Config{})
	client := agent.NewClient(dial())
	priv, pub := newKey(t)
	if err := client.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Sign(pub, []byte("data")); err == nil {
		t.Fatal("signed with no approver configured")
	}
}

func TestApproverErrorRefuses(t *testing.T) {
	_, dial := serve(t, Config{Approver: funcApprover(func(context.Context, string) (bool, error) {
		return true, errors.New("display gone")
	})})
	client := agent.NewClient(dial())
	priv, pub := newKey(t)
	client.Add(agent.AddedKey{PrivateKey: priv})
	if _, err := client.Sign(pub, []byte("data")); err == nil {
		t.Fatal("signed although the approver failed")
	}
}

// TestPromptDoesNotBlock: while one request waits for a person, other
// clients list at once, and a second signature queues behind the first
// prompt instead of opening a second one.
func TestPromptDoesNotBlock(t *testing.T) {
	release := make(chan struct{})
	var open, maxOpen atomic.Int32
	asked := make(chan struct{}, 2)
	_, dial := serve(t, Config{Approver: funcApprover(func(ctx context.Context, _ string) (bool, error) {
		n := open.Add(1)
		defer open.Add(-1)
		if n > maxOpen.Load() {
			maxOpen.Store(n)
		}
		asked <- struct{}{}
		select {
		case <-release:
			return true, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	})})
	admin := agent.NewClient(dial())
	priv, pub := newKey(t)
	if err := admin.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := agent.NewClient(dial()).Sign(pub, []byte("data"))
			errs <- err
		}()
	}
	<-asked
	for range 3 {
		if keys, err := admin.List(); err != nil || len(keys) != 1 {
			t.Fatalf("List while a prompt is open = %d keys, %v", len(keys), err)
		}
	}
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("queued signature: %v", err)
		}
	}
	if m := maxOpen.Load(); m != 1 {
		t.Errorf("%d prompts were open at once, want 1", m)
	}
}

func TestHangUpCancelsPrompt(t *testing.T) {
	cancelled := make(chan struct{})
	asked := make(chan struct{})
	_, dial := serve(t, Config{Approver: funcApprover(func(ctx context.Context, _ string) (bool, error) {
		close(asked)
		<-ctx.Done()
		close(cancelled)
		return true, nil // a late yes: must not be applied
	})})
	admin := agent.NewClient(dial())
	priv, pub := newKey(t)
	admin.Add(agent.AddedKey{PrivateKey: priv})
	c := dial()
	go agent.NewClient(c).Sign(pub, []byte("data"))
	<-asked
	c.Close()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("prompt not cancelled after the client hung up")
	}
	// The next client is served at once.
	if keys, err := admin.List(); err != nil || len(keys) != 1 {
		t.Fatalf("List after hang-up = %d, %v", len(keys), err)
	}
}

// TestPipelinedRequests sends several requests in one write, before
// any reply: they are answered in order, whether they are read in line
// (lists) or, once a request has had to wait for a person, read ahead.
func TestPipelinedRequests(t *testing.T) {
	_, dial := serve(t, Config{Approver: funcApprover(func(ctx context.Context, _ string) (bool, error) {
		<-ctx.Done() // reads ahead: the list behind the sign request is read meanwhile
		return false, ctx.Err()
	}), PromptTimeout: 200 * time.Millisecond})
	admin := agent.NewClient(dial())
	priv, pub := newKey(t)
	if err := admin.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	frame := func(msg []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...)
	}
	list := frame([]byte{msgRequestIDs})
	sign := frame(ssh.Marshal(struct {
		Type      byte
		Key, Data []byte
		Flags     uint32
	}{msgSignRequest, pub.Marshal(), []byte("data"), 0}))
	c := dial()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var all []byte
	for _, f := range [][]byte{list, list, sign, list, sign, list} {
		all = append(all, f...)
	}
	if _, err := c.Write(all); err != nil {
		t.Fatal(err)
	}
	want := []byte{msgIDsAnswer, msgIDsAnswer, msgFailure, msgIDsAnswer, msgFailure, msgIDsAnswer}
	for i, w := range want {
		reply, err := readFrame(c)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if len(reply) == 0 || reply[0] != w {
			t.Fatalf("reply %d is message %v, want %d", i, reply[:min(len(reply), 1)], w)
		}
	}
}

func TestPromptTimeout(t *testing.T) {
	_, dial := serve(t, Config{PromptTimeout: 50 * time.Millisecond, Approver: funcApprover(func(ctx context.Context, _ string) (bool, error) {
		<-ctx.Done()
		return false, ctx.Err()
	})})
	client := agent.NewClient(dial())
	priv, pub := newKey(t)
	client.Add(agent.AddedKey{PrivateKey: priv})
	if _, err := client.Sign(pub, []byte("data")); err == nil {
		t.Fatal("signed after the prompt timed out")
	}
}

func TestUnknownConstraintRefused(t *testing.T) {
	_, dial := serve(t, Config{Approver: funcApprover(approveAll)})
	client := agent.NewClient(dial())
	priv, _ := newKey(t)
	err := client.Add(agent.AddedKey{PrivateKey: priv, ConstraintExtensions: []agent.ConstraintExtension{
		{ExtensionName: "restrict-destination-v00@openssh.com", ExtensionDetails: []byte{0, 0, 0, 0}},
	}})
	if err == nil {
		t.Fatal("key with an unsupported constraint accepted")
	}
	if keys, _ := client.List(); len(keys) != 0 {
		t.Fatalf("%d keys stored after a refused add", len(keys))
	}
}

func TestLockUnlockDelay(t *testing.T) {
	a, dial := serve(t, Config{Approver: funcApprover(approveAll)})
	a.unlockDelay = func(int) time.Duration { return time.Hour }
	client := agent.NewClient(dial())
	priv, pub := newKey(t)
	client.Add(agent.AddedKey{PrivateKey: priv})
	if err := client.Lock([]byte("pw")); err != nil {
		t.Fatal(err)
	}
	if keys, err := client.List(); err != nil || len(keys) != 1 {
		t.Fatalf("locked agent lists %d keys, %v; want the public key still listed", len(keys), err)
	}
	if _, err := client.Sign(pub, []byte("x")); err == nil {
		t.Fatal("signed while locked")
	}
	if err := client.Unlock([]byte("wrong")); err == nil {
		t.Fatal("wrong passphrase unlocked")
	}
	// The next attempt must wait out the delay; hanging up abandons it.
	c := dial()
	done := make(chan error, 1)
	go func() { done <- agent.NewClient(c).Unlock([]byte("pw")) }()
	select {
	case err := <-done:
		t.Fatalf("unlock attempt answered during the delay: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	c.Close()
	<-done
	a.unlockMu.Lock()
	a.unlockAfter = time.Time{}
	a.unlockMu.Unlock()
	if err := client.Unlock([]byte("pw")); err != nil {
		t.Fatalf("right passphrase after the delay: %v", err)
	}
	if _, err := client.Sign(pub, []byte("x")); err != nil {
		t.Fatalf("sign after unlock: %v", err)
	}
}

func TestUnlockDelayGrows(t *testing.T) {
	prev := time.Duration(0)
	for n := 1; n <= 12; n++ {
		d := unlockDelay(n)
		if d < prev || d > 10*time.Second {
			t.Fatalf("unlockDelay(%d) = %v after %v", n, d, prev)
		}
		prev = d
	}
	if unlockDelay(1) <= 0 || unlockDelay(12) != 10*time.Second {
		t.Errorf("delay range %v..%v", unlockDelay(1), unlockDelay(12))
	}
}

func TestRules(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int32
	a, dial := serve(t, Config{CooldownStrikes: 1000, Approver: funcApprover(func(context.Context, string) (bool, error) {
		asked.Add(1)
		return false, nil
	})})
	client := agent.NewClient(dial())
	priv, pub := newKey(t)
	if err := client.Add(agent.AddedKey{PrivateKey: priv, Comment: "ci-key"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		rules  []policy.Rule
		signed bool
		asked  int32
	}{
		{"no rules: ask", nil, false, 1},
		{"allow this program", []policy.Rule{{N: 1, Exe: self, Action: policy.Allow}}, true, 0},
		{"allow another program", []policy.Rule{{N: 1, Exe: "/usr/bin/ssh", Action: policy.Allow}}, false, 1},
		{"allow by comment glob", []policy.Rule{{N: 1, Key: "ci-*", Purpose: "unknown", Action: policy.Allow}}, true, 0},
		{"allow other purpose", []policy.Rule{{N: 1, Key: "ci-*", Purpose: "login", Action: policy.Allow}}, false, 1},
		{"forwarded-only rule", []policy.Rule{{N: 1, Exe: self, Forwarded: true, Action: policy.Allow}}, false, 1},
		{"deny first", []policy.Rule{{N: 1, Key: ssh.FingerprintSHA256(pub), Action: policy.Deny}, {N: 2, Exe: self, Action: policy.Allow}}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.SetRules(tt.rules)
			asked.Store(0)
			_, err := client.Sign(pub, []byte("data"))
			if (err == nil) != tt.signed {
				t.Errorf("signed = %v, want %v", err == nil, tt.signed)
			}
			if n := asked.Load(); n != tt.asked {
				t.Errorf("approver asked %d times, want %d", n, tt.asked)
			}
		})
	}
}

// TestDebugLogsEveryRequest: at debug level (vigil serve --debug) every
// request is logged, a list included, by type and length only.
func TestDebugLogsEveryRequest(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, dial := serve(t, Config{Log: log})
	if _, err := agent.NewClient(dial()).List(); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "msg=request type=list len=1") {
		t.Errorf("debug log has no line for the list request:\n%s", out)
	}
}

// syncBuffer is a bytes.Buffer safe for the agent's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
