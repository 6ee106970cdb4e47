package agent

import (
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
	set := a.offers.Load()
	if len(set.offers) == 0 && !set.none {
		return true, ""
	}
	host, bound := a.boundHost(c)
	if !bound {
		return true, ""
	}
	return policy.Offered(set.offers, set.none, policy.OfferRequest{KeyFingerprint: fp, KeyComment: comment, Host: host})
}
