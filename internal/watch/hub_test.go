package watch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/daemon"
	"github.com/vigil-agent/vigil/internal/policy"
)

// table is a GrantTable over a real policy.Grants.
type table struct {
	g       policy.Grants
	revoked []string
}

func (t *table) Grants() []policy.Grant { return t.g.List(time.Now()) }
func (t *table) RevokeGrant(id int, by string) bool {
	t.revoked = append(t.revoked, by)
	return t.g.Revoke(id)
}

// startHub serves a Hub on a real unix socket, as vigil serve does. The
// arm delay is off unless an option sets it: these tests answer at once.
func startHub(t *testing.T, opts ...func(*Hub)) (*Hub, string, *table) {
	t.Helper()
	tb := &table{}
	h := &Hub{Grants: tb, ArmDelay: -1}
	for _, o := range opts {
		o(h)
	}
	path := filepath.Join(t.TempDir(), "control.sock")
	ln, err := daemon.Listen(path, daemon.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		daemon.Serve(ctx, ln.Listener, h, nil)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		ln.Close()
	})
	return h, path, tb
}

// client is a watcher at the protocol level.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *Reader
}

// connect dials the hub and waits for the grant table it sends first,
// which also says the hub has registered the watcher.
func connect(t *testing.T, path string) *client {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: NewReader(conn)}
	c.expect(TypeGrants)
	return c
}

func (c *client) expect(typ string) Message {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := c.r.Read()
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", typ, err)
	}
	if m.Type != typ {
		c.t.Fatalf("got %+v, want a %s message", m, typ)
	}
	return m
}

func (c *client) send(m Message) {
	c.t.Helper()
	if err := Write(c.conn, m); err != nil {
		c.t.Fatal(err)
	}
}

type outcome struct {
	allow bool
	d     time.Duration
	by    string
	err   error
}

func ask(ctx context.Context, h *Hub, text string, grant bool) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		ok, d, by, err := h.ConfirmGrantBy(ctx, text, grant)
		ch <- outcome{ok, d, by, err}
	}()
	return ch
}

func wait(t *testing.T, ch <-chan outcome) outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("ConfirmGrant did not return")
	}
	return outcome{}
}

func TestHubAnswers(t *testing.T) {
	tests := []struct {
		answer Message
		want   outcome
	}{
		{Message{Answer: AnswerOnce}, outcome{allow: true}},
		{Message{Answer: AnswerGrant, For: "1h"}, outcome{allow: true, d: time.Hour}},
		{Message{Answer: AnswerGrant, For: ForLock}, outcome{allow: true, d: policy.UntilLock}},
		{Message{Answer: AnswerDeny}, outcome{}},
	}
	h, path, _ := startHub(t)
	c := connect(t, path)
	for _, tt := range tests {
		res := ask(context.Background(), h, "Allow ssh-keygen to sign a file?\n  key: k\n", true)
		p := c.expect(TypePrompt)
		if !strings.HasPrefix(p.Text, "Allow ssh-keygen") || !p.Grant {
			t.Errorf("prompt %+v", p)
		}
		tt.answer.Type, tt.answer.ID = TypeAnswer, p.ID
		c.send(tt.answer)
		tt.want.by = fmt.Sprintf("vigil watch (pid %d)", os.Getpid()) // the watcher that answered
		if got := wait(t, res); got != tt.want {
			t.Errorf("answer %s %s: got %+v, want %+v", tt.answer.Answer, tt.answer.For, got, tt.want)
		}
		if w := c.expect(TypeWithdraw); w.ID != p.ID {
			t.Errorf("withdrew %d, want %d", w.ID, p.ID)
		}
	}
}

func TestHubNoWatcher(t *testing.T) {
	h, _, _ := startHub(t)
	if h.Unreachable() == "" {
		t.Error("reachable with no watcher connected")
	}
	if _, _, err := h.ConfirmGrant(context.Background(), "Allow?", false); !errors.Is(err, ErrNoWatcher) {
		t.Errorf("with no watcher: %v, want ErrNoWatcher", err)
	}
}

