package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sshagent "golang.org/x/crypto/ssh/agent"

	"github.com/vigil-agent/vigil/internal/agent"
	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/credential/cargo"
	"github.com/vigil-agent/vigil/internal/keystore"
	"github.com/vigil-agent/vigil/internal/pins"
	"github.com/vigil-agent/vigil/internal/policy"
)

const (
	indexURL = "sparse+http://127.0.0.1:8765/index/"
	cksum    = "3c11693ca65f5d9cac91155eaa64ebe1f21c5076dc26df487137840c6b597610"
	secret   = "cio-SECRET-registry-token-0123456789"
)

// The programs of the callers the tests play.
var (
	pluginProc = caller.Process{PID: 4243, Exe: "/usr/bin/vigil", Hash: "aaaa"}
	cargoProc  = caller.Process{PID: 4242, Exe: "/home/u/.rustup/toolchains/stable/bin/cargo", Hash: "cccc"}
	bashProc   = caller.Process{PID: 4000, Exe: "/usr/bin/bash", Hash: "bbbb"}
	otherCargo = caller.Process{PID: 5000, Exe: "/tmp/evil/cargo", Hash: "eeee"}
	pythonProc = caller.Process{PID: 6000, Exe: "/usr/bin/python3", Hash: "9999"}
)

// chain builds a caller whose pid is 0, so that the agent does not look it
// up in /proc before asking.
func chain(ps ...caller.Process) *caller.Info { return &caller.Info{Chain: ps} }

// rig is an agent serving the cargo extension on a unix socket, with a
// scripted person, an in-memory audit log and a captured log.
type rig struct {
	t      *testing.T
	sock   string
	broker *Cargo
	store  *MemoryStore
	ag     *agent.Agent // SetRules sets the policy rules
	pins   *pins.Store  // the agent's

	mu       sync.Mutex
	who      *caller.Info
	answer   bool
	prompts  []string
	events   []audit.Event
	auditErr error
	now      time.Time
	logs     bytes.Buffer
	onAsk    func() // runs while the person decides, without r.mu
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, who: chain(pluginProc, cargoProc, bashProc), answer: true,
		now: time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC), store: NewMemoryStore(), pins: pins.Memory()}
	log := slog.New(slog.NewTextHandler(lockedWriter{r}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.broker = NewCargo(CargoConfig{
		Tokens:   r.store,
		IsPlugin: func(p caller.Process) bool { return p.Hash == pluginProc.Hash },
		Now: func() time.Time {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.now
		},
		Log: log,
	})
	ag := agent.New(agent.Config{
		Keys:       keystore.New(nil),
		Approver:   r,
		Audit:      r,
		Extensions: map[string]agent.Extension{CargoExtension: r.broker},
		Pins:       r.pins,
		Log:        log,
	})
	r.ag = ag
	r.sock = filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: r.sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			who := r.who
			r.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				ag.ServeConn(ctx, c, who)
			}()
		}
	}()
	return r
}

type lockedWriter struct{ r *rig }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	return w.r.logs.Write(p)
}

