package broker

// The git half of the broker: `vigil git-credential get|store|erase`, run by
// git as its credential.helper, forwards git's request to the agent as the
// extension GitExtension, and the agent decides, as it does for cargo.
//
// # Wire format of git-credential@vigil
//
// The contents are the operation ("get", "store" or "erase"), a newline, then
// the credential in git's own key=value lines (package credential/git),
// holding only protocol, host, path, username and password. The reply, after
// SSH_AGENT_SUCCESS, is "ok\n" followed (for a released get) by the
// username and password lines for git, or "error " and one line of words
// for the person, which the helper prints on its stderr while git gets
// nothing.
//
// # Decisions
//
//   - get first goes through the policy rules with purpose git-credential,
//     matched on the host git names and the program asking: deny refuses
//     without asking, allow releases without asking, ask (or no rule) asks.
//   - get: nothing stored for protocol://host[/path] (or stored for another
//     user than the one git names): nothing, without asking. Else the agent
//     asks, showing the URL, host, path, protocol, user and the calling
//     program with its parents, and releases the username and password only
//     on a yes.
//   - store saves (password required; no newline or NUL anywhere), erase
//     removes; neither asks.
//   - While the key store is locked, every operation fails saying so and
//     naming vigil unlock.
//
// Every release, refusal, store and erase is one audit record of kind
// credential. No password is ever logged, recorded or put in an error.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/vigil-agent/vigil/internal/agent"
	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/credential"
	gitcred "github.com/vigil-agent/vigil/internal/credential/git"
	"github.com/vigil-agent/vigil/internal/policy"
	"github.com/vigil-agent/vigil/internal/sanitize"

	sshagent "golang.org/x/crypto/ssh/agent"
)

// GitExtension is the name of vigil's git credential extension message.
const GitExtension = "git-credential@vigil"

// GitLabelPrefix is how git credentials are labelled in the vault: the
// prefix, then protocol://host[/path].
const GitLabelPrefix = "git:"

// GitConfig configures a Git broker.
type GitConfig struct {
	// Store returns the labelled secrets store, or nil while it is locked.
	// Labels are used as given (GitLabelPrefix included). Cargo.Labels
	// is the one vigil serve uses: the vault opened for the unlock window.
	Store func() TokenStore
	// IsHelper reports whether a process is vigil's own git credential
	// helper, whose parent (git) is then named as the program asking. Nil
	// compares the content hash with this executable's.
	IsHelper func(caller.Process) bool
	Log      *slog.Logger
}

// Git serves GitExtension. Its methods are safe for concurrent use.
type Git struct {
	cfg GitConfig
	log *slog.Logger
}

