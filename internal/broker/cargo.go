// Package broker releases registry credentials from the agent, one decision
// at a time: cargo's credential-provider requests arrive as vigil's own agent
// extension message, and a token leaves the agent only after a person (or,
// for reads, a grant a person made) said yes to that very request.
//
// Two halves, one in each process:
//
//   - Cargo (this file) runs inside the agent, as the agent.Extension named
//     CargoExtension. It decodes cargo's request, decides, records the
//     outcome in the audit log, and answers with the response line cargo is
//     to read.
//   - RunCargoPlugin (plugin.go) is what `vigil --cargo-plugin` runs: it
//     holds nothing, speaks cargo's protocol on stdin and stdout, and
//     forwards the request to the running agent.
//
// # Wire format of cargo@vigil
//
// The extension's contents are the request line exactly as cargo wrote it
// (one JSON object, without its newline), or the same request re-encoded with
// the login token the plugin read from the terminal. The reply, after the
// SSH_AGENT_SUCCESS byte, is the response line for cargo, newline included:
// {"Ok":…} or {"Err":…}, so that every refusal reaches cargo in words.
// SSH_AGENT_FAILURE means the agent does not serve the extension (not vigil,
// or a forwarded connection, which never reaches it).
//
// # Decisions
//
//   - Every get first goes through the policy rules that name its purpose
//     (cargo-read, cargo-publish, cargo-yank, cargo-unyank, cargo-owners),
//     matched on the registry's index-url and its host and on the program
//     asking (cargo, past vigil's plugin): deny refuses without asking,
//     allow releases without asking, ask (or no rule) asks as below. No
//     rule that fails to name a credential purpose matches.
//   - get publish, yank, unyank, owners: asks, showing the operation,
//     crate, version, checksum, registry and the calling program with its
//     parents. A yes releases the token with cache "never" and
//     operation_independent false, so cargo asks again for the next one.
//   - get read: asks, and a yes makes a read grant: for ReadGrant, reads of
//     the same registry by the same program (executable path and content
//     hash) are allowed without asking, so a build is not a stream of
//     prompts. The prompt says so. Reads are answered with cache "session".
//     A plain token released for reading is good for publishing too; the
//     read prompt says that as well.
//   - login stores the token (checked by credential.ValidToken), logout
//     removes it; neither asks. A login token that is a k3.secret PASERK
//     is stored as the registry's PASETO key instead (paseto.go), and
//     logout removes that key too.
//   - Tokens are kept in vigil's encrypted key store (VaultStore), opened
//     for the agent's unlock window (UnlockVault, Lock). While it is locked,
//     every request that needs a token, login and logout included, fails
//     saying so and naming vigil unlock; nothing falls back to memory or a
//     file.
//   - A registry with no plain token but a PASETO key (paseto.go) is
//     answered with a v3.public token signed here, after the same decision,
//     bound to the operation, crate, version and checksum.
//   - Unknown kinds and operations: operation-not-supported. No token for
//     the index-url: not-found, without asking.
//
// Every release, refusal, login and logout is one audit record of kind
// credential. No token is ever logged, recorded or put in an error.
package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-agent/vigil/internal/agent"
	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/credential/cargo"
	"github.com/vigil-agent/vigil/internal/credential/paseto"
	"github.com/vigil-agent/vigil/internal/policy"
	"github.com/vigil-agent/vigil/internal/sanitize"
	"github.com/vigil-agent/vigil/internal/vault"
)

// CargoExtension is the name of vigil's cargo extension message.
const CargoExtension = "cargo@vigil"

// DefaultReadGrant is how long a yes to a read lets the same program read
// the same registry without asking again.
const DefaultReadGrant = 10 * time.Minute

