package agent

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/intent"
	"github.com/vigil-agent/vigil/internal/keystore"
	"github.com/vigil-agent/vigil/internal/policy"
	"github.com/vigil-agent/vigil/internal/sanitize"
	"github.com/vigil-agent/vigil/internal/words"
)

// Outcomes of a sign request, as logged.
const (
	outcomeSigned    = "signed"
	outcomeDenied    = "denied"
	outcomeRefused   = "refused" // refused without asking
	outcomeTimeout   = "timed out"
	outcomeCancelled = "cancelled" // the client hung up
)

func (a *Agent) sign(ctx context.Context, c *conn, req []byte) []byte {
	start := time.Now()
	var m struct {
		KeyBlob []byte `sshtype:"13"`
		Data    []byte
		Flags   uint32
	}
	if ssh.Unmarshal(req, &m) != nil {
		return failure
	}
	key, err := a.cfg.Keys.Lookup(m.KeyBlob)
	if err != nil {
		if e, ok := a.storeEntry(m.KeyBlob); ok {
			// A key of vigil's store, not unlocked: ask for the passphrase
			// first, then decide as for any key.
			in := intent.Parse(m.Data)
			if ok, why := a.offered(c, e.Fingerprint, e.Comment); !ok {
				err = errors.New("key not offered to this destination: " + why)
			} else if why := c.checkLogin(in); why != "" {
				err = errors.New(why)
			} else {
				var dest destination
				if in.Kind == intent.Login || c.forwarded() {
					dest = a.destinationOf(c, in)
				}
				err = a.unlockOnDemand(ctx, c, e, in, dest)
				if err == nil {
					key, err = a.cfg.Keys.Lookup(m.KeyBlob)
				}
			}
			if err != nil {
				a.log.Info("sign refused: store key not unlocked", "fp", e.Fingerprint, "caller", c.who.Program().String(), "err", err)
				a.record(audit.Event{Kind: audit.KindSign, Decision: audit.Denied, Caller: callerFacts(c.who, true),
					Key: e.Fingerprint, Origin: origin(c), Latency: time.Since(start), Detail: "store key not unlocked: " + err.Error()})
				return failure
			}
		}
	}
	if err != nil {
		a.log.Info("sign refused: no such key", "caller", c.who.Program().String())
		fp := "unparseable key"
		if pub, err := ssh.ParsePublicKey(m.KeyBlob); err == nil {
			fp = ssh.FingerprintSHA256(pub)
		}
		a.record(audit.Event{Kind: audit.KindSign, Decision: audit.Denied, Caller: callerFacts(c.who, true),
			Key: fp, Origin: origin(c), Latency: time.Since(start), Detail: "no such key in the agent"})
		return failure
	}
	in := intent.Parse(m.Data)
	// A signature a rule allowed is routine and logged at debug level;
	// anything a person decided, or that was refused, at info. Every
	// outcome is also one audit record.
	level := slog.LevelInfo
	var dest destination
	by := audit.By{}
	logSign := func(outcome, why string) (refuse bool) {
		if a.log.Enabled(ctx, level) {
			a.log.Log(ctx, level, "sign request", "outcome", outcome, "why", why, "fp", key.Fingerprint,
				"caller", c.who.Program().String(), "purpose", in.String(), "forwarded", c.forwarded(),
				"len", len(m.Data), "latency", time.Since(start).Round(time.Microsecond))
		}
		if level != slog.LevelDebug {
			a.notifySign(c, key, in, dest, outcome, why)
		}
		return a.record(audit.Event{
			Kind: audit.KindSign, Decision: outcomeDecision[outcome],
			Caller: callerFacts(c.who, level != slog.LevelDebug), Key: key.Fingerprint,
			Intent: intentFacts(in, dest), Origin: origin(c), By: by,
			Latency: time.Since(start), DataSHA256: audit.DataHash(m.Data), Detail: why + c.offeredNote(),
		})
	}
	if a.cfg.Keys.Locked() {
		logSign(outcomeRefused, "agent is locked")
		return failure
	}
	if why := c.checkLogin(in); why != "" {
		logSign(outcomeRefused, why)
		return failure
	}
	if ok, why := a.destPermitted(c, key, &in); !ok {
		logSign(outcomeRefused, why)
		return failure
	}
	if ok, why := a.offered(c, key.Fingerprint, key.Comment); !ok {
		// Not offered to this destination: nobody is asked.
		logSign(outcomeRefused, "key not offered to this destination: "+why)
		return failure
	}
	// Only logins have a destination to work out; other purposes skip the
	// known_hosts lookup on the allow path.
	if in.Kind == intent.Login || c.forwarded() {
		dest = a.destinationOf(c, in)
	}
	why := "approved"
	preq := a.policyRequest(c, key, in, dest)
	d := a.rules.Load().Decide(preq)
	var note string
	if d.Action == policy.Allow {
		note = a.checkPin(d.Rule, c.who.Program().Hash)
	}
	if d.Rule != nil {
		by.Rule = fmt.Sprint(d.Rule.N)
	}
	switch {
	case d.Action == policy.Deny:
		logSign(outcomeDenied, d.Text)
		return failure
	case d.Action == policy.Allow && note == "":
		why, level = d.Text, slog.LevelDebug
	default:
		var outcome string
		if outcome, why = a.approve(ctx, c, key, in, dest, preq, d, note, &by); outcome != outcomeSigned {
			logSign(outcome, why)
			return failure
		}
	}
	// The person said yes, but to this client only: if it has gone, the
	// answer is void and nothing is signed.
	if ctx.Err() != nil {
		logSign(outcomeCancelled, "client hung up before the signature was made")
		return failure
	}
	if !a.window.used() {
		logSign(outcomeRefused, "the unlock window ended")
		return failure
	}
	sig, err := a.cfg.Keys.Sign(key.ID, m.Data, m.Flags)
	a.window.spent()
	if err != nil {
		// Removed, replaced or locked while the person was deciding.
		logSign(outcomeRefused, err.Error())
		return failure
	}
	if key.Stored && a.cfg.Store != nil {
		a.cfg.Store.MarkUsed(key.Fingerprint, a.cfg.Now())
	}
	if logSign(outcomeSigned, why) {
		// The audit log could not record it and on_audit_failure is
		// "refuse": the signature is made but never handed out.
		return failure
	}
	return ssh.Marshal(struct {
		Type byte
		Sig  []byte
	}{msgSignResponse, ssh.Marshal(sig)})
}

