package agent

import (
	"context"

	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/policy"
)

// Extension serves one kind of vigil extension message. Its reply is sent
// after an SSH_AGENT_SUCCESS byte; an error is sent as
// SSH_AGENT_EXTENSION_FAILURE with its text as the reason (see Client), and
// logged, so it must hold no secret and quote what a caller chose.
type Extension interface {
	Serve(ctx context.Context, req *ExtensionRequest) ([]byte, error)
}

// ExtensionFunc adapts a function to Extension.
type ExtensionFunc func(ctx context.Context, req *ExtensionRequest) ([]byte, error)

// Serve calls f.
func (f ExtensionFunc) Serve(ctx context.Context, req *ExtensionRequest) ([]byte, error) {
	return f(ctx, req)
}

// ExtensionRequest is one extension message and what the agent offers its
// handler. ctx ends when the client hangs up.
type ExtensionRequest struct {
	Caller   *caller.Info
	Contents []byte

	agent *Agent
}

// Ask puts text (sanitised by the caller of Ask) in front of a person
// through the agent's approver, in the same queue and under the same
// deadlines as signature prompts. It returns true only for an explicit yes,
// and a reason in words either way.
func (r *ExtensionRequest) Ask(ctx context.Context, text string) (bool, string) {
	outcome, why := r.agent.ask(ctx, r.Caller, text)
	return outcome == outcomeSigned, why
}

// Decide applies the policy rules in force (those of the latest reload) to
// req, a credential request the handler describes with verified facts.
func (r *ExtensionRequest) Decide(req policy.Request) policy.Decision {
	return r.agent.rules.Load().Decide(req)
}

// CheckPin binds an allow rule that names a program to the content of the
// program asking (hash: its executable's SHA-256), in the same pins as
// signature rules: "" when the rule may apply; else the rule must not, the
// person is to be asked, and the note (sanitised) says that the program
// changed since the rule first allowed it.
func (r *ExtensionRequest) CheckPin(rule *policy.Rule, hash string) string {
	return r.agent.checkPin(rule, hash)
}

// Repin pins the program of an allow rule to hash, after the person was
// asked because CheckPin found it changed, and said yes.
func (r *ExtensionRequest) Repin(rule *policy.Rule, hash string) {
	r.agent.repin(rule, hash)
}

// Record appends ev to the audit log and reports whether the request must
// be refused because it could not be recorded.
func (r *ExtensionRequest) Record(ev audit.Event) (refuse bool) {
	return r.agent.record(ev)
}

// serveExtension runs a handler for a local caller. A forwarded connection
// never reaches vigil's own extensions: they unlock keys and release
// credentials, which a remote host has no business asking for.
func (a *Agent) serveExtension(ctx context.Context, c *conn, name string, ext Extension, contents []byte) []byte {
	if c.forwarded() {
		a.log.Warn("extension refused on a forwarded connection", "extension", name, "caller", c.who.Program().String())
		return failure
	}
	reply, err := ext.Serve(ctx, &ExtensionRequest{Caller: c.who, Contents: contents, agent: a})
	if err != nil {
		a.log.Warn("extension failed", "extension", name, "caller", c.who.Program().String(), "err", err)
		return refusal(err)
	}
	return append([]byte{msgSuccess}, reply...)
}
