package agent

import (
	"fmt"
	"time"

	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/intent"
	"github.com/vigil-agent/vigil/internal/keystore"
	"github.com/vigil-agent/vigil/internal/policy"
)

// AuditLog keeps the record of what happened; *audit.Log implements it.
// An error that audit.ShouldRefuse says to act on makes the agent refuse
// the signature it was recording (on_audit_failure = "refuse").
type AuditLog interface {
	Append(audit.Event) error
}

// record appends ev to the audit log, if there is one, and reports whether
// the request must be refused because the record could not be written.
func (a *Agent) record(ev audit.Event) (refuse bool) {
	if a.cfg.Audit == nil {
		return false
	}
	err := a.cfg.Audit.Append(ev)
	if err == nil {
		return false
	}
	refuse = audit.ShouldRefuse(err)
	a.log.Error("AUDIT LOG WRITE FAILED", "kind", ev.Kind, "err", err, "refusing_signatures", refuse)
	return refuse
}

// callerFacts describes the caller for the audit log. The parent chain is
// read only when full is set: a signature a rule allowed records the
// program's verified identity, and skips the /proc walk to stay cheap.
func callerFacts(who *caller.Info, full bool) audit.Caller {
	p := who.Program()
	c := audit.Caller{Process: audit.Process{PID: who.PID, Exe: p.Exe, SHA256: p.Hash}}
	if full {
		for _, q := range who.Lineage()[min(1, len(who.Lineage())):] {
			c.Chain = append(c.Chain, audit.Process{PID: q.PID, Exe: q.Exe, SHA256: q.Hash})
		}
	}
	return c
}

func intentFacts(in intent.Intent, d destination) audit.Intent {
	out := audit.Intent{}
	switch in.Kind {
	case intent.Login:
		out.Purpose, out.User, out.Host = policy.PurposeLogin, in.User, d.verifiedHost()
	case intent.SSHSIG:
		out.Purpose, out.Namespace = policy.PurposeOf(in.Namespace), in.Namespace
	default:
		out.Purpose = policy.PurposeUnknown
	}
	return out
}

func origin(c *conn) audit.Origin {
	if c.forwarded() {
		return audit.Forwarded
	}
	return audit.Local
}

var outcomeDecision = map[string]audit.Decision{
	outcomeSigned:    audit.Allowed,
	outcomeDenied:    audit.Denied,
	outcomeRefused:   audit.Denied,
	outcomeTimeout:   audit.TimedOut,
	outcomeCancelled: audit.Cancelled,
}

// approverName says which way a person was asked, for the record: for an
// approver that chooses among several ways (approve.Chain), the way it
// would use now.
func (a *Agent) approverName() string {
	if c, ok := a.cfg.Approver.(interface{ Next() string }); ok {
		if name := c.Next(); name != "" {
			return name
		}
	}
	if s, ok := a.cfg.Approver.(fmt.Stringer); ok {
		return s.String()
	}
	if a.cfg.Approver == nil {
		return ""
	}
	return fmt.Sprintf("%T", a.cfg.Approver)
}

// recordAdmin records a request that changes the agent's keys or lock.
func (a *Agent) recordAdmin(c *conn, kind audit.Kind, dec audit.Decision, fp, detail string, start time.Time) {
	a.record(audit.Event{
		Kind: kind, Decision: dec, Caller: callerFacts(c.who, true), Key: fp,
		Origin: origin(c), Latency: time.Since(start), Detail: detail,
	})
}

// keyExpired records the removal of a key whose lifetime (ssh-add -t, or
// the agent's default lifetime) ended: nobody asked for it, so the record
// names no caller.
func (a *Agent) keyExpired(k keystore.Key) {
	a.record(audit.Event{Kind: audit.KindRemove, Decision: audit.Allowed, Key: k.Fingerprint,
		Detail: fmt.Sprintf("lifetime of %v ended", k.Expires.Sub(k.Added))})
}