// approve settles a request that no rule allowed outright: by a grant, or
// by a person's answer. Identical requests pending at the same time share
// one prompt (see sharedPrompts): a denial or a timeout refuses them all; a
// grant covers them all; "allow once" covers the one request that asked,
// and the others go on to ask for themselves.
func (a *Agent) approve(ctx context.Context, c *conn, key keystore.Key, in intent.Intent, dest destination, preq policy.Request, d policy.Decision, note string, by *audit.By) (outcome, why string) {
	runBy := c.who.Runner()
	scope := policy.GrantRequestOf(preq, c.who.Program().Hash, policy.Program{Exe: runBy.Exe, Hash: runBy.Hash})
	if preq.Exe == "" {
		scope.Exe = "" // an unverifiable program can neither use nor get a grant
	}
	// Only a request that can be scoped exactly (a known program, one
	// purpose, a verified destination for a login) shares a prompt.
	exact := scope.Validate() == nil
	for {
		// A changed program (note) asks whatever the grants say; Match
		// counts a use, so it is not even tried then.
		if g, ok := a.matchGrant(scope, note); ok {
			a.grantsChanged() // its use count
			by.Grant = fmt.Sprint(g.ID)
			return outcomeSigned, fmt.Sprintf("grant %d (%s)", g.ID, expiryText(g.Expires, a.cfg.Now()))
		}
		prog := scope.Program()
		if cooling, until := a.cooldown.Cooling(prog, a.cfg.Now()); cooling && prog.Exe != "" {
			return outcomeRefused, fmt.Sprintf("its last prompts were denied or unanswered: refused without asking until %s", until.Format(time.TimeOnly))
		}
		if !exact {
			return a.askPerson(ctx, c, key, in, dest, d, note, scope, by, false)
		}
		p, leader := a.shared.join(scope)
		if leader {
			outcome, why = a.askPerson(ctx, c, key, in, dest, d, note, scope, by, true)
			a.shared.settle(scope, p, outcome)
			return outcome, why
		}
		shared, err := a.shared.wait(ctx, p)
		switch {
		case err != nil:
			return outcomeCancelled, "client hung up while an identical request's prompt was open"
		case shared == outcomeDenied, shared == outcomeTimeout:
			return outcomeRefused, fmt.Sprintf("shared the prompt of an identical request, which was %s", shared)
		}
		// Allowed once (which covers one signature), granted (the grant
		// now matches), or abandoned: go round again. A person who
		// accepted a changed program has re-pinned it for the rule.
		if d.Action == policy.Allow && note != "" {
			if note = a.checkPin(d.Rule, c.who.Program().Hash); note == "" {
				return outcomeSigned, d.Text
			}
		}
	}
}

