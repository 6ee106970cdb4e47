package policy

import "fmt"

// Offer says which hosts a key is for: on a connection whose destination
// is known (the ssh client bound it with session-bind), only keys meant for
// that destination are listed, so a server does not see every identity the
// user has, and MaxAuthTries is not spent on keys that cannot work there.
type Offer struct {
	N     int      // position in the file, from 1; 0: set on the key (vigil key hosts)
	Key   string   // "SHA256:..." fingerprint, or a glob over the key comment
	Hosts []string // globs over the verified destination name
}

// OfferRequest is one key on one bound connection.
type OfferRequest struct {
	KeyFingerprint, KeyComment string
	// Host is the verified destination name; "" when the destination's key
	// is not in known_hosts (no host pattern can match it then).
	Host string
}

// Offered reports whether the key may be offered to (listed for, and used
// on) the destination, and why, for vigil why-not and the audit log. A key
// that no offer names is offered unless defaultNone.
func Offered(offers []Offer, defaultNone bool, req OfferRequest) (bool, string) {
	named := false
	for _, o := range offers {
		if !o.matchesKey(req) {
			continue
		}
		named = true
		if req.Host == "" {
			continue
		}
		for _, h := range o.Hosts {
			if globOrEqual(h, req.Host) {
				listed := h
				if h != req.Host {
					listed = fmt.Sprintf("%s, which matches %s", h, req.Host)
				}
				if o.N == 0 {
					return true, "the key's hosts (vigil key hosts) list " + listed
				}
				return true, fmt.Sprintf("offer %d lists %s", o.N, listed)
			}
		}
	}
	switch {
	case named && req.Host == "":
		return false, "the key is meant for certain hosts, and this destination is not verified (not in known_hosts)"
	case named:
		return false, fmt.Sprintf("no offer lists %s for this key", req.Host)
	case defaultNone:
		return false, "no offer names the key, and offer_default is \"none\""
	}
	return true, "no offer names the key: offered everywhere (offer_default is \"all\")"
}

func (o Offer) matchesKey(req OfferRequest) bool {
	if o.Key == "" {
		return true
	}
	if isFingerprint(o.Key) {
		return o.Key == req.KeyFingerprint
	}
	return globOrEqual(o.Key, req.KeyComment)
}

// Validate checks an offer on its own.
func (o Offer) Validate() error {
	if len(o.Hosts) == 0 {
		return fmt.Errorf("hosts is empty: a key offered nowhere is better removed")
	}
	for _, h := range o.Hosts {
		if h == "" {
			return fmt.Errorf("an empty host pattern")
		}
	}
	return nil
}