// NewGit returns a Git broker.
func NewGit(cfg GitConfig) *Git {
	if cfg.IsHelper == nil {
		cfg.IsHelper = isSelf
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Git{cfg: cfg, log: log}
}

// Labels returns the vault handle UnlockVault opened as a TokenStore keyed by
// the full label, or nil while locked. It is what a Git broker reads, so that
// one unlock opens the tokens for both.
func (c *Cargo) Labels() TokenStore {
	c.vaultMu.Lock()
	defer c.vaultMu.Unlock()
	if c.vaultTokens == nil {
		return nil
	}
	return labelStore{c.vaultTokens}
}

// labelStore is the vault's tokens under their full labels.
type labelStore struct {
	t interface {
		Get(string) (credential.Token, error)
		Put(string, credential.Token) error
		Remove(string) error
	}
}

func (s labelStore) Get(l string) (credential.Token, error) {
	tok, err := s.t.Get(l)
	return tok, vaultErr(err)
}
func (s labelStore) Put(l string, tok credential.Token) error { return vaultErr(s.t.Put(l, tok)) }
func (s labelStore) Remove(l string) error                    { return vaultErr(s.t.Remove(l)) }

// gitRequest is one request being decided.
type gitRequest struct {
	op    gitcred.Operation
	cred  *gitcred.Credential
	who   *caller.Info
	party party
	// runners ran the helper for the program asking, nearest first: the
	// shell git runs a helper command through, and for credential.helper
	// = vigil, the "git credential-vigil" between that shell and vigil.
	runners []caller.Process
	start   time.Time
}

// url is protocol://host[/path], the credential's key without the prefix.
func (r *gitRequest) url() string {
	u := r.cred.Protocol + "://" + r.cred.Host
	if r.cred.Path != "" {
		u += "/" + r.cred.Path
	}
	return u
}

// Serve answers one git-credential@vigil message. A refusal is an "error"
// reply, not an agent failure.
func (g *Git) Serve(ctx context.Context, req *agent.ExtensionRequest) ([]byte, error) {
	return g.serve(ctx, req.Caller, req.Contents, req), nil
}

func (g *Git) serve(ctx context.Context, who *caller.Info, contents []byte, d decider) []byte {
	start := time.Now()
	opName, body, _ := bytes.Cut(contents, []byte("\n"))
	op, ok := gitcred.ParseOperation(string(opName))
	if !ok {
		return gitError("unknown git credential operation")
	}
	cred, err := gitcred.DecodeBytes(body)
	if err != nil {
		// The codec's errors never quote a value.
		return gitError("malformed request: " + err.Error())
	}
	if cred.Protocol == "" || cred.Host == "" {
		return gitError("git sent no protocol or host")
	}
	pty, runners := gitParty(who, g.cfg.IsHelper)
	r := &gitRequest{op: op, cred: cred, who: who, party: pty, runners: runners, start: start}
	switch op {
	case gitcred.Store:
		return g.store(r, d)
	case gitcred.Erase:
		return g.erase(r, d)
	}
	return g.get(ctx, r, d)
}

func gitError(msg string) []byte { return []byte("error " + sanitize.Line(msg, 500) + "\n") }

var gitOK = []byte("ok\n")

func (g *Git) label(r *gitRequest) string { return GitLabelPrefix + r.url() }

func (g *Git) open() (TokenStore, error) {
	if g.cfg.Store != nil {
		if s := g.cfg.Store(); s != nil {
			return s, nil
		}
	}
	return nil, ErrLocked
}

// validGitValue: what git could not read back (newline, NUL).
func validGitValue(s string) bool { return !strings.ContainsAny(s, "\n\x00") }

// packCred and unpackCred keep username and password as one stored secret:
// the username, a newline, the password (neither may hold a newline).
func packCred(user string, pass credential.Token) credential.Token {
	return credential.UncheckedToken(user + "\n" + pass.Reveal())
}

func unpackCred(tok credential.Token) (string, credential.Token, bool) {
	user, pass, ok := strings.Cut(tok.Reveal(), "\n")
	if !ok || pass == "" || !validGitValue(pass) {
		return "", credential.Token{}, false
	}
	return user, credential.UncheckedToken(pass), true
}

func (g *Git) store(r *gitRequest, d decider) []byte {
	c := r.cred
	switch {
	case c.Password.IsZero():
		return g.fail(r, d, audit.Failed, "no password given", "nothing stored: git gave no password")
	case !validGitValue(c.Password.Reveal()) || !validGitValue(c.Username):
		return g.fail(r, d, audit.Failed, "newline or NUL in the credential", "nothing stored: the credential holds a newline or NUL")
	}
	s, err := g.open()
	var old credential.Token
	if err == nil {
		if old, err = s.Get(g.label(r)); errors.Is(err, ErrNoToken) {
			err = nil
		}
	}
	if err == nil {
		err = s.Put(g.label(r), packCred(c.Username, c.Password))
	}
	if err != nil {
		return g.fail(r, d, audit.Failed, err.Error(), gitStoreError("could not store the credential", err))
	}
	if g.record(r, d, audit.Allowed, audit.By{}, "credential stored") {
		if old.IsZero() {
			err = s.Remove(g.label(r))
		} else {
			err = s.Put(g.label(r), old)
		}
		if err != nil {
			g.log.Error("git credential: could not undo a store the audit log did not record", "err", err)
		}
		return gitError(auditRefusal)
	}
	g.log.Info("git credential stored", "url", sanitize.Line(r.url(), 200), "caller", r.party.self.String())
	return gitOK
}

func (g *Git) erase(r *gitRequest, d decider) []byte {
	s, err := g.open()
	if err == nil {
		// Erase only what git names: another user's credential stays.
		var tok credential.Token
		if tok, err = s.Get(g.label(r)); err == nil {
			if user, _, ok := unpackCred(tok); ok && r.cred.Username != "" && user != r.cred.Username {
				err = ErrNoToken
			} else {
				err = s.Remove(g.label(r))
			}
		}
	}
	switch {
	case errors.Is(err, ErrNoToken):
		g.record(r, d, audit.Failed, audit.By{}, "no credential stored for this URL")
		return gitOK
	case err != nil:
		return g.fail(r, d, audit.Failed, err.Error(), gitStoreError("could not remove the credential", err))
	}
	g.log.Info("git credential removed", "url", sanitize.Line(r.url(), 200), "caller", r.party.self.String())
	g.record(r, d, audit.Allowed, audit.By{}, "credential removed")
	return gitOK
}

func (g *Git) get(ctx context.Context, r *gitRequest, d decider) []byte {
	pd := d.Decide(g.policyRequest(r))
	var by audit.By
	why := "approved"
	if pd.Rule != nil {
		by.Rule, why = fmt.Sprint(pd.Rule.N), pd.Rule.String()
	}
	if pd.Action == policy.Deny {
		g.log.Info("git credential request refused", "operation", string(r.op), "url", sanitize.Line(r.url(), 200),
			"caller", r.party.self.String(), "why", why)
		g.record(r, d, audit.Denied, by, why)
		return gitError(fmt.Sprintf("vigil did not allow %s to use the credential for %s: rule %d of vigil's configuration denies it",
			g.name(r), r.url(), pd.Rule.N))
	}
	user, _, fail := g.fetch(r, d)
	if fail != nil {
		return fail
	}
	// An allow rule that names the program holds only while it is the
	// program the rule first allowed.
	var note string
	if pd.Action == policy.Allow {
		note = d.CheckPin(pd.Rule, r.party.self.Hash)
	}
	if pd.Action != policy.Allow || note != "" {
		ok, reason := d.Ask(ctx, g.promptText(r, user, note))
		if !ok {
			return g.fail(r, d, audit.Denied, reason, "vigil did not allow "+g.name(r)+" to use the credential for "+r.url()+": "+reason)
		}
		if ctx.Err() != nil {
			return g.fail(r, d, audit.Cancelled, "client hung up before the credential was released", "cancelled")
		}
		if note != "" {
			d.Repin(pd.Rule, r.party.self.Hash)
			why = "approved, the program changed since " + pd.Rule.String()
		}
	}
	// Read again: the agent may have locked while the person decided.
	user, pass, fail := g.fetch(r, d)
	if fail != nil {
		return fail
	}
	out, err := gitcred.EncodeBytes(&gitcred.Credential{Username: user, Password: pass})
	if err != nil {
		return g.fail(r, d, audit.Failed, err.Error(), "the stored credential cannot be sent to git")
	}
	if g.record(r, d, audit.Allowed, by, why) {
		return gitError(auditRefusal)
	}
	g.log.Info("git credential released", "url", sanitize.Line(r.url(), 200), "caller", r.party.self.String(), "why", why)
	return append(slices.Clone(gitOK), out...)
}

// policyRequest is what the rules can match a get on: purpose
// git-credential, the host git names, and the program asking (for git over
// HTTP, git-remote-http), unless it is not the program at its path.
func (g *Git) policyRequest(r *gitRequest) policy.Request {
	req := policy.Request{Purpose: policy.PurposeGitCredential, Host: r.cred.Host}
	if p := r.party.self; !p.Deleted && !r.who.OtherMountNS {
		req.Exe = p.Exe
	}
	return req
}

// fetch returns the stored credential for r, or the reply (recorded) saying
// why there is none.
func (g *Git) fetch(r *gitRequest, d decider) (string, credential.Token, []byte) {
	s, err := g.open()
	var tok credential.Token
	if err == nil {
		tok, err = s.Get(g.label(r))
	}
	switch {
	case errors.Is(err, ErrNoToken):
		g.record(r, d, audit.Failed, audit.By{}, "no credential stored for this URL")
		return "", tok, gitOK // git then tries its other helpers, or asks
	case err != nil:
		return "", tok, g.fail(r, d, audit.Failed, err.Error(), gitStoreError("could not read the credential", err))
	}
	user, pass, ok := unpackCred(tok)
	if !ok {
		return "", tok, g.fail(r, d, audit.Failed, "stored credential malformed", "the credential vigil holds for "+r.url()+" is malformed; store it again")
	}
	if r.cred.Username != "" && r.cred.Username != user {
		g.record(r, d, audit.Failed, audit.By{}, "credential stored for another user")
		return "", tok, gitOK
	}
	return user, pass, nil
}

const auditRefusal = "vigil's audit log could not record this request, and vigil is set to refuse what it cannot record (on_audit_failure = \"refuse\")"

func gitStoreError(what string, err error) string {
	if errors.Is(err, ErrLocked) {
		return "vigil's key store is locked: git credentials are kept only there, encrypted; run `vigil unlock`, then try again"
	}
	return "vigil " + what + ": " + err.Error()
}

// fail logs and records a refusal and returns its reply.
func (g *Git) fail(r *gitRequest, d decider, dec audit.Decision, why, msg string) []byte {
	g.log.Info("git credential request refused", "operation", string(r.op), "url", sanitize.Line(r.url(), 200),
		"caller", r.party.self.String(), "why", why)
	g.record(r, d, dec, audit.By{}, why)
	return gitError(msg)
}

// record writes the request's audit record. The URL and user go in as git
// gave them (the log bounds their length): vigil audit escapes them when it
// shows them, so escaping them here too would show a person every
// backslash doubled.
func (g *Git) record(r *gitRequest, d decider, dec audit.Decision, by audit.By, why string) (refuse bool) {
	res := "git " + r.url()
	if r.cred.Username != "" {
		res += " user " + r.cred.Username
	}
	return d.Record(audit.Event{
		Kind:     audit.KindCredential,
		Decision: dec,
		Caller:   callerFacts(r.who),
		Intent:   audit.Intent{Purpose: "git-" + string(r.op), Resource: res},
		Origin:   audit.Local,
		By:       by,
		Latency:  time.Since(r.start),
		Detail:   why,
	})
}

// gitParty is partyOf, past what git runs a helper through: the shell of
// "sh -c 'vigil git-credential get'", and for credential.helper = vigil,
// the "git credential-vigil get" that shell runs, which runs vigil as
// git-credential-vigil. The program asking is what ran the shell; the
// runners are named on the via line.
func gitParty(who *caller.Info, isHelper func(caller.Process) bool) (party, []caller.Process) {
	p := partyOf(who, isHelper)
	if p.via == nil {
		return p, nil
	}
	var runners []caller.Process
	skip := func() {
		runners = append(runners, p.self)
		p.self, p.parents = p.parents[0], p.parents[1:]
	}
	if p.self.Name() == "git" && len(p.parents) >= 2 && isShell(p.parents[0]) {
		skip()
	}
	if isShell(p.self) && len(p.parents) > 0 {
		skip()
	}
	return p, runners
}

func isShell(p caller.Process) bool {
	switch p.Name() {
	case "sh", "dash", "bash":
		return true
	}
	return false
}

// name is the program a person knows as asking: git, when the helper's
// caller is one of git's own programs (git-remote-http) run by git.
func (g *Git) name(r *gitRequest) string {
	p := r.party
	if strings.HasPrefix(p.self.Name(), "git-") && len(p.parents) > 0 && p.parents[0].Name() == "git" {
		return "git"
	}
	return p.name()
}

// promptText is what the person reads before a credential is released.
// note, if not "", is why a rule that would have allowed it did not.
func (g *Git) promptText(r *gitRequest, user, note string) string {
	var b strings.Builder
	p := r.party
	url := sanitize.Line(r.url(), 200)
	fmt.Fprintf(&b, "Allow %s to use your credential for %s (user %s)?\n", g.name(r), url, sanitize.Line(user, 64))
	fmt.Fprintf(&b, "  host:     %s\n", sanitize.Line(r.cred.Host, 200))
	if r.cred.Path != "" {
		fmt.Fprintf(&b, "  path:     %s\n", sanitize.Line(r.cred.Path, 200))
	}
	fmt.Fprintf(&b, "  protocol: %s\n", sanitize.Line(r.cred.Protocol, 32))
	fmt.Fprintf(&b, "  user:     %s\n", sanitize.Line(user, 64))
	fmt.Fprintf(&b, "  program:  %s\n", p.self.String())
	if len(p.parents) > 0 {
		parents := make([]string, len(p.parents))
		for i, q := range p.parents {
			parents[i] = q.String()
		}
		fmt.Fprintf(&b, "  parents:  %s\n", strings.Join(parents, " ← "))
	}
	if p.via != nil {
		via := p.via.String() + ", vigil's git credential helper"
		if len(r.runners) > 0 {
			names := make([]string, len(r.runners))
			for i, q := range r.runners {
				names[i] = q.String()
			}
			via += ", run by " + strings.Join(names, " ← ")
		}
		fmt.Fprintf(&b, "  via:      %s\n", via)
	}
	if r.who.OtherMountNS || r.who.OtherPIDNS {
		b.WriteString("  NOTE:     the caller runs in another namespace (a container?)\n")
	}
	if note != "" {
		fmt.Fprintf(&b, "  NOTE:     %s\n", note)
	}
	return b.String()
}

// GitHelperConfig is what RunGitCredential needs.
type GitHelperConfig struct {
	// Sockets are the agent sockets to try, in order; the first that
	// serves GitExtension is used.
	Sockets []string
	Stdin   io.Reader
	Stdout  io.Writer
}

// RunGitCredential is one run of vigil as git's credential helper for the
// operation op. It holds nothing: it forwards git's request to the agent
// and writes the agent's answer (for get) to Stdout. Unknown operations are
// ignored, as git asks. The error, worded for the person, says why git got
// nothing; Stdout then has nothing on it.
func RunGitCredential(ctx context.Context, cfg GitHelperConfig, op string) error {
	o, ok := gitcred.ParseOperation(op)
	if !ok {
		return nil
	}
	in, err := gitcred.Decode(bufio.NewReader(cfg.Stdin))
	if err != nil {
		return fmt.Errorf("reading git's request: %w", err)
	}
	fwd := &gitcred.Credential{Protocol: in.Protocol, Host: in.Host, Path: in.Path, Username: in.Username, Password: in.Password}
	body, err := gitcred.EncodeBytes(fwd)
	if err != nil {
		return fmt.Errorf("git's request: %w", err)
	}
	client, sock, err := dialExtension(ctx, cfg.Sockets, GitExtension)
	if err != nil {
		return err
	}
	defer client.close()
	reply, err := client.Extension(GitExtension, append([]byte(string(o)+"\n"), body...))
	if err != nil {
		return fmt.Errorf("the vigil agent at %s did not answer: %w", sock, err)
	}
	status, rest, _ := bytes.Cut(reply[1:], []byte("\n"))
	switch {
	case bytes.HasPrefix(status, []byte("error ")):
		return errors.New(sanitize.Line(string(status[len("error "):]), 500))
	case string(status) != "ok":
		return fmt.Errorf("the vigil agent at %s sent a malformed answer", sock)
	}
	if o != gitcred.Get || len(rest) == 0 {
		return nil
	}
	out, err := gitcred.DecodeBytes(rest)
	if err != nil || out.Password.IsZero() {
		return fmt.Errorf("the vigil agent at %s sent a malformed answer", sock)
	}
	return gitcred.Encode(cfg.Stdout, &gitcred.Credential{Username: out.Username, Password: out.Password})
}

// dialExtension connects to the first socket whose agent serves name,
// asking each which extensions it serves before sending anything, so that
// a request (it may carry a secret) never goes to another agent. A failure
// is a *dialError.
func dialExtension(ctx context.Context, sockets []string, name string) (*agentClient, string, error) {
	if len(sockets) == 0 {
		return nil, "", &dialError{msg: "vigil agent not running: no socket to try (SSH_AUTH_SOCK is not set)"}
	}
	var causes []string
	reached := ""
	var d net.Dialer
	for _, sock := range sockets {
		conn, err := d.DialContext(ctx, "unix", sock)
		if err != nil {
			causes = append(causes, err.Error())
			continue
		}
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		c := &agentClient{ExtendedAgent: sshagent.NewClient(conn), conn: conn, stop: stop}
		names, err := agent.QueryExtensions(c)
		if err == nil && slices.Contains(names, name) {
			return c, sock, nil
		}
		c.close()
		if reached == "" {
			reached = sock
		}
		if err != nil {
			causes = append(causes, sock+": "+err.Error())
		} else {
			causes = append(causes, sock+": the agent there does not serve "+name)
		}
	}
	if reached != "" {
		return nil, "", &dialError{causes: causes,
			msg: "the agent at " + reached + " is not vigil, and no vigil agent answered; start vigil serve, or point SSH_AUTH_SOCK at it"}
	}
	return nil, "", &dialError{causes: causes, msg: "vigil agent not running at " + strings.Join(sockets, " or ")}
}

// dialError says why no vigil agent could be reached, and what each
// socket answered.
type dialError struct {
	msg    string
	causes []string
}

func (e *dialError) Error() string {
	if len(e.causes) == 0 {
		return e.msg
	}
	return e.msg + " (" + strings.Join(e.causes, "; ") + ")"
}