// askPerson puts one request in front of a person, counts the answer for
// the program's cooldown, and makes the grant the person chose.
func (a *Agent) askPerson(ctx context.Context, c *conn, key keystore.Key, in intent.Intent, dest destination, d policy.Decision, note string, scope policy.Scope, by *audit.By, canGrant bool) (outcome, why string) {
	outcome, why, grantFor, answeredBy := a.decide(ctx, c, key, in, dest, note, canGrant)
	// The way that asked, as the approver names it; for one that does not
	// (or when none could be reached), its own name.
	by.Approver = cmp.Or(answeredBy, a.approverName())
	if a.cooldown.Note(scope.Program(), cooldownOutcome(outcome), a.cfg.Now()) {
		a.log.Warn("refusing this program's signatures without asking for a while: its prompts keep being denied or unanswered",
			"program", c.who.Program().String())
	}
	if outcome != outcomeSigned {
		return outcome, why
	}
	why = "approved"
	if grantFor > 0 {
		id, err := a.grants.Add(policy.Grant{Scope: scope, Expires: a.cfg.Now().Add(grantFor), MaxUses: a.cfg.GrantUses}, a.cfg.Now())
		if err == nil {
			a.grantsChanged()
			by.Grant = fmt.Sprint(id)
			why = fmt.Sprintf("approved, with grant %d for %v%s", id, grantFor, usesNote(a.cfg.GrantUses))
			a.record(audit.Event{Kind: audit.KindGrantMade, Decision: audit.Allowed, Caller: callerFacts(c.who, true),
				Key: key.Fingerprint, Intent: intentFacts(in, dest), Origin: origin(c), By: *by,
				Detail: fmt.Sprintf("grant %d for %v%s", id, grantFor, usesNote(a.cfg.GrantUses))})
		}
	}
	if d.Action == policy.Allow {
		// The person accepted the changed program: pin what they saw.
		a.repin(d.Rule, c.who.Program().Hash)
	}
	return outcomeSigned, why
}

// usesNote says how many signatures a grant covers, when that is capped.
func usesNote(max int) string {
	if max == 0 {
		return ""
	}
	return ", at most " + words.Count(max, "signature")
}

// policyRequest gathers the verified facts policy rules can match on.
func (a *Agent) policyRequest(c *conn, key keystore.Key, in intent.Intent, dest destination) policy.Request {
	req := policy.Request{
		KeyFingerprint: key.Fingerprint,
		KeyComment:     key.Comment,
		Forwarded:      c.forwarded(),
		Host:           dest.verifiedHost(),
	}
	// A program whose executable was deleted or replaced since it started,
	// or that runs in another mount namespace (where it can bind-mount its
	// own file over /usr/bin/git), is not the program at that path: it
	// matches no exe rule.
	if p := c.who.Program(); !p.Deleted && !c.who.OtherMountNS {
		req.Exe = p.Exe
	}
	switch in.Kind {
	case intent.Login:
		req.Purpose = policy.PurposeLogin
	case intent.SSHSIG:
		req.Purpose = policy.PurposeOf(in.Namespace)
	default:
		req.Purpose = policy.PurposeUnknown
	}
	return req
}

