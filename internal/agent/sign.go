package agent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-agent/vigil/internal/intent"
	"github.com/vigil-agent/vigil/internal/keystore"
	"github.com/vigil-agent/vigil/internal/policy"
	"github.com/vigil-agent/vigil/internal/sanitize"
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
		a.log.Info("sign refused: no such key", "caller", c.who.String())
		return failure
	}
	in := intent.Parse(m.Data)
	// A signature a rule allowed is routine and logged at debug level;
	// anything a person decided, or that was refused, at info.
	level := slog.LevelInfo
	logSign := func(outcome, why string) {
		if !a.log.Enabled(ctx, level) {
			return
		}
		a.log.Log(ctx, level, "sign request", "outcome", outcome, "why", why, "fp", key.Fingerprint,
			"caller", c.who.String(), "purpose", in.String(), "forwarded", c.forwarded(),
			"len", len(m.Data), "latency", time.Since(start).Round(time.Microsecond))
	}
	if a.cfg.Keys.Locked() {
		logSign(outcomeRefused, "agent is locked")
		return failure
	}
	if why := c.checkLogin(in); why != "" {
		logSign(outcomeRefused, why)
		return failure
	}
	why := "approved"
	switch d := policy.Decide(*a.rules.Load(), a.policyRequest(c, key, in)); d.Action {
	case policy.Deny:
		logSign(outcomeDenied, d.Rule.String())
		return failure
	case policy.Allow:
		why, level = d.Rule.String(), slog.LevelDebug
	default:
		if outcome, why := a.decide(ctx, c, key, in); outcome != outcomeSigned {
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
	sig, err := a.cfg.Keys.Sign(key.ID, m.Data, m.Flags)
	if err != nil {
		// Removed, replaced or locked while the person was deciding.
		logSign(outcomeRefused, err.Error())
		return failure
	}
	logSign(outcomeSigned, why)
	return ssh.Marshal(struct {
		Type byte
		Sig  []byte
	}{msgSignResponse, ssh.Marshal(sig)})
}

// policyRequest gathers the verified facts policy rules can match on.
func (a *Agent) policyRequest(c *conn, key keystore.Key, in intent.Intent) policy.Request {
	req := policy.Request{
		KeyFingerprint: key.Fingerprint,
		KeyComment:     key.Comment,
		Forwarded:      c.forwarded(),
	}
	// A program whose executable was deleted or replaced since it started
	// is not the program at that path: it matches no exe rule.
	if p := c.who.Program(); !p.Deleted {
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

// decide asks the approver, one prompt at a time, and says what happened.
func (a *Agent) decide(ctx context.Context, c *conn, key keystore.Key, in intent.Intent) (outcome, why string) {
	if a.cfg.Approver == nil {
		return outcomeRefused, "no approver configured (set --approver or SSH_ASKPASS): refusing to sign without asking"
	}
	wait, cancel := context.WithTimeout(ctx, a.cfg.PromptTimeout)
	defer cancel()
	if err := a.prompts.acquire(wait); err != nil {
		return ctxOutcome(ctx), "while waiting for an earlier prompt to be answered"
	}
	defer a.prompts.release()
	// Checked after the wait, right before showing: the pid in the prompt
	// must still be the process that connected.
	if !c.who.Alive() && c.who.PID != 0 {
		return outcomeRefused, "calling process exited; its pid could name another program now"
	}
	ask, cancel := context.WithTimeout(ctx, a.cfg.PromptTimeout)
	defer cancel()
	ok, err := a.cfg.Approver.Confirm(ask, promptText(c, key, in))
	switch {
	case ask.Err() != nil:
		return ctxOutcome(ctx), "prompt closed unanswered"
	case err != nil:
		return outcomeRefused, fmt.Sprintf("could not ask: %v", err)
	case !ok:
		return outcomeDenied, "approver said no"
	}
	return outcomeSigned, ""
}

// ctxOutcome tells a hang-up from a timeout, given the request's context.
func ctxOutcome(request context.Context) string {
	if request.Err() != nil {
		return outcomeCancelled
	}
	return outcomeTimeout
}

// promptText says, one fact per line, what the person is asked to allow.
// Everything a caller controls is sanitised.
func promptText(c *conn, key keystore.Key, in intent.Intent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "vigil: allow %s to sign?\n", sanitize.Line(c.who.Program().Name(), 64))
	fmt.Fprintf(&b, "Key: %s (%s %s)", sanitize.Line(key.Comment, 80), key.Describe(), key.Fingerprint)
	if key.Confirm {
		b.WriteString(" [added with confirm]")
	}
	fmt.Fprintf(&b, "\nFor: %s\n", in.String())
	fmt.Fprintf(&b, "Program: %s\n", c.who.String())
	if c.forwarded() {
		b.WriteString("Path: FORWARDED agent connection (the request comes from another host)\n")
	} else {
		b.WriteString("Path: local\n")
	}
	return b.String()
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