// Confirm is the person.
func (r *rig) Confirm(_ context.Context, prompt string) (bool, error) {
	r.mu.Lock()
	onAsk := r.onAsk
	r.mu.Unlock()
	if onAsk != nil {
		onAsk()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prompts = append(r.prompts, prompt)
	return r.answer, nil
}

// Append is the audit log.
func (r *rig) Append(ev audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return r.auditErr
}

func (r *rig) set(f func(r *rig)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// takePrompts returns the prompts shown since the last call.
func (r *rig) takePrompts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.prompts
	r.prompts = nil
	return p
}

func (r *rig) takeEvents() []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

// plugin runs the provider half with line as cargo's request and returns
// its response line, checking the hello and the exit.
func (r *rig) plugin(line string) string {
	r.t.Helper()
	var out bytes.Buffer
	err := RunCargoPlugin(context.Background(), PluginConfig{
		Sockets: []string{r.sock},
		Stdin:   strings.NewReader(line + "\n"),
		Stdout:  &out,
	})
	if err != nil {
		r.t.Fatalf("RunCargoPlugin: %v", err)
	}
	hello, resp, ok := strings.Cut(out.String(), "\n")
	if !ok || hello != `{"v":[1]}` || strings.Count(resp, "\n") != 1 || !strings.HasSuffix(resp, "\n") {
		r.t.Fatalf("provider wrote %q: want the hello and one response line", out.String())
	}
	return resp
}

func line(t *testing.T, req cargo.Request) string {
	t.Helper()
	if req.Registry.IndexURL == "" {
		req.Registry = cargo.Registry{IndexURL: indexURL, Name: "fake"}
	}
	b, err := cargo.EncodeRequest(&req)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

func login(t *testing.T, tok string) string {
	return line(t, cargo.Request{Kind: cargo.KindLogin, Token: credential.UncheckedToken(tok), LoginURL: "http://127.0.0.1:8765/me"})
}

func get(t *testing.T, op cargo.Operation, name, vers, sum string) string {
	return line(t, cargo.Request{Kind: cargo.KindGet, Operation: op, Name: name, Vers: vers, Cksum: sum})
}

var publish = func(t *testing.T) string { return get(t, cargo.OpPublish, "foo", "0.2.0", cksum) }

// decode decodes a response line: the response, or the error.
func decode(t *testing.T, line string) (*cargo.Response, *cargo.Error) {
	t.Helper()
	resp, err := cargo.DecodeResponse([]byte(strings.TrimSuffix(line, "\n")))
	var e *cargo.Error
	if errors.As(err, &e) {
		return nil, e
	}
	if err != nil {
		t.Fatalf("response %q: %v", line, err)
	}
	return resp, nil
}

func wantToken(t *testing.T, line string, cache cargo.Cache) {
	t.Helper()
	resp, e := decode(t, line)
	if e != nil {
		t.Fatalf("refused: %v", e)
	}
	if resp.Kind != cargo.KindGet || resp.Token.Reveal() != secret || resp.Cache != cache || resp.OperationIndependent {
		t.Fatalf("response %+v (token of %d bytes), want the stored token, cache %s, not operation-independent", resp, resp.Token.Len(), cache)
	}
}

func wantError(t *testing.T, line string, kind cargo.ErrorKind, text string) *cargo.Error {
	t.Helper()
	_, e := decode(t, line)
	if e == nil {
		t.Fatalf("response %q, want an error of kind %s", line, kind)
	}
	if e.Kind != kind || !strings.Contains(e.Error(), text) {
		t.Fatalf("error %q of kind %s, want kind %s saying %q", e.Error(), e.Kind, kind, text)
	}
	return e
}

func wantEvent(t *testing.T, evs []audit.Event, dec audit.Decision, purpose, resource string) audit.Event {
	t.Helper()
	if len(evs) != 1 {
		t.Fatalf("%d audit records, want 1: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.Kind != audit.KindCredential || ev.Decision != dec || ev.Intent.Purpose != purpose ||
		ev.Intent.Resource != resource || ev.Origin != audit.Local {
		t.Fatalf("audit record %+v, want %s %s %q", ev, dec, purpose, resource)
	}
	if ev.Caller.Exe != pluginProc.Exe || len(ev.Caller.Chain) != 2 || ev.Caller.Chain[0].Exe != cargoProc.Exe {
		t.Errorf("audit record's caller %+v, want the plugin, then cargo and bash", ev.Caller)
	}
	return ev
}

const publishPrompt = `Allow cargo to publish foo 0.2.0 (sha256 3c11693ca65f…) to registry fake?
  crate:    foo 0.2.0
  sha256:   3c11693ca65f5d9cac91155eaa64ebe1f21c5076dc26df487137840c6b597610
  registry: fake, index sparse+http://127.0.0.1:8765/index/
  program:  /home/u/.rustup/toolchains/stable/bin/cargo (pid 4242)
  parents:  /usr/bin/bash (pid 4000)
  via:      /usr/bin/vigil (pid 4243), vigil's cargo credential provider
  path:     local
`

func TestCargoLoginPublishLogout(t *testing.T) {
	r := newRig(t)

	// Nothing stored: not-found, and nobody is asked.
	wantError(t, r.plugin(publish(t)), cargo.NotFound, "")
	if p := r.takePrompts(); len(p) != 0 {
		t.Fatalf("asked with no token to release: %q", p)
	}
	wantEvent(t, r.takeEvents(), audit.Failed, "cargo-publish", "crate foo 0.2.0 at registry "+indexURL)

	// Login stores, without asking.
	if resp, e := decode(t, r.plugin(login(t, secret))); e != nil || resp.Kind != cargo.KindLogin {
		t.Fatalf("login: %+v %v", resp, e)
	}
	if tok, err := r.store.Get(indexURL); err != nil || tok.Reveal() != secret {
		t.Fatalf("store after login: %v", err)
	}
	if p := r.takePrompts(); len(p) != 0 {
		t.Fatalf("login asked: %q", p)
	}
	wantEvent(t, r.takeEvents(), audit.Allowed, "cargo-login", "registry "+indexURL)

	// Publish, approved: the token, never cached.
	wantToken(t, r.plugin(publish(t)), cargo.CacheNever)
	prompts := r.takePrompts()
	if len(prompts) != 1 || prompts[0] != publishPrompt {
		t.Fatalf("the person read:\n%s\nwant:\n%s", strings.Join(prompts, "\n---\n"), publishPrompt)
	}
	ev := wantEvent(t, r.takeEvents(), audit.Allowed, "cargo-publish", "crate foo 0.2.0 at registry "+indexURL)
	if ev.DataSHA256 != cksum || ev.Detail != "approved" {
		t.Errorf("publish record: %+v", ev)
	}

	// Publish, denied: cargo reads why.
	r.set(func(r *rig) { r.answer = false })
	e := wantError(t, r.plugin(publish(t)), cargo.Other,
		"vigil did not allow cargo to publish foo 0.2.0 (sha256 3c11693ca65f…) to registry fake")
	if len(e.CausedBy) != 1 || e.CausedBy[0] != "approver said no" {
		t.Errorf("caused by %q", e.CausedBy)
	}
	if len(r.takePrompts()) != 1 {
		t.Error("a denied publish was not asked")
	}
	wantEvent(t, r.takeEvents(), audit.Denied, "cargo-publish", "crate foo 0.2.0 at registry "+indexURL)

	// Logout removes; a second logout is not-found (cargo: "not logged in").
	if resp, e := decode(t, r.plugin(line(t, cargo.Request{Kind: cargo.KindLogout}))); e != nil || resp.Kind != cargo.KindLogout {
		t.Fatalf("logout: %+v %v", resp, e)
	}
	wantEvent(t, r.takeEvents(), audit.Allowed, "cargo-logout", "registry "+indexURL)
	wantError(t, r.plugin(line(t, cargo.Request{Kind: cargo.KindLogout})), cargo.NotFound, "")
	wantEvent(t, r.takeEvents(), audit.Failed, "cargo-logout", "registry "+indexURL)
	if _, err := r.store.Get(indexURL); !errors.Is(err, ErrNoToken) {
		t.Fatalf("store after logout: %v", err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if strings.Contains(r.logs.String(), secret) {
		t.Errorf("the log holds the token:\n%s", r.logs.String())
	}
}

func TestCargoMutationsAlwaysAsk(t *testing.T) {
	r := newRig(t)
	if err := r.store.Put(indexURL, credential.UncheckedToken(secret)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		line, title, purpose, resource string
	}{
		{get(t, cargo.OpYank, "foo", "0.1.0", ""), "Allow cargo to yank foo 0.1.0 at registry fake?\n", "cargo-yank", "crate foo 0.1.0 at registry " + indexURL},
		{get(t, cargo.OpUnyank, "foo", "0.1.0", ""), "Allow cargo to un-yank foo 0.1.0 at registry fake?\n", "cargo-unyank", "crate foo 0.1.0 at registry " + indexURL},
		{get(t, cargo.OpOwners, "foo", "", ""), "Allow cargo to list or change the owners of foo at registry fake?\n", "cargo-owners", "crate foo at registry " + indexURL},
	}
	for _, c := range cases {
		for range 2 { // the same request twice: asked twice
			wantToken(t, r.plugin(c.line), cargo.CacheNever)
			p := r.takePrompts()
			if len(p) != 1 || !strings.HasPrefix(p[0], c.title) {
				t.Errorf("prompts %q, want one starting %q", p, c.title)
			}
			wantEvent(t, r.takeEvents(), audit.Allowed, c.purpose, c.resource)
		}
	}
}

// TestCargoRulePinned: an allow rule that names cargo holds for the cargo
// it first allowed, by content, in the agent's pins (those of signature
// rules). A replaced cargo at the same path is asked about, the prompt says
// the program changed; a no leaves the pin as it was, a yes re-pins.
func TestCargoRulePinned(t *testing.T) {
	r := newRig(t)
	if err := r.store.Put(indexURL, credential.UncheckedToken(secret)); err != nil {
		t.Fatal(err)
	}
	r.ag.SetRules([]policy.Rule{{N: 1, Purpose: "cargo-publish", Exe: cargoProc.Exe, Action: policy.Allow}})
	publish := get(t, cargo.OpPublish, "foo", "0.2.0", cksum)

	wantToken(t, r.plugin(publish), cargo.CacheNever)
	if p := r.takePrompts(); len(p) != 0 {
		t.Fatalf("asked for a publish rule 1 allows: %q", p)
	}
	if l := r.pins.List(); len(l) != 1 || l[0].Exe != cargoProc.Exe || l[0].SHA256 != cargoProc.Hash {
		t.Fatalf("pins after the first publish: %+v", l)
	}
	r.takeEvents()

	replaced := cargoProc
	replaced.Hash = "dddddddddddddddd"
	r.set(func(r *rig) { r.who = chain(pluginProc, replaced, bashProc); r.answer = false })
	wantError(t, r.plugin(publish), cargo.Other, "vigil did not allow cargo to publish foo 0.2.0")
	p := r.takePrompts()
	if len(p) != 1 {
		t.Fatalf("%d prompts for a replaced cargo, want 1", len(p))
	}
	wantNote := "  NOTE:     " + cargoProc.Exe + " changed since rule 1 first allowed it (content SHA-256 dddddddddddd…, was cccc…)\n"
	if !strings.Contains(p[0], wantNote) {
		t.Errorf("prompt for a replaced cargo does not say %q:\n%s", wantNote, p[0])
	}
	wantEvent(t, r.takeEvents(), audit.Denied, "cargo-publish", "crate foo 0.2.0 at registry "+indexURL)
	if l := r.pins.List(); len(l) != 1 || l[0].SHA256 != cargoProc.Hash {
		t.Fatalf("a no re-pinned: %+v", l)
	}

	// Yes: released, and the new cargo is pinned: no prompt next time.
	r.set(func(r *rig) { r.answer = true })
	wantToken(t, r.plugin(publish), cargo.CacheNever)
	if p := r.takePrompts(); len(p) != 1 || !strings.Contains(p[0], wantNote) {
		t.Fatalf("prompts %q, want one with the note", p)
	}
	if ev := wantEvent(t, r.takeEvents(), audit.Allowed, "cargo-publish", "crate foo 0.2.0 at registry "+indexURL); !strings.Contains(ev.Detail, "the program changed since rule 1") {
		t.Errorf("record detail %q", ev.Detail)
	}
	if l := r.pins.List(); len(l) != 1 || l[0].SHA256 != replaced.Hash {
		t.Fatalf("a yes did not re-pin: %+v", l)
	}
	wantToken(t, r.plugin(publish), cargo.CacheNever)
	if p := r.takePrompts(); len(p) != 0 {
		t.Fatalf("asked again after the re-pin: %q", p)
	}

	// A program whose content could not be read is not taken for the
	// pinned one.
	unread := cargoProc
	unread.Hash = ""
	r.set(func(r *rig) { r.who = chain(pluginProc, unread, bashProc) })
	wantToken(t, r.plugin(publish), cargo.CacheNever)
	if p := r.takePrompts(); len(p) != 1 || !strings.Contains(p[0], "its content could not be read") {
		t.Fatalf("prompts %q for an unreadable cargo", p)
	}
}

// TestCargoRules: rules naming a cargo purpose decide before anyone is
// asked, matched on the registry, its host and the program asking (cargo,
// past the plugin); rules that name no credential purpose never match.
func TestCargoRules(t *testing.T) {
	r := newRig(t)
	if err := r.store.Put(indexURL, credential.UncheckedToken(secret)); err != nil {
		t.Fatal(err)
	}
	r.ag.SetRules([]policy.Rule{
		{N: 1, Action: policy.Allow}, // every signature: not a token
		{N: 2, Purpose: "cargo-read", Registry: "sparse+http://127.0.0.1:8765/*", Action: policy.Allow},
		{N: 3, Purpose: "cargo-yank", Host: "127.0.0.1:*", Action: policy.Deny},
		{N: 4, Purpose: "cargo-owners", Exe: cargoProc.Exe, Action: policy.Allow},
		{N: 5, Purpose: "cargo-publish", Exe: pluginProc.Exe, Action: policy.Allow}, // the plugin is not who asks
	})
	read := get(t, cargo.OpRead, "", "", "")

	// Allowed by rule 2: nobody asked, cached for the session.
	wantToken(t, r.plugin(read), cargo.CacheSession)
	if p := r.takePrompts(); len(p) != 0 {
		t.Fatalf("asked for a read a rule allows: %q", p)
	}
	if ev := wantEvent(t, r.takeEvents(), audit.Allowed, "cargo-read", "registry "+indexURL); ev.By.Rule != "2" || ev.By.Grant != "" {
		t.Errorf("read record %+v, want rule 2", ev.By)
	}

	// Denied by rule 3, without asking, even with the token there.
	e := wantError(t, r.plugin(get(t, cargo.OpYank, "foo", "0.1.0", "")), cargo.Other, "vigil did not allow cargo to yank foo 0.1.0 at registry fake")
	if len(e.CausedBy) != 1 || !strings.Contains(e.CausedBy[0], "rule 3") {
		t.Errorf("caused by %q, want rule 3 named", e.CausedBy)
	}
	if p := r.takePrompts(); len(p) != 0 {
		t.Fatalf("asked for a yank a rule denies: %q", p)
	}
	if ev := wantEvent(t, r.takeEvents(), audit.Denied, "cargo-yank", "crate foo 0.1.0 at registry "+indexURL); ev.By.Rule != "3" {
		t.Errorf("yank record %+v, want rule 3", ev.By)
	}

	// Owners by cargo: rule 4 matches the program behind the plugin.
	wantToken(t, r.plugin(get(t, cargo.OpOwners, "foo", "", "")), cargo.CacheNever)
	if p := r.takePrompts(); len(p) != 0 {
		t.Fatalf("asked for owners a rule allows: %q", p)
	}
	r.takeEvents()

	// The same from another program: asked.
	r.set(func(r *rig) { r.who = chain(pluginProc, otherCargo, bashProc) })
	wantToken(t, r.plugin(get(t, cargo.OpOwners, "foo", "", "")), cargo.CacheNever)
	if p := r.takePrompts(); len(p) != 1 {
		t.Fatalf("%d prompts for owners by %s, want 1", len(p), otherCargo.Exe)
	}
	r.takeEvents()

	// Publish: rule 5 names the plugin, which is not the program asking,
	// and rule 1 names no credential purpose: asked.
	r.set(func(r *rig) { r.who = chain(pluginProc, cargoProc, bashProc) })
	wantToken(t, r.plugin(publish(t)), cargo.CacheNever)
	if p := r.takePrompts(); len(p) != 1 || p[0] != publishPrompt {
		t.Fatalf("publish prompts %q, want the publish prompt", p)
	}
}

func TestCargoReadGrant(t *testing.T) {
	r := newRig(t)
	if err := r.store.Put(indexURL, credential.UncheckedToken(secret)); err != nil {
		t.Fatal(err)
	}
	read := get(t, cargo.OpRead, "", "", "")

	// Denied: no grant.
	r.set(func(r *rig) { r.answer = false })
	wantError(t, r.plugin(read), cargo.Other, "vigil did not allow cargo to read registry fake (its index and downloads)")
	if len(r.takePrompts()) != 1 {
		t.Fatal("read not asked")
	}
	r.takeEvents()

	// Approved: a grant for this program and registry.
	r.set(func(r *rig) { r.answer = true })
	wantToken(t, r.plugin(read), cargo.CacheSession)
	p := r.takePrompts()
	if len(p) != 1 || !strings.Contains(p[0], "yes also lets this program read this registry for 10 minutes without asking again") ||
		!strings.Contains(p[0], "whoever has it can also publish with it") {
		t.Fatalf("read prompt %q", p)
	}
	ev := wantEvent(t, r.takeEvents(), audit.Allowed, "cargo-read", "registry "+indexURL)
	if ev.By.Grant == "" {
		t.Fatalf("approved read made no grant: %+v", ev)
	}
	grant := ev.By.Grant

	// Within the grant: no prompt, recorded under the grant.
	r.set(func(r *rig) { r.now = r.now.Add(9 * time.Minute) })
	wantToken(t, r.plugin(read), cargo.CacheSession)
	if p := r.takePrompts(); len(p) != 0 {
		t.Fatalf("read within the grant asked: %q", p)
	}
	if ev := wantEvent(t, r.takeEvents(), audit.Allowed, "cargo-read", "registry "+indexURL); ev.By.Grant != grant {
		t.Errorf("read under grant %q recorded as %+v", grant, ev.By)
	}

	// Not for mutations.
	wantToken(t, r.plugin(publish(t)), cargo.CacheNever)
	if len(r.takePrompts()) != 1 {
		t.Fatal("a read grant let a publish through")
	}
	r.takeEvents()

	// Not for another program (another executable claiming to be cargo).
	r.set(func(r *rig) { r.who = chain(pluginProc, otherCargo, bashProc) })
	wantToken(t, r.plugin(read), cargo.CacheSession)
	if p := r.takePrompts(); len(p) != 1 || !strings.Contains(p[0], "program:  /tmp/evil/cargo (pid 5000)") {
		t.Fatalf("another program's read: prompts %q", p)
	}
	r.takeEvents()

	// Not for another registry.
	r.set(func(r *rig) { r.who = chain(pluginProc, cargoProc, bashProc) })
	other := line(t, cargo.Request{Registry: cargo.Registry{IndexURL: "sparse+https://other.example/index/"}, Kind: cargo.KindGet, Operation: cargo.OpRead})
	if err := r.store.Put("sparse+https://other.example/index/", credential.UncheckedToken(secret)); err != nil {
		t.Fatal(err)
	}
	wantToken(t, r.plugin(other), cargo.CacheSession)
	if p := r.takePrompts(); len(p) != 1 || !strings.HasPrefix(p[0], "Allow cargo to read the registry at sparse+https://other.example/index/ (its index and downloads)?\n") {
		t.Fatalf("another registry's read: prompts %q", p)
	}
	r.takeEvents()

	// Expired.
	r.set(func(r *rig) { r.now = r.now.Add(time.Minute) })
	wantToken(t, r.plugin(read), cargo.CacheSession)
	if len(r.takePrompts()) != 1 {
		t.Fatal("read after the grant expired was not asked")
	}
	r.takeEvents()

	// Dropped (the agent locked).
	r.broker.RevokeGrants("all")
	wantToken(t, r.plugin(read), cargo.CacheSession)
	if len(r.takePrompts()) != 1 {
		t.Fatal(`read after RevokeGrants("all") was not asked`)
	}
}

// control sends one of the agent's extension messages (grants@vigil,
// cargo@vigil), as vigil grants does, and returns the reply after its
// success byte.
func (r *rig) control(name, contents string) ([]byte, error) {
	r.t.Helper()
	c, err := net.Dial("unix", r.sock)
	if err != nil {
		r.t.Fatal(err)
	}
	defer c.Close()
	reply, err := sshagent.NewClient(c).Extension(name, []byte(contents))
	if err != nil {
		return nil, err
	}
	return reply[1:], nil
}

// grants lists the live grants as vigil grants reads them.
func (r *rig) grants() []agent.ListedGrant {
	r.t.Helper()
	reply, err := r.control("grants@vigil", "")
	if err != nil {
		r.t.Fatal(err)
	}
	var gs []agent.ListedGrant
	if err := json.Unmarshal(reply, &gs); err != nil {
		r.t.Fatalf("grants@vigil answered %q: %v", reply, err)
	}
	return gs
}

// TestCargoReadGrantListed: a read grant is listed with the signing grants
// (what it covers, how often it was used), ends by name or with revoke
// all, and is dropped by a lock even with no OnLock hook.
func TestCargoReadGrantListed(t *testing.T) {
	r := newRig(t)
	if err := r.store.Put(indexURL, credential.UncheckedToken(secret)); err != nil {
		t.Fatal(err)
	}
	read := get(t, cargo.OpRead, "", "", "")
	grantRead := func() string {
		t.Helper()
		wantToken(t, r.plugin(read), cargo.CacheSession)
		if p := r.takePrompts(); len(p) != 1 {
			t.Fatalf("read with no grant: %d prompts", len(p))
		}
		return wantEvent(t, r.takeEvents(), audit.Allowed, "cargo-read", "registry "+indexURL).By.Grant
	}
	if gs := r.grants(); len(gs) != 0 {
		t.Fatalf("grants before any: %+v", gs)
	}
	name := grantRead()
	wantToken(t, r.plugin(read), cargo.CacheSession) // under the grant
	r.takeEvents()
	gs := r.grants()
	if len(gs) != 1 {
		t.Fatalf("grants@vigil lists %+v, want the read grant", gs)
	}
	g := gs[0]
	if g.Name != name || g.ID != 0 || g.Exe != cargoProc.Exe || g.Hash != cargoProc.Hash || g.Purpose != "cargo-read" ||
		g.Resource != "registry "+indexURL || g.Used != 1 || !g.Expires.Equal(r.now.Add(DefaultReadGrant)) {
		t.Errorf("read grant listed as %+v", g)
	}

	// By name: that grant ends, and the next read asks.
	if reply, err := r.control("revoke@vigil", name); err != nil || string(reply) != "1" {
		t.Fatalf("revoke %s: %q, %v", name, reply, err)
	}
	if ev := r.takeEvents(); len(ev) != 1 || ev[0].Kind != audit.KindGrantRevoked || !strings.Contains(ev[0].Detail, name) {
		t.Errorf("revoke recorded as %+v", ev)
	}
	if gs := r.grants(); len(gs) != 0 {
		t.Errorf("grants after revoking %s: %+v", name, gs)
	}
	if _, err := r.control("revoke@vigil", name); err == nil {
		t.Errorf("revoking %s twice succeeded", name)
	}
	r.takeEvents()

	// All, and a lock.
	for _, end := range []struct{ name, contents, reply string }{
		{"revoke@vigil", "all", "1"},
		{"lock@vigil", "", ""},
	} {
		if next := grantRead(); next == name || next == "" {
			t.Fatalf("a new read grant is called %q, after %q", next, name)
		}
		if reply, err := r.control(end.name, end.contents); err != nil || string(reply) != end.reply {
			t.Fatalf("%s %s: %q, %v", end.name, end.contents, reply, err)
		}
		if gs := r.grants(); len(gs) != 0 {
			t.Errorf("grants after %s %s: %+v", end.name, end.contents, gs)
		}
		r.takeEvents()
	}
}

// A client that is not vigil's plugin is named itself.
func TestCargoDirectClient(t *testing.T) {
	r := newRig(t)
	if err := r.store.Put(indexURL, credential.UncheckedToken(secret)); err != nil {
		t.Fatal(err)
	}
	r.set(func(r *rig) { r.who = chain(pythonProc, bashProc) })
	wantToken(t, r.plugin(publish(t)), cargo.CacheNever)
	p := r.takePrompts()
	if len(p) != 1 || !strings.HasPrefix(p[0], "Allow python3 to publish foo 0.2.0") ||
		!strings.Contains(p[0], "program:  /usr/bin/python3 (pid 6000)") || strings.Contains(p[0], "via:") {
		t.Fatalf("prompts %q", p)
	}
}

func TestCargoRefusals(t *testing.T) {
	r := newRig(t)
	if err := r.store.Put(indexURL, credential.UncheckedToken(secret)); err != nil {
		t.Fatal(err)
	}
	// Unknown kinds and operations.
	wantError(t, r.plugin(`{"v":1,"registry":{"index-url":"`+indexURL+`"},"kind":"frobnicate"}`), cargo.OperationNotSupported, "")
	wantError(t, r.plugin(`{"v":1,"registry":{"index-url":"`+indexURL+`"},"kind":"get","operation":"frobnicate"}`), cargo.OperationNotSupported, "")
	// Malformed.
	wantError(t, r.plugin(`{"v":2}`), cargo.Other, "")
	wantError(t, r.plugin(`{"v":1,"registry":{"index-url":"x"},"kind":"get","operation":"publish","name":"foo","vers":"1.0.0","cksum":"XYZ"}`), cargo.Other, "cksum")
	// A login with a token cargo would refuse.
	wantError(t, r.plugin(`{"v":1,"registry":{"index-url":"`+indexURL+`"},"kind":"login","token":"tok\u00e9"}`), cargo.Other, "printable ASCII")
	// A login without a token and no terminal.
	wantError(t, r.plugin(line(t, cargo.Request{Kind: cargo.KindLogin})), cargo.Other, "no token given")
	if p := r.takePrompts(); len(p) != 0 {
		t.Fatalf("asked: %q", p)
	}
	r.takeEvents()

	// Locked: every request that needs the store says so.
	r.broker.SetTokens(nil)
	for _, line := range []string{publish(t), login(t, secret), line(t, cargo.Request{Kind: cargo.KindLogout})} {
		wantError(t, r.plugin(line), cargo.Other, "key store is locked: registry tokens are kept only there, encrypted; run `vigil unlock`")
	}
	if p := r.takePrompts(); len(p) != 0 {
		t.Fatalf("asked while locked: %q", p)
	}
	for _, ev := range r.takeEvents() {
		if ev.Decision != audit.Failed {
			t.Errorf("locked request recorded as %+v", ev)
		}
	}
	r.broker.SetTokens(r.store)

	// A stored token cargo would refuse is not sent.
	if err := r.store.Put(indexURL, credential.UncheckedToken("two\nlines")); err != nil {
		t.Fatal(err)
	}
	wantError(t, r.plugin(publish(t)), cargo.Other, "run cargo login again")
	if err := r.store.Put(indexURL, credential.UncheckedToken(secret)); err != nil {
		t.Fatal(err)
	}

	// The audit log cannot record: nothing is released.
	r.takeEvents()
	r.set(func(r *rig) { r.auditErr = errors.New("disk full") })
	wantError(t, r.plugin(publish(t)), cargo.Other, "audit log could not record")
	wantError(t, r.plugin(login(t, "new-token")), cargo.Other, "audit log could not record")
	if tok, _ := r.store.Get(indexURL); tok.Reveal() != secret {
		t.Error("a login the audit log could not record replaced the token")
	}
}

// No token reaches the audit log, whatever the request.
func TestCargoAuditHoldsNoToken(t *testing.T) {
	r := newRig(t)
	r.plugin(login(t, secret))
	r.plugin(publish(t))
	r.plugin(get(t, cargo.OpRead, "", "", ""))
	r.set(func(r *rig) { r.answer = false })
	r.plugin(publish(t))
	r.plugin(line(t, cargo.Request{Kind: cargo.KindLogout}))
	evs := r.takeEvents()
	if len(evs) != 5 {
		t.Fatalf("%d records, want 5", len(evs))
	}
	b, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(secret)) {
		t.Fatalf("audit records hold the token: %s", b)
	}
	if s := fmt.Sprint(evs); strings.Contains(s, secret) {
		t.Fatalf("audit records print the token: %s", s)
	}
}

// Locked while the person decided: the yes releases nothing.
func TestCargoLockedWhileAsking(t *testing.T) {
	r := newRig(t)
	if err := r.store.Put(indexURL, credential.UncheckedToken(secret)); err != nil {
		t.Fatal(err)
	}
	r.set(func(r *rig) { r.onAsk = func() { r.broker.SetTokens(nil) } })
	wantError(t, r.plugin(publish(t)), cargo.Other, "key store is locked: registry tokens are kept only there, encrypted; run `vigil unlock`")
	if len(r.takePrompts()) != 1 {
		t.Fatal("not asked")
	}
	wantEvent(t, r.takeEvents(), audit.Failed, "cargo-publish", "crate foo 0.2.0 at registry "+indexURL)
}