// decide asks the approver, one prompt at a time, and says what happened
// and, when the approver names it, which way of asking answered.
func (a *Agent) decide(ctx context.Context, c *conn, key keystore.Key, in intent.Intent, dest destination, note string, canGrant bool) (outcome, why string, grantFor time.Duration, answeredBy string) {
	text := promptText(c, key, in, dest)
	if note != "" {
		text += "  NOTE:    " + note + "\n"
	}
	switch ap := a.cfg.Approver.(type) {
	case NamingApprover:
		outcome, why, grantFor = a.prompt(ctx, c.who, text, func(ctx context.Context) (bool, time.Duration, error) {
			allow, d, by, err := ap.ConfirmGrantBy(ctx, text, canGrant)
			answeredBy = by
			return allow, d, err
		})
		return outcome, why, grantFor, answeredBy
	case GrantingApprover:
		outcome, why, grantFor = a.askGrant(ctx, c.who, text, ap, canGrant)
		return outcome, why, grantFor, ""
	}
	outcome, why = a.ask(ctx, c.who, text)
	return outcome, why, 0, ""
}

// matchGrant is the live grant covering scope, unless note says the
// program changed since its rule pinned it.
func (a *Agent) matchGrant(scope policy.Scope, note string) (*policy.Grant, bool) {
	if note != "" {
		return nil, false
	}
	return a.grants.Match(scope, a.cfg.Now())
}

// expiryText says when a grant ends, for logs and the audit record.
func expiryText(expires, now time.Time) string {
	if policy.AtLock(expires, now) {
		return "until lock"
	}
	return "until " + expires.Format(time.TimeOnly)
}

// cooldownOutcome maps a prompt's outcome for the cooldown count: a hang-up
// says nothing about the person.
func cooldownOutcome(outcome string) policy.Outcome {
	switch outcome {
	case outcomeSigned:
		return policy.Approved
	case outcomeDenied:
		return policy.Denied
	case outcomeTimeout:
		return policy.TimedOut
	}
	return policy.Abandoned
}

// ask puts text in front of a person: one prompt at a time, each request
// waiting its turn for at most the prompt timeout, and the prompt itself
// open for at most the prompt timeout. It returns outcomeSigned only for
// an explicit yes.
func (a *Agent) ask(ctx context.Context, who *caller.Info, text string) (outcome, why string) {
	outcome, why, _ = a.prompt(ctx, who, text, func(ctx context.Context) (bool, time.Duration, error) {
		ok, err := a.cfg.Approver.Confirm(ctx, text)
		return ok, 0, err
	})
	return outcome, why
}

// askGrant is ask through an approver that can grant.
func (a *Agent) askGrant(ctx context.Context, who *caller.Info, text string, g GrantingApprover, canGrant bool) (outcome, why string, grantFor time.Duration) {
	return a.prompt(ctx, who, text, func(ctx context.Context) (bool, time.Duration, error) {
		return g.ConfirmGrant(ctx, text, canGrant)
	})
}