// TestHubDisconnect: the only watcher leaves while a prompt is open: no
// answer, and the prompt fails at once rather than at its timeout.
func TestHubDisconnect(t *testing.T) {
	h, path, _ := startHub(t)
	c := connect(t, path)
	if why := h.Unreachable(); why != "" {
		t.Fatalf("unreachable with a watcher connected: %s", why)
	}
	res := ask(context.Background(), h, "Allow?", false)
	c.expect(TypePrompt)
	c.conn.Close()
	if got := wait(t, res); got.allow || !errors.Is(got.err, ErrWatcherGone) {
		t.Errorf("after the watcher left: %+v, want ErrWatcherGone", got)
	}
}

// TestHubTimeout: when the request's context ends, the prompt is withdrawn
// from every screen, and a late answer is refused.
func TestHubTimeout(t *testing.T) {
	h, path, _ := startHub(t)
	a, b := connect(t, path), connect(t, path)
	a.expect(TypeError) // told that b connected
	ctx, cancel := context.WithCancel(context.Background())
	res := ask(ctx, h, "Allow?", true)
	p := a.expect(TypePrompt)
	b.expect(TypePrompt)
	cancel()
	if got := wait(t, res); got.allow || !errors.Is(got.err, context.Canceled) {
		t.Errorf("cancelled prompt: %+v", got)
	}
	for _, c := range []*client{a, b} {
		if w := c.expect(TypeWithdraw); w.ID != p.ID {
			t.Errorf("withdrew %d, want %d", w.ID, p.ID)
		}
	}
	a.send(Message{Type: TypeAnswer, ID: p.ID, Answer: AnswerOnce})
	if e := a.expect(TypeError); !strings.Contains(e.Text, "no longer waiting") {
		t.Errorf("late answer: %q", e.Text)
	}
}

// TestHubFirstAnswerWins: two watchers answer; the first answer decides,
// the second is told the request is gone.
func TestHubFirstAnswerWins(t *testing.T) {
	h, path, _ := startHub(t)
	a, b := connect(t, path), connect(t, path)
	a.expect(TypeError) // told that b connected
	res := ask(context.Background(), h, "Allow?", false)
	p := a.expect(TypePrompt)
	b.expect(TypePrompt)
	a.send(Message{Type: TypeAnswer, ID: p.ID, Answer: AnswerDeny})
	if got := wait(t, res); got.allow || got.err != nil {
		t.Errorf("first answer deny: %+v", got)
	}
	b.expect(TypeWithdraw)
	b.send(Message{Type: TypeAnswer, ID: p.ID, Answer: AnswerOnce})
	b.expect(TypeError)
}

// TestHubGrantNotOffered: a grant answer to a prompt that may not offer
// one is refused, and the prompt stays open for a real answer.
func TestHubGrantNotOffered(t *testing.T) {
	h, path, _ := startHub(t)
	c := connect(t, path)
	res := ask(context.Background(), h, "Allow?", false)
	p := c.expect(TypePrompt)
	c.send(Message{Type: TypeAnswer, ID: p.ID, Answer: AnswerGrant, For: "5m"})
	if e := c.expect(TypeError); !strings.Contains(e.Text, "cannot be granted") {
		t.Errorf("grant to a once-only prompt: %q", e.Text)
	}
	c.send(Message{Type: TypeAnswer, ID: p.ID, Answer: AnswerOnce})
	if got := wait(t, res); !got.allow || got.d != 0 {
		t.Errorf("after allow once: %+v", got)
	}
}

// TestHubLateWatcher: a watcher that connects while a prompt waits is
// shown it, and its answer counts.
func TestHubLateWatcher(t *testing.T) {
	h, path, _ := startHub(t)
	first := connect(t, path)
	res := ask(context.Background(), h, "Allow?", false)
	first.expect(TypePrompt)
	late := connect(t, path)
	p := late.expect(TypePrompt)
	late.send(Message{Type: TypeAnswer, ID: p.ID, Answer: AnswerOnce})
	if got := wait(t, res); !got.allow {
		t.Errorf("late watcher's allow: %+v", got)
	}
}

