// Package destrict implements OpenSSH's destination constraints
// (restrict-destination-v00@openssh.com, added with ssh-add -h): a key that
// may be used only to log in along the hops the user named, each hop
// identified by host keys, never by names a caller could forge.
//
// It follows the semantics of OpenSSH's ssh-agent (identity_permitted and
// permitted_by_dest_constraints in ssh-agent.c): a chain of session binds
// is permitted if every hop is allowed by some constraint, from the origin
// (the local machine) to the last hop.
package destrict

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"time"

	"golang.org/x/crypto/ssh"
)

// Name is the constraint extension's name.
const Name = "restrict-destination-v00@openssh.com"

// maxConstraints is OpenSSH's AGENT_MAX_DEST_CONSTRAINTS.
const maxConstraints = 1024

// Hop is one end of a constraint: a user (for "to" only), a host name (a
// label, used to check host certificates) and the host keys or CAs.
type Hop struct {
	User     string
	Hostname string
	Keys     []ssh.PublicKey
	IsCA     []bool
}

// Constraint permits a hop from From to To. An empty From is the origin.
type Constraint struct {
	From, To Hop
}

// Parse reads the extension's details as ssh-add sends them.
func Parse(details []byte) ([]Constraint, error) {
	var out []Constraint
	rest := details
	for len(rest) > 0 {
		if len(out) >= maxConstraints {
			return nil, errors.New("destrict: too many constraints")
		}
		var c struct {
			Constraint []byte
			Rest       []byte `ssh:"rest"`
		}
		if err := ssh.Unmarshal(rest, &c); err != nil {
			return nil, fmt.Errorf("destrict: %w", err)
		}
		rest = c.Rest
		var inner struct {
			From, To, Reserved []byte
		}
		if err := ssh.Unmarshal(c.Constraint, &inner); err != nil {
			return nil, fmt.Errorf("destrict: constraint: %w", err)
		}
		if len(inner.Reserved) != 0 {
			return nil, errors.New("destrict: unsupported constraint extensions")
		}
		from, err := parseHop(inner.From)
		if err != nil {
			return nil, err
		}
		to, err := parseHop(inner.To)
		if err != nil {
			return nil, err
		}
		if (from.Hostname == "") != (len(from.Keys) == 0) || from.User != "" {
			return nil, errors.New(`destrict: inconsistent "from" specification`)
		}
		if to.Hostname == "" || len(to.Keys) == 0 {
			return nil, errors.New(`destrict: incomplete "to" specification`)
		}
		out = append(out, Constraint{From: from, To: to})
	}
	if len(out) == 0 {
		return nil, errors.New("destrict: no constraints")
	}
	return out, nil
}

func parseHop(b []byte) (Hop, error) {
	var h struct {
		User, Hostname string
		Reserved       []byte
		Rest           []byte `ssh:"rest"`
	}
	if err := ssh.Unmarshal(b, &h); err != nil {
		return Hop{}, fmt.Errorf("destrict: hop: %w", err)
	}
	if len(h.Reserved) != 0 {
		return Hop{}, errors.New("destrict: unsupported hop extensions")
	}
	hop := Hop{User: h.User, Hostname: h.Hostname}
	rest := h.Rest
	for len(rest) > 0 {
		var k struct {
			Key  []byte
			IsCA bool
			Rest []byte `ssh:"rest"`
		}
		if err := ssh.Unmarshal(rest, &k); err != nil {
			return Hop{}, fmt.Errorf("destrict: hop key: %w", err)
		}
		pub, err := ssh.ParsePublicKey(k.Key)
		if err != nil {
			return Hop{}, fmt.Errorf("destrict: hop key: %w", err)
		}
		hop.Keys = append(hop.Keys, pub)
		hop.IsCA = append(hop.IsCA, k.IsCA)
		rest = k.Rest
	}
	return hop, nil
}

// Bind is one session bind on a connection, oldest first.
type Bind struct {
	HostKey    ssh.PublicKey
	Forwarding bool
}

// Permitted reports whether a key with constraints cs may be used on a
// connection with binds. user is the user a signature logs in as; "" when
// only listing. A key without constraints, or a connection without binds
// (local use), is always permitted.
func Permitted(cs []Constraint, binds []Bind, user string, now time.Time) bool {
	if len(cs) == 0 || len(binds) == 0 {
		return true
	}
	var from ssh.PublicKey
	for i, b := range binds {
		testUser := ""
		if i == len(binds)-1 {
			testUser = user
			if b.Forwarding && user != "" {
				return false // a signature on a forwarding hop
			}
		} else if !b.Forwarding {
			return false // forwarding through a bind made for signing
		}
		if !permittedHop(cs, from, b.HostKey, testUser, now) {
			return false
		}
		from = b.HostKey
	}
	// Listing through a forwarded connection: show the key only if it may
	// be used beyond the last host.
	if last := binds[len(binds)-1]; last.Forwarding && user == "" && !permittedHop(cs, last.HostKey, nil, "", now) {
		return false
	}
	return true
}

func permittedHop(cs []Constraint, from, to ssh.PublicKey, user string, now time.Time) bool {
	for _, c := range cs {
		if from == nil {
			if c.From.Hostname != "" || len(c.From.Keys) != 0 {
				continue
			}
		} else if !matchKeyHop(from, c.From, now) {
			continue
		}
		if to != nil && !matchKeyHop(to, c.To, now) {
			continue
		}
		if c.To.User != "" && user != "" {
			if ok, _ := path.Match(c.To.User, user); !ok {
				continue
			}
		}
		return true
	}
	return false
}

// matchKeyHop reports whether a host key is one of the hop's: the same
// plain key, or a host certificate signed by one of its CAs and valid for
// its host name.
func matchKeyHop(key ssh.PublicKey, h Hop, now time.Time) bool {
	cert, isCert := key.(*ssh.Certificate)
	for i, k := range h.Keys {
		if !isCert {
			if !h.IsCA[i] && bytes.Equal(key.Marshal(), k.Marshal()) {
				return true
			}
			continue
		}
		if !h.IsCA[i] || !bytes.Equal(cert.SignatureKey.Marshal(), k.Marshal()) {
			continue
		}
		if certValidForHost(cert, h.Hostname, now) {
			return true
		}
	}
	return false
}

func certValidForHost(cert *ssh.Certificate, host string, now time.Time) bool {
	if cert.CertType != ssh.HostCert {
		return false
	}
	// CheckCert verifies the CA's signature, the validity period and that
	// host is one of the principals.
	checker := ssh.CertChecker{Clock: func() time.Time { return now }}
	return checker.CheckCert(host, cert) == nil
}