func (a *Agent) prompt(ctx context.Context, who *caller.Info, text string, show func(context.Context) (bool, time.Duration, error)) (outcome, why string, grantFor time.Duration) {
	if a.cfg.Approver == nil {
		return outcomeRefused, "no approver configured (set --approver or SSH_ASKPASS): refusing without asking", 0
	}
	wait, cancel := context.WithTimeout(ctx, a.cfg.PromptTimeout)
	defer cancel()
	if err := a.prompts.acquire(wait); err != nil {
		return ctxOutcome(ctx), "while waiting for an earlier prompt to be answered", 0
	}
	defer a.prompts.release()
	// Checked after the wait, right before showing: the pid in the prompt
	// must still be the process that connected.
	if !who.Alive() && who.PID != 0 {
		return outcomeRefused, "calling process exited; its pid could name another program now", 0
	}
	if a.cfg.Notifier != nil {
		title, _, _ := strings.Cut(text, "\n")
		a.cfg.Notifier.Notify("vigil is waiting for your answer", title+"\nAsked through "+a.approverName())
	}
	pctx, cancel := context.WithTimeout(ctx, a.cfg.PromptTimeout)
	defer cancel()
	ok, grantFor, err := show(pctx)
	switch {
	case pctx.Err() != nil:
		return ctxOutcome(ctx), "prompt closed unanswered", 0
	case err != nil:
		return outcomeRefused, fmt.Sprintf("could not ask: %v", err), 0
	case !ok:
		return outcomeDenied, "approver said no", 0
	}
	return outcomeSigned, "", grantFor
}

// checkPin binds an allow rule that names a program to that program's
// content (hash, of the program asking): the first time the rule matches,
// the executable's hash is pinned; if a later caller at the same path runs
// other content (an upgrade, or tampering), the rule does not apply and the
// person is asked, told why. It returns that note, or "" when the rule may
// apply. Signature and credential rules share the pins: they are the
// program's, not the rule's.
func (a *Agent) checkPin(r *policy.Rule, hash string) string {
	if r.Exe == "" {
		return ""
	}
	if hash == "" {
		return "the rule names this program, but its content could not be read to check it"
	}
	pinned, loaded, err := a.cfg.Pins.LoadOrStore(r.Exe, hash)
	if err != nil {
		// Pinned in memory: a change while vigil runs is still caught,
		// but one while it is stopped would not be.
		a.log.Error("program pin not saved: it holds until vigil stops", "exe", r.Exe, "err", err)
	}
	if loaded && pinned != hash {
		return fmt.Sprintf("%s changed since rule %d first allowed it (content SHA-256 %.12s…, was %.12s…)",
			sanitize.Line(r.Exe, 128), r.N, hash, pinned)
	}
	return ""
}

// repin pins the program of rule r to hash, once the person accepted it
// changed.
func (a *Agent) repin(r *policy.Rule, hash string) {
	if r == nil || r.Exe == "" || hash == "" {
		return
	}
	if err := a.cfg.Pins.Store(r.Exe, hash); err != nil {
		a.log.Error("re-pinned program not saved: it holds until vigil stops", "exe", r.Exe, "err", err)
	}
}

// notifySign tells the desktop what became of a signature request: short,
// sanitised facts, never the data.
func (a *Agent) notifySign(c *conn, key keystore.Key, in intent.Intent, d destination, outcome, why string) {
	if a.cfg.Notifier == nil || outcome == outcomeCancelled {
		return // nobody to tell, or nobody waiting for the answer
	}
	prog := c.who.Program()
	var b strings.Builder
	fmt.Fprintf(&b, "to %s\n", purposePhrase(in, d))
	fmt.Fprintf(&b, "program: %s\n", prog.String())
	if in.Kind == intent.Login {
		fmt.Fprintf(&b, "host: %s\n", d.hostLine())
	}
	fmt.Fprintf(&b, "key: %s %s\n", sanitize.Line(key.Comment, 80), key.Fingerprint)
	if c.forwarded() {
		b.WriteString("FORWARDED from another host\n")
	}
	fmt.Fprintf(&b, "why: %s", sanitize.Line(why, 160))
	a.cfg.Notifier.Notify(fmt.Sprintf("vigil %s: %s", outcome, sanitize.Line(prog.Name(), 64)), b.String())
}

// ctxOutcome tells a hang-up from a timeout, given the request's context.
func ctxOutcome(request context.Context) string {
	if request.Err() != nil {
		return outcomeCancelled
	}
	return outcomeTimeout
}