func TestHubGrants(t *testing.T) {
	h, path, tb := startHub(t)
	c := connect(t, path)
	scope := policy.Scope{Key: "SHA256:" + strings.Repeat("A", 43), Exe: "/usr/bin/git", Hash: "ab", Purpose: "git", RunBy: "/usr/bin/bash", RunByHash: "cd"}
	id, err := tb.g.Add(policy.Grant{Scope: scope, Expires: time.Now().Add(time.Hour)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h.GrantsChanged()
	if m := c.expect(TypeGrants); len(m.Grants) != 1 || m.Grants[0].ID != id || m.Grants[0].Exe != "/usr/bin/git" {
		t.Fatalf("grant table %+v", m.Grants)
	}
	c.send(Message{Type: TypeRevoke, GrantID: id})
	c.send(Message{Type: TypeRevoke, GrantID: id})
	if e := c.expect(TypeError); !strings.Contains(e.Text, "no grant") {
		t.Errorf("second revoke: %q", e.Text)
	}
	if len(tb.Grants()) != 0 || len(tb.revoked) != 2 || tb.revoked[0] != "vigil watch" {
		t.Errorf("after revoke: %+v, revoked by %q", tb.Grants(), tb.revoked)
	}
}

// A hub that is not among the approvers says so to each watcher.
func TestHubNotAsked(t *testing.T) {
	h, path, _ := startHub(t)
	h.mu.Lock() // vigil serve sets it before serving; the hub is serving here
	h.NotAsked = "prompts go elsewhere"
	h.mu.Unlock()
	c := connect(t, path)
	if m := c.expect(TypeError); m.Text != h.NotAsked {
		t.Errorf("error %q, want %q", m.Text, h.NotAsked)
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// An answer that allows, sent within the arm delay of the prompt reaching
// the watcher, is not taken (a script answering at once, or a reflex key);
// the same answer a second later is, and a denial counts at once.
func TestHubArmDelay(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	h, path, _ := startHub(t, func(h *Hub) { h.ArmDelay, h.Now = time.Second, clock.Now })
	c := connect(t, path)
	res := ask(context.Background(), h, "Allow?", true)
	p := c.expect(TypePrompt)
	c.send(Message{Type: TypeAnswer, ID: p.ID, Answer: AnswerGrant, For: "lock"})
	if e := c.expect(TypeError); !strings.Contains(e.Text, "not taken") {
		t.Errorf("answer at once: %q", e.Text)
	}
	clock.add(999 * time.Millisecond)
	c.send(Message{Type: TypeAnswer, ID: p.ID, Answer: AnswerOnce})
	c.expect(TypeError)
	clock.add(time.Millisecond)
	c.send(Message{Type: TypeAnswer, ID: p.ID, Answer: AnswerOnce})
	if got := wait(t, res); !got.allow || got.d != 0 || got.by == "" {
		t.Errorf("after a second: %+v", got)
	}
	c.expect(TypeWithdraw)

	res = ask(context.Background(), h, "Allow?", true)
	p = c.expect(TypePrompt)
	c.send(Message{Type: TypeAnswer, ID: p.ID, Answer: AnswerDeny})
	if got := wait(t, res); got.allow || got.err != nil {
		t.Errorf("deny at once: %+v", got)
	}
}

// A hub told which program watchers must run refuses any other: here the
// test binary, which is not that program; and admits it when it is.
func TestHubProgram(t *testing.T) {
	other := caller.Process{Exe: "/usr/bin/vigil", Hash: strings.Repeat("0", 64)}
	_, path, _ := startHub(t, func(h *Hub) { h.Program = other })
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := NewReader(conn).Read(); err == nil {
		t.Fatal("a program other than vigil was served")
	}

	self := selfProgram(t)
	_, path, _ = startHub(t, func(h *Hub) { h.Program = self })
	connect(t, path) // the grant table comes: admitted
}

// selfProgram is the test binary as the caller package identifies it.
func selfProgram(t *testing.T) caller.Process {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "s"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	who, err := caller.FromConn(server)
	if err != nil {
		t.Fatal(err)
	}
	defer who.Close()
	p := who.Program()
	if p.Exe == "" || p.Hash == "" {
		t.Fatalf("the test binary was not identified: %+v", p)
	}
	return caller.Process{Exe: p.Exe, Hash: p.Hash}
}

// A watcher is told when another one connects.
func TestHubToldOfAnotherWatcher(t *testing.T) {
	_, path, _ := startHub(t)
	first := connect(t, path)
	connect(t, path)
	if m := first.expect(TypeError); !strings.Contains(m.Text, fmt.Sprintf("another vigil watch connected: vigil watch (pid %d)", os.Getpid())) {
		t.Errorf("the first watcher was told %q", m.Text)
	}
}
