package agent

import (
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/intent"
	"github.com/vigil-agent/vigil/internal/knownhosts"
	"github.com/vigil-agent/vigil/internal/sanitize"
)

// destination is what vigil can truthfully say about where a login goes
// and which hosts a forwarded request passed through.
type destination struct {
	hostKey  ssh.PublicKey // nil: no verified host key for this login
	name     string        // verified name from known_hosts; "" if none
	revoked  bool          // known_hosts revokes the key
	claimed  string        // what the ssh command line names (never verified)
	fwdFrom  string        // forwarded: the first hop, named as well as we can, escaped
	fwdKnown bool          // fwdFrom is a verified name
}

// verifiedHost is the name policy rules may match: verified, not revoked.
func (d destination) verifiedHost() string {
	if d.revoked {
		return ""
	}
	return d.name
}

// destinationOf works out the destination of a login from the session
// binds of the connection: the ssh client proved the server's host key by
// having the server sign the session id. Names come only from the user's
// default known_hosts files, never from files a caller's command line
// names, which the caller controls.
func (a *Agent) destinationOf(c *conn, in intent.Intent) destination {
	var d destination
	if in.Kind == intent.Login {
		for i := len(c.binds) - 1; i >= 0; i-- {
			if !c.binds[i].forwarding {
				// checkLogin has made sure the session id matches.
				d.hostKey = c.binds[i].hostKey
				break
			}
		}
	}
	var candidates []string
	if dest := sshDestination(c.who); dest.Host != "" {
		candidates = dest.Candidates()
		d.claimed = dest.Host
		if len(candidates) > 0 {
			d.claimed = candidates[0] // with the port, as known_hosts writes it
		}
	}
	if c.forwarded() {
		// The local ssh client forwards the agent to the host on its
		// command line; its bind carries that host's key.
		for _, b := range c.binds {
			if b.forwarding {
				r := a.hosts.Lookup(b.hostKey, a.cfg.KnownHostsFiles, candidates)
				d.fwdFrom, d.fwdKnown = sanitize.Line(r.Name, 128), r.Verified && !r.Revoked
				if d.fwdFrom == "" {
					d.fwdFrom = "unknown host key " + ssh.FingerprintSHA256(b.hostKey)
					if d.claimed != "" {
						d.fwdFrom += ", the command line says " + sanitize.Quote(d.claimed, 128)
					}
				}
				break
			}
		}
		// The login itself goes from that host onwards: the local command
		// line says nothing about it.
		candidates, d.claimed = nil, ""
	}
	if d.hostKey != nil {
		r := a.hosts.Lookup(d.hostKey, a.cfg.KnownHostsFiles, candidates)
		d.name, d.revoked = r.Name, r.Revoked
		if !r.Verified {
			d.name = ""
		}
	}
	return d
}

// sshDestination reads the destination from the command line of the calling
// ssh client, if the caller is one.
func sshDestination(who *caller.Info) knownhosts.Dest {
	if who.Program().Name() != "ssh" {
		return knownhosts.Dest{}
	}
	lineage := who.Lineage()
	if len(lineage) == 0 {
		return knownhosts.Dest{}
	}
	dest, ok := knownhosts.ParseSSHArgs(lineage[0].Argv)
	if !ok {
		return knownhosts.Dest{}
	}
	return dest
}

// hostLine describes the destination of a login for the prompt.
func (d destination) hostLine() string {
	switch {
	case d.hostKey == nil:
		return "unknown: the client did not bind this connection to a server (not verified)"
	case d.revoked:
		return fmt.Sprintf("REVOKED host key %s (known_hosts marks it @revoked)", keyDesc(d.hostKey))
	case d.name != "":
		return fmt.Sprintf("%s (verified host key, %s)", sanitize.Line(d.name, 128), keyDesc(d.hostKey))
	case d.claimed != "":
		return fmt.Sprintf("unknown host key %s; the command line says %s (not verified)", keyDesc(d.hostKey), sanitize.Quote(d.claimed, 128))
	}
	return fmt.Sprintf("unknown host key %s (not in known_hosts)", keyDesc(d.hostKey))
}

// shortHost names the destination in the title of a prompt.
func (d destination) shortHost() string {
	switch {
	case d.revoked:
		return "a host with a REVOKED key"
	case d.name != "":
		return sanitize.Line(d.name, 64)
	}
	return "an unverified host"
}

func keyDesc(k ssh.PublicKey) string {
	return k.Type() + " " + ssh.FingerprintSHA256(k)
}
