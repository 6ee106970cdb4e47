package agent

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"

	"golang.org/x/crypto/ssh"
)

// Extensions vigil answers.
const (
	extQuery       = "query"
	extSessionBind = "session-bind@openssh.com"
)

// maxBinds is OpenSSH's AGENT_MAX_SESSION_IDS.
const maxBinds = 16

// sessionBind is one verified session-bind@openssh.com: the ssh client
// proved, with the server's host key signature over the session id, which
// server this connection (or hop of a forwarding chain) talks to.
type sessionBind struct {
	hostKey    ssh.PublicKey
	sessionID  []byte
	forwarding bool
}

func (a *Agent) extension(ctx context.Context, c *conn, req []byte) []byte {
	var m struct {
		Name     string `sshtype:"27"`
		Contents []byte `ssh:"rest"`
	}
	if ssh.Unmarshal(req, &m) != nil {
		return failure
	}
	switch m.Name {
	case extQuery:
		// draft-miller-ssh-agent: SSH_AGENT_SUCCESS and the names. vigil's
		// own extensions serve local callers only (see serveExtension), so
		// a forwarded connection is not told of them: a vigil command on
		// the remote host then stops before it sends a passphrase through
		// every hop to an agent that would refuse it.
		names := []string{extQuery, extSessionBind}
		if !c.forwarded() {
			names = append(names, extUnlock, extLock, extStatus, extGrants, extRevoke, extPins, extForget, extOffers)
			names = append(names, slices.Sorted(maps.Keys(a.cfg.Extensions))...)
		}
		reply := []byte{msgSuccess}
		for _, name := range names {
			reply = append(reply, ssh.Marshal(struct{ S string }{name})...)
		}
		return reply
	case extSessionBind:
		if why := c.bind(m.Contents); why != "" {
			a.log.Warn("session-bind refused", "caller", c.who.String(), "why", why)
			return failure
		}
		return success
	}
	switch m.Name {
	case extUnlock, extLock, extStatus, extGrants, extRevoke, extPins, extForget, extOffers:
		return a.serveExtension(ctx, c, m.Name, ExtensionFunc(func(ctx context.Context, r *ExtensionRequest) ([]byte, error) {
			return a.builtinExtension(ctx, c, m.Name, r.Contents)
		}), m.Contents)
	}
	if ext := a.cfg.Extensions[m.Name]; ext != nil {
		return a.serveExtension(ctx, c, m.Name, ext, m.Contents)
	}
	return failure
}

// bind verifies and records a session-bind, with OpenSSH's rules: at most
// maxBinds per connection, no bind after one made for authentication, and
// no session bound twice.
func (c *conn) bind(contents []byte) string {
	var m struct {
		HostKey    []byte
		SessionID  []byte
		Signature  []byte
		Forwarding bool
	}
	if ssh.Unmarshal(contents, &m) != nil {
		return "malformed message"
	}
	hk, err := ssh.ParsePublicKey(m.HostKey)
	if err != nil {
		return "malformed host key"
	}
	sig := new(ssh.Signature)
	if ssh.Unmarshal(m.Signature, sig) != nil {
		return "malformed signature"
	}
	if hk.Verify(m.SessionID, sig) != nil {
		return "host key signature does not verify"
	}
	for _, b := range c.binds {
		if !b.forwarding {
			return "connection already bound for authentication"
		}
		if bytes.Equal(b.sessionID, m.SessionID) {
			return "session already bound on this connection"
		}
	}
	if len(c.binds) >= maxBinds {
		return "too many session binds"
	}
	c.binds = append(c.binds, sessionBind{hostKey: hk, sessionID: m.SessionID, forwarding: m.Forwarding})
	c.fwd = c.fwd || m.Forwarding
	return ""
}

// QueryExtensions asks an agent which extensions it serves
// (draft-miller-ssh-agent's "query"). A client tells vigil from another
// agent by whether the extension it means to send is among them, and sends
// nothing (a passphrase, a token request) to an agent that lacks it.
func QueryExtensions(c interface {
	Extension(name string, contents []byte) ([]byte, error)
}) ([]string, error) {
	reply, err := c.Extension(extQuery, nil)
	if err != nil {
		return nil, err
	}
	rest := reply[1:]
	var names []string
	for len(rest) > 0 {
		var s struct {
			Name string
			Rest []byte `ssh:"rest"`
		}
		if err := ssh.Unmarshal(rest, &s); err != nil {
			return nil, errors.New("malformed answer to the query extension")
		}
		names = append(names, s.Name)
		rest = s.Rest
	}
	return names, nil
}