// CargoConfig configures a Cargo broker.
type CargoConfig struct {
	// Tokens keeps the registry tokens. Nil means locked: every request
	// that needs a token fails with a message saying so. SetTokens
	// replaces it while serving; UnlockVault and Lock do so for the
	// agent's unlock window, which is how vigil serve uses it.
	Tokens TokenStore
	// ReadGrant: see DefaultReadGrant (the default for 0). Negative: a
	// read asks every time.
	ReadGrant time.Duration
	// IsPlugin reports whether a process is vigil's own cargo plugin, whose
	// parent (cargo) is then named as the program asking. Nil compares the
	// content hash with this executable's.
	IsPlugin func(caller.Process) bool
	// Now is the clock for grants. Nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Cargo serves CargoExtension. Its methods are safe for concurrent use.
type Cargo struct {
	cfg    CargoConfig
	log    *slog.Logger
	tokens atomic.Pointer[storeBox]

	mu     sync.Mutex
	grants map[grantKey]grant
	nextID int

	// vaultTokens is the handle UnlockVault opened, closed by Lock.
	vaultMu     sync.Mutex
	vaultTokens *vault.Tokens
}

type storeBox struct{ s TokenStore }

// grantKey is what a read grant is for: one registry, one program.
type grantKey struct {
	indexURL, exe, hash string
}

type grant struct {
	n             int // its number: the id is "cargo-read-" and n
	made, expires time.Time
	used          int
}

func (g grant) id() string { return fmt.Sprintf("cargo-read-%d", g.n) }

// NewCargo returns a Cargo broker.
func NewCargo(cfg CargoConfig) *Cargo {
	if cfg.ReadGrant == 0 {
		cfg.ReadGrant = DefaultReadGrant
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IsPlugin == nil {
		cfg.IsPlugin = isSelf
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cargo{cfg: cfg, log: log, grants: map[grantKey]grant{}}
	c.SetTokens(cfg.Tokens)
	return c
}

// SetTokens replaces the token store: a vault-backed one when the agent is
// unlocked, nil when it locks. Either way the read grants are dropped.
func (c *Cargo) SetTokens(s TokenStore) {
	c.tokens.Store(&storeBox{s: s})
	c.RevokeGrants("all")
}

func (c *Cargo) store() (TokenStore, error) {
	if s := c.tokens.Load().s; s != nil {
		return s, nil
	}
	return nil, ErrLocked
}

// decider is what an agent.ExtensionRequest offers a handler.
type decider interface {
	Decide(policy.Request) policy.Decision
	// CheckPin and Repin bind an allow rule that names a program to that
	// program's content, as for signatures (agent.ExtensionRequest).
	CheckPin(rule *policy.Rule, hash string) string
	Repin(rule *policy.Rule, hash string)
	Ask(ctx context.Context, text string) (bool, string)
	Record(audit.Event) (refuse bool)
}

// Serve answers one cargo@vigil message. It always answers with a response
// line for cargo; a refusal is an {"Err":…}, not an agent failure.
func (c *Cargo) Serve(ctx context.Context, req *agent.ExtensionRequest) ([]byte, error) {
	return c.serve(ctx, req.Caller, req.Contents, req), nil
}

// request is one request being decided, with what the audit record needs.
type request struct {
	*cargo.Request
	who   *caller.Info
	party party
	start time.Time
}

func (c *Cargo) serve(ctx context.Context, who *caller.Info, contents []byte, d decider) []byte {
	start := time.Now()
	if kr, ok := keyRequest(contents); ok {
		return c.serveKey(who, kr, d)
	}
	creq, err := cargo.DecodeRequest(contents)
	if err != nil {
		// The codec's errors never quote the line, which may hold a token.
		c.log.Warn("cargo request refused: malformed", "caller", who.Program().String(), "err", err)
		return cargo.EncodeError(cargo.FromError(err))
	}
	r := &request{Request: creq, who: who, party: partyOf(who, c.cfg.IsPlugin), start: start}
	switch {
	case r.Kind == cargo.KindLogin:
		return c.login(r, d)
	case r.Kind == cargo.KindLogout:
		return c.logout(r, d)
	case r.Kind == cargo.KindGet && r.Operation.Known():
		return c.get(ctx, r, d)
	}
	c.log.Info("cargo request not supported", "kind", sanitize.Line(string(r.Kind), 32),
		"operation", sanitize.Line(string(r.Operation), 32), "caller", who.Program().String())
	return cargo.EncodeError(&cargo.Error{Kind: cargo.OperationNotSupported})
}

func (c *Cargo) login(r *request, d decider) []byte {
	if r.Token.IsZero() {
		return c.fail(r, d, audit.Failed, "no token given", cargo.Errorf(
			"no token given: pass it on cargo login's stdin or command line, or run cargo login in a terminal"))
	}
	if err := credential.ValidToken(r.Token.Reveal()); err != nil {
		return c.fail(r, d, audit.Failed, err.Error(), cargo.FromError(err))
	}
	s, err := c.store()
	if err == nil && strings.HasPrefix(r.Token.Reveal(), paseto.PrefixSecret) {
		return c.loginKey(r, d, s)
	}
	var old credential.Token
	if err == nil {
		if old, err = s.Get(r.Registry.IndexURL); errors.Is(err, ErrNoToken) {
			err = nil
		}
	}
	if err == nil {
		err = s.Put(r.Registry.IndexURL, r.Token)
	}
	if err != nil {
		return c.fail(r, d, audit.Failed, err.Error(), storeError("could not store the token", "cargo login again (no key store yet? `vigil key generate` creates it)", err))
	}
	if c.record(r, d, audit.Allowed, audit.By{}, "token stored") {
		// Stored, but the log cannot say so: put back what was there.
		if old.IsZero() {
			err = s.Remove(r.Registry.IndexURL)
		} else {
			err = s.Put(r.Registry.IndexURL, old)
		}
		if err != nil {
			c.log.Error("cargo login: could not undo a login the audit log did not record", "err", err)
		}
		return cargo.EncodeError(errAudit)
	}
	c.log.Info("cargo token stored", "registry", sanitize.Line(r.Registry.IndexURL, 200), "caller", r.party.self.String())
	return mustEncode(&cargo.Response{Kind: cargo.KindLogin})
}

func (c *Cargo) logout(r *request, d decider) []byte {
	s, err := c.store()
	if err == nil {
		err = s.Remove(r.Registry.IndexURL)
		// The registry's PASETO key goes too, as cargo:paseto's logout
		// forgets its key.
		if ks, ok := s.(PasetoKeyStore); ok && (err == nil || errors.Is(err, ErrNoToken)) {
			if kerr := ks.RemoveKey(r.Registry.IndexURL); !errors.Is(kerr, ErrNoToken) {
				err = kerr
			}
		}
	}
	switch {
	case errors.Is(err, ErrNoToken):
		c.record(r, d, audit.Failed, audit.By{}, "no token stored for this registry")
		return cargo.EncodeError(&cargo.Error{Kind: cargo.NotFound})
	case err != nil:
		return c.fail(r, d, audit.Failed, err.Error(), storeError("could not remove the token", "cargo logout again", err))
	}
	c.log.Info("cargo token removed", "registry", sanitize.Line(r.Registry.IndexURL, 200), "caller", r.party.self.String())
	c.record(r, d, audit.Allowed, audit.By{}, "token removed")
	return mustEncode(&cargo.Response{Kind: cargo.KindLogout})
}

func (c *Cargo) get(ctx context.Context, r *request, d decider) []byte {
	// A deny rule refuses even where vigil holds nothing: cargo must not
	// go on to another provider for a registry the user closed.
	pd := d.Decide(r.policyRequest())
	var by audit.By
	if pd.Rule != nil {
		by.Rule = fmt.Sprint(pd.Rule.N)
	}
	if pd.Action == policy.Deny {
		c.log.Info("cargo request refused", "operation", string(r.Operation), "resource", resource(r.Request),
			"caller", r.party.self.String(), "why", pd.Rule.String())
		c.record(r, d, audit.Denied, by, pd.Rule.String())
		return cargo.EncodeError(&cargo.Error{Kind: cargo.Other,
			Message:  "vigil did not allow " + r.party.name() + " to " + phrase(r.Request),
			CausedBy: []string{fmt.Sprintf("rule %d of vigil's configuration denies it", pd.Rule.N)}})
	}
	// Nothing to release means nothing to ask.
	if _, fail := c.fetch(r, d); fail != nil {
		return fail
	}
	why := "approved"
	// An allow rule that names the program holds only while it is the
	// program the rule first allowed: if cargo was replaced, ask.
	var note string
	if pd.Action == policy.Allow {
		note = d.CheckPin(pd.Rule, r.party.self.Hash)
	}
	// A read a rule or grant allows is routine, and logged at debug level.
	level := slog.LevelInfo
	if pd.Action == policy.Allow && note == "" {
		why = pd.Rule.String()
		if r.Operation == cargo.OpRead {
			level = slog.LevelDebug
		}
	} else if g, ok := c.readGrant(r); ok && note == "" {
		by.Grant, why, level = g, "read grant "+g, slog.LevelDebug
	} else {
		ok, reason := d.Ask(ctx, c.promptText(r, note))
		if !ok {
			return c.fail(r, d, audit.Denied, reason, &cargo.Error{Kind: cargo.Other,
				Message:  "vigil did not allow " + r.party.name() + " to " + phrase(r.Request),
				CausedBy: []string{reason}})
		}
		// The person said yes, but to this client only.
		if ctx.Err() != nil {
			return c.fail(r, d, audit.Cancelled, "client hung up before the token was released",
				cargo.Errorf("cancelled"))
		}
		if note != "" {
			d.Repin(pd.Rule, r.party.self.Hash)
			why = "approved, the program changed since " + pd.Rule.String()
		}
		if r.Operation == cargo.OpRead {
			if g := c.makeReadGrant(r); g != "" {
				by.Grant, why = g, "approved; read grant "+g+" made for "+humanDuration(c.cfg.ReadGrant)
			}
		}
	}
	// Read again: the agent may have locked, or the token been removed,
	// while the person was deciding.
	sec, fail := c.fetch(r, d)
	if fail != nil {
		return fail
	}
	var resp *cargo.Response
	if sec.key != nil {
		// An asymmetric token, bound to this very request.
		var signed string
		var err error
		if resp, signed, err = c.pasetoResponse(sec, r); err != nil {
			return c.fail(r, d, audit.Failed, err.Error(), cargo.Errorf("vigil could not sign the token: %v", err))
		}
		why += "; " + signed
	} else {
		resp = &cargo.Response{Kind: cargo.KindGet, Token: sec.tok, Cache: cargo.CacheNever}
		if r.Operation == cargo.OpRead {
			resp.Cache = cargo.CacheSession
		}
	}
	line, err := cargo.EncodeResponse(resp)
	if err != nil {
		return c.fail(r, d, audit.Failed, err.Error(), cargo.FromError(err))
	}
	if c.record(r, d, audit.Allowed, by, why) {
		return cargo.EncodeError(errAudit)
	}
	c.log.Log(context.Background(), level, "cargo token released", "operation", string(r.Operation),
		"resource", resource(r.Request), "caller", r.party.self.String(), "why", why)
	return line
}

// policyRequest is what the rules can match a get on: its purpose, the
// registry's index-url and host, and the program asking, unless it is not
// the program at its path (deleted, or in another mount namespace).
func (r *request) policyRequest() policy.Request {
	req := policy.Request{Purpose: purpose(r.Request), Registry: r.Registry.IndexURL, Host: registryHost(r.Registry.IndexURL)}
	if p := r.party.self; !p.Deleted && !r.who.OtherMountNS {
		req.Exe = p.Exe
	}
	return req
}

// registryHost is the host (and port) of an index-url, past cargo's
// "sparse+" or "registry+" prefix; "" when it has none.
func registryHost(indexURL string) string {
	s, ok := strings.CutPrefix(indexURL, "sparse+")
	if !ok {
		s = strings.TrimPrefix(indexURL, "registry+")
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Host
}

// released is what a get releases: a plain token, or a key that signs an
// asymmetric token for the request.
type released struct {
	tok     credential.Token
	key     *ecdsa.PrivateKey
	subject string // the key's, for the sub claim
}

// fetch returns the token stored for r's registry, else its PASETO key, or
// the response line (recorded) saying why there is none to give.
func (c *Cargo) fetch(r *request, d decider) (released, []byte) {
	s, err := c.store()
	var tok credential.Token
	if err == nil {
		tok, err = s.Get(r.Registry.IndexURL)
	}
	if errors.Is(err, ErrNoToken) {
		sec, fail := c.fetchKey(s, r, d)
		if fail != nil || sec.key != nil {
			return sec, fail
		}
	}
	switch {
	case errors.Is(err, ErrNoToken):
		// Cargo says "no token found" and suggests cargo login.
		c.record(r, d, audit.Failed, audit.By{}, "no token stored for this registry")
		return released{}, cargo.EncodeError(&cargo.Error{Kind: cargo.NotFound})
	case err != nil:
		return released{}, c.fail(r, d, audit.Failed, err.Error(), storeError("could not read the token", "try again", err))
	}
	if err := credential.ValidToken(tok.Reveal()); err != nil {
		return released{}, c.fail(r, d, audit.Failed, "stored token: "+err.Error(),
			cargo.Errorf("the token vigil holds for this registry cannot be sent: %v; run cargo login again", err))
	}
	return released{tok: tok}, nil
}

var errAudit = cargo.Errorf("vigil's audit log could not record this request, and vigil is set to refuse what it cannot record (on_audit_failure = \"refuse\")")

// fail records a refusal and returns its response line.
func (c *Cargo) fail(r *request, d decider, dec audit.Decision, why string, e *cargo.Error) []byte {
	c.log.Info("cargo request refused", "kind", string(r.Kind), "operation", string(r.Operation),
		"resource", resource(r.Request), "caller", r.party.self.String(), "why", why)
	c.record(r, d, dec, audit.By{}, why)
	return cargo.EncodeError(e)
}

// storeError words a store failure for cargo. When the key store is locked,
// it says so and what to run; again is what to do after unlocking.
func storeError(what, again string, err error) *cargo.Error {
	if errors.Is(err, ErrLocked) {
		e := &cargo.Error{Kind: cargo.Other, Message: "vigil's key store is locked: registry tokens are kept only there, encrypted; " +
			"run `vigil unlock`, then " + again}
		if err != ErrLocked {
			e.CausedBy = []string{err.Error()}
		}
		return e
	}
	return &cargo.Error{Kind: cargo.Other, Message: "vigil " + what, CausedBy: []string{err.Error()}}
}

func mustEncode(r *cargo.Response) []byte {
	b, err := cargo.EncodeResponse(r)
	if err != nil {
		panic("broker: " + err.Error()) // login and logout responses always encode
	}
	return b
}

// record writes the request's audit record.
func (c *Cargo) record(r *request, d decider, dec audit.Decision, by audit.By, why string) (refuse bool) {
	ev := audit.Event{
		Kind:     audit.KindCredential,
		Decision: dec,
		Caller:   callerFacts(r.who),
		Intent:   audit.Intent{Purpose: purpose(r.Request), Resource: resource(r.Request)},
		Origin:   audit.Local,
		By:       by,
		Latency:  time.Since(r.start),
		Detail:   why,
	}
	if r.Kind == cargo.KindGet && r.Operation == cargo.OpPublish {
		ev.DataSHA256 = r.Cksum
	}
	return d.Record(ev)
}

// purpose names the request for the audit log: cargo-read, cargo-publish,
// cargo-login and so on.
func purpose(r *cargo.Request) string {
	if r.Kind == cargo.KindGet {
		return "cargo-" + string(r.Operation)
	}
	return "cargo-" + string(r.Kind)
}

// resource says what the request is about: the crate, and the registry by
// its index-url.
func resource(r *cargo.Request) string {
	var b strings.Builder
	if r.Name != "" {
		b.WriteString("crate " + r.Name)
		if r.Vers != "" {
			b.WriteString(" " + r.Vers)
		}
		b.WriteString(" at ")
	}
	b.WriteString("registry " + r.Registry.IndexURL)
	return b.String()
}

// callerFacts describes the socket's peer and its parents for the record.
func callerFacts(who *caller.Info) audit.Caller {
	p := who.Program()
	c := audit.Caller{Process: audit.Process{PID: who.PID, Exe: p.Exe, SHA256: p.Hash}}
	if l := who.Lineage(); len(l) > 1 {
		for _, q := range l[1:] {
			c.Chain = append(c.Chain, audit.Process{PID: q.PID, Exe: q.Exe, SHA256: q.Hash})
		}
	}
	return c
}

// readGrant returns the id of a live read grant covering r.
func (c *Cargo) readGrant(r *request) (string, bool) {
	k, ok := c.grantKey(r)
	if !ok {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.grants[k]
	if !ok {
		return "", false
	}
	if !c.cfg.Now().Before(g.expires) {
		delete(c.grants, k)
		return "", false
	}
	g.used++
	c.grants[k] = g
	return g.id(), true
}

// makeReadGrant records a person's yes to a read, and returns the grant's
// id, or "" when none can be made (grants off, or a program that cannot be
// told from another).
func (c *Cargo) makeReadGrant(r *request) string {
	k, ok := c.grantKey(r)
	if !ok {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	for k, g := range c.grants {
		if !now.Before(g.expires) {
			delete(c.grants, k)
		}
	}
	c.nextID++
	g := grant{n: c.nextID, made: now, expires: now.Add(c.cfg.ReadGrant)}
	c.grants[k] = g
	return g.id()
}

// ListGrants lists the live read grants, oldest first, for the agent's
// grants@vigil (agent.GrantKeeper): the program and the registry each
// covers.
func (c *Cargo) ListGrants() []agent.ListedGrant {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	var live []grantKey
	for k, g := range c.grants {
		if now.Before(g.expires) {
			live = append(live, k)
		}
	}
	slices.SortFunc(live, func(a, b grantKey) int { return c.grants[a].n - c.grants[b].n })
	out := make([]agent.ListedGrant, len(live))
	for i, k := range live {
		g := c.grants[k]
		out[i] = agent.ListedGrant{
			Grant: policy.Grant{Scope: policy.Scope{Exe: k.exe, Hash: k.hash, Purpose: policy.PurposeCargoRead},
				Created: g.made, Expires: g.expires, Used: g.used},
			Name: g.id(), Resource: "registry " + k.indexURL,
		}
	}
	return out
}

// Cargo's read grants are listed and revoked with the agent's.
var _ agent.GrantKeeper = (*Cargo)(nil)

// RevokeGrants ends the read grant called name, or every one for "all"
// (agent.GrantKeeper; the agent calls it on every lock), and says how many
// live ones it ended.
func (c *Cargo) RevokeGrants(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	n := 0
	for k, g := range c.grants {
		if name == "all" || g.id() == name {
			delete(c.grants, k)
			if now.Before(g.expires) {
				n++
			}
		}
	}
	return n
}

// grantKey says which grant a read falls under; false when grants are off or
// the program is not identified well enough to be recognised next time.
func (c *Cargo) grantKey(r *request) (grantKey, bool) {
	p := r.party.self
	if r.Operation != cargo.OpRead || c.cfg.ReadGrant < 0 || p.Exe == "" || p.Hash == "" || p.Deleted || r.who.OtherMountNS {
		return grantKey{}, false
	}
	return grantKey{indexURL: r.Registry.IndexURL, exe: p.Exe, hash: p.Hash}, true
}

// selfHash is the hex SHA-256 of this process's executable, or "" if it
// cannot be read.
var selfHash = sync.OnceValue(func() string {
	path := "/proc/self/exe"
	if runtime.GOOS != "linux" {
		p, err := os.Executable()
		if err != nil {
			return ""
		}
		path = p
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
})

// isSelf reports whether p runs the same executable content as this process:
// vigil, run by cargo as its credential provider.
func isSelf(p caller.Process) bool {
	h := selfHash()
	return h != "" && p.Hash == h
}
