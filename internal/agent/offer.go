package agent

import (
	"bytes"
	"errors"
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
	offers, none := a.offerRules()
	if len(offers) == 0 && !none {
		return true, ""
	}
	host, bound := a.boundHost(c)
	if !bound {
		return true, ""
	}
	return policy.Offered(offers, none, policy.OfferRequest{KeyFingerprint: fp, KeyComment: comment, Host: host})
}

// offerRules are the offers in force, for listing and for vigil why-not
// alike: the hosts set on store keys (vigil key hosts) first, then the
// config's offers (as of the latest reload), and offer_default.
func (a *Agent) offerRules() (offers []policy.Offer, none bool) {
	set := a.offers.Load()
	return append(slices.Clip(a.storeOffers()), set.offers...), set.none
}

// OfferVerdict is one key in the answer to offers@vigil (vigil why-not):
// whether the agent offers it to a server its known_hosts names Host.
type OfferVerdict struct {
	Fingerprint string `json:"fingerprint"`
	Comment     string `json:"comment"`
	Offered     bool   `json:"offered"`
	Why         string `json:"why"`
}

// whyNot decides, for each key the agent lists, whether a connection bound
// to a verified server named host would be offered it: the decision
// offered makes, by the same rules.
func (a *Agent) whyNot(host string) ([]OfferVerdict, error) {
	if host == "" {
		return nil, errors.New("offers: no host named")
	}
	offers, none := a.offerRules()
	verdict := func(fp, comment string) OfferVerdict {
		ok, why := policy.Offered(offers, none, policy.OfferRequest{KeyFingerprint: fp, KeyComment: comment, Host: host})
		return OfferVerdict{Fingerprint: fp, Comment: comment, Offered: ok, Why: why}
	}
	out := []OfferVerdict{}
	have := map[string]bool{}
	for _, k := range a.cfg.Keys.List() {
		have[string(k.Public.Marshal())] = true
		v := verdict(k.Fingerprint, k.Comment)
		if v.Offered && len(k.Dest) > 0 {
			v.Why += "; its ssh-add -h constraints also apply, by the server's host key"
		}
		out = append(out, v)
	}
	for _, e := range a.storeEntries() {
		if !have[string(e.Public.Marshal())] {
			out = append(out, verdict(e.Fingerprint, e.Comment))
		}
	}
	return out, nil
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