// promptText says what the person is asked to allow: a title line, then
// one fact per line. Everything a caller controls is sanitised.
func promptText(c *conn, key keystore.Key, in intent.Intent, d destination) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Allow %s to %s?\n", sanitize.Line(c.who.Program().Name(), 64), purposePhrase(in, d))
	writeRequester(&b, c, in, d)
	b.WriteString(keyLine(key.Comment, key.Public, key.Fingerprint))
	if key.Confirm {
		b.WriteString(" [added with confirm]")
	}
	b.WriteString("\n")
	if c.hidden > 0 {
		fmt.Fprintf(&b, "  offered: %d of %d keys to this server (%s); the others are meant for other hosts\n",
			len(c.offered), len(c.offered)+c.hidden, strings.Join(c.offered, ", "))
	}
	writePath(&b, c, d)
	return b.String()
}

// writeRequester writes the prompt lines that say who asks and, for a
// login, where to: every prompt a request raises (the signature, and the
// store passphrase before it) shows the same facts.
func writeRequester(b *strings.Builder, c *conn, in intent.Intent, d destination) {
	fmt.Fprintf(b, "  program: %s\n", c.who.Program().String())
	fmt.Fprintf(b, "  who:     %s\n", c.who.Summary())
	if lineage := c.who.Lineage(); len(lineage) > 1 {
		parents := make([]string, 0, len(lineage)-1)
		for _, p := range lineage[1:] {
			parents = append(parents, p.String())
		}
		fmt.Fprintf(b, "  parents: %s\n", strings.Join(parents, " ← "))
	}
	if in.Kind == intent.Login {
		fmt.Fprintf(b, "  host:    %s\n", d.hostLine())
	}
}

// keyLine is a prompt's key line, without its newline, so that a loaded
// key and one still locked in the key store are written alike.
func keyLine(comment string, pub ssh.PublicKey, fingerprint string) string {
	return fmt.Sprintf("  key:     %s %s %s", sanitize.Line(comment, 80), keystore.Describe(pub), fingerprint)
}

// writePath writes the prompt line that says which way the request came:
// local, or forwarded from another host (verified or not).
func writePath(b *strings.Builder, c *conn, d destination) {
	if !c.forwarded() {
		b.WriteString("  path:    local\n")
		return
	}
	from := "an unknown host"
	if d.fwdFrom != "" {
		from = d.fwdFrom // escaped already, where it was read
		if d.fwdKnown {
			from += " (verified)"
		} else {
			from += " (not verified)"
		}
	}
	fmt.Fprintf(b, "  FORWARDED from %s: the request comes from another host\n", from)
}

// purposePhrase completes "Allow PROGRAM to ...?".
func purposePhrase(in intent.Intent, d destination) string {
	switch in.Kind {
	case intent.Login:
		return fmt.Sprintf("log in as %s to %s", sanitize.Line(in.User, 64), d.shortHost())
	case intent.SSHSIG:
		switch in.Namespace {
		case "git":
			return "sign a git commit or tag"
		case "file":
			return "sign a file"
		}
		return "sign data for namespace " + sanitize.Quote(in.Namespace, 64)
	}
	return fmt.Sprintf("sign unrecognised data (%d bytes)", in.Len)
}

// checkLogin refuses a login signature whose session does not match the
// session the client bound this connection to: the client said which
// session it authenticates, and the data claims another.
func (c *conn) checkLogin(in intent.Intent) string {
	if in.Kind != intent.Login || len(c.binds) == 0 {
		return ""
	}
	last := c.binds[len(c.binds)-1]
	if last.forwarding {
		// Forwarded: the session is one the remote host set up; the
		// bind chain only tells us that it is forwarded.
		return ""
	}
	if !bytes.Equal(in.SessionID, last.sessionID) {
		return "login data is for a session other than the one this connection was bound to"
	}
	if in.HostKey != nil && !bytes.Equal(in.HostKey.Marshal(), last.hostKey.Marshal()) {
		return "login data names a host key other than the one this connection was bound to"
	}
	return ""
}

// offeredNote says, for the audit record, which keys the server of a bound
// connection was shown.
func (c *conn) offeredNote() string {
	if c.hidden == 0 {
		return ""
	}
	return fmt.Sprintf("; offered to this server: %s (%d hidden)", strings.Join(c.offered, ","), c.hidden)
}
