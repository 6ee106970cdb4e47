package agent

import (
	"bytes"
	"slices"

	"github.com/vigil-agent/vigil/internal/destrict"
	"github.com/vigil-agent/vigil/internal/intent"
	"github.com/vigil-agent/vigil/internal/keystore"
	"github.com/vigil-agent/vigil/internal/policy"
)

// boundHost returns the verified name of the destination this connection
// is bound to, and whether it is bound at all. A forwarded connection is
// bound to its last hop's destination. An unverified destination (its key
// not in known_hosts) is bound with name "".
func (a *Agent) boundHost(c *conn) (name string, bound bool) {
	if len(c.binds) == 0 {
		return "", false
	}
	last := c.binds[len(c.binds)-1]
	var candidates []string
	if !c.forwarded() {
		// The local ssh client's command line names the host it connects
		// to; that helps only to test hashed known_hosts entries.
		if dest := sshDestination(c.who); dest.Host != "" {
			candidates = dest.Candidates()
		}
	}
	r := a.hosts.Lookup(last.hostKey, a.cfg.KnownHostsFiles, candidates)
	if !r.Verified || r.Revoked {
		return "", true
	}
	return r.Name, true
}

// offered reports whether a key may be listed for and used on c, and why.
// Connections not bound to a destination (ssh-keygen -Y, git signing,
// paramiko, old clients) are offered every key.
func (a *Agent) offered(c *conn, fp, comment string) (bool, string) {
	if len(c.binds) == 0 {
		return true, "" // not bound: spares a look at the key store per request
	}
	set := a.offers.Load()
	stored := a.storeOffers()
	if len(set.offers) == 0 && len(stored) == 0 && !set.none {
		return true, ""
	}
	host, bound := a.boundHost(c)
	if !bound {
		return true, ""
	}
	// Hosts set on the key come first; the config's offers add to them.
	offers := append(slices.Clip(stored), set.offers...)
	return policy.Offered(offers, set.none, policy.OfferRequest{KeyFingerprint: fp, KeyComment: comment, Host: host})
}

// hops returns the connection's session binds for destination constraints.
func (c *conn) hops() []destrict.Bind {
	out := make([]destrict.Bind, len(c.binds))
	for i, b := range c.binds {
		out[i] = destrict.Bind{HostKey: b.hostKey, Forwarding: b.forwarding}
	}
	return out
}

// destPermitted applies ssh-add -h constraints the way OpenSSH's agent
// does. For a signature (login data in), the data must be a user
// authentication for the session this connection was last bound to.
func (a *Agent) destPermitted(c *conn, k keystore.Key, in *intent.Intent) (bool, string) {
	if len(k.Dest) == 0 {
		return true, ""
	}
	if in == nil {
		return destrict.Permitted(k.Dest, c.hops(), "", a.cfg.Now()), "not permitted here by its ssh-add -h constraints"
	}
	switch {
	case len(c.binds) == 0:
		return false, "destination-constrained key used on a connection bound to no server"
	case in.Kind != intent.Login:
		return false, "destination-constrained key asked to sign something other than a login"
	case !destrict.Permitted(k.Dest, c.hops(), in.User, a.cfg.Now()):
		return false, "the ssh-add -h constraints do not permit this destination"
	}
	last := c.binds[len(c.binds)-1]
	if !bytes.Equal(in.SessionID, last.sessionID) {
		return false, "login data for a session other than the last bound one"
	}
	if len(c.binds) > 1 && in.HostKey == nil {
		return false, "no host key in the login data of a forwarded connection"
	}
	if in.HostKey != nil && !bytes.Equal(in.HostKey.Marshal(), last.hostKey.Marshal()) {
		return false, "login data names a host key other than the last bound one"
	}
	return true, ""
}
