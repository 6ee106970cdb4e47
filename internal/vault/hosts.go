package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"unicode"
	"unicode/utf8"
)

// hostsName is the file that says which servers each stored key is for
// (vigil key hosts): JSON, fingerprint → host patterns. Host names are not
// secret, so it is plain and needs no passphrase; like every store file it
// is 0600 in the 0700 store and written atomically.
const hostsName = "vault.hosts"

// Hosts returns the host patterns set for each key, by fingerprint. A
// missing file is no hosts; a damaged one is an error naming it.
func (v *Vault) Hosts() (map[string][]string, error) {
	data, err := readFile(v.path(hostsName))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vault: %s: %w", hostsName, err)
	}
	hosts := map[string][]string{}
	if err := json.Unmarshal(data, &hosts); err != nil {
		return nil, fmt.Errorf("vault: %s: %w: %v", hostsName, ErrCorrupt, err)
	}
	return hosts, nil
}

// SetHosts sets the hosts the key Find(query) finds is for: a server bound
// to another destination is not offered the key. No hosts clears them (the
// key is then offered as offer_default says). It returns the key.
func (v *Vault) SetHosts(query string, hosts []string) (Entry, error) {
	e, err := v.Find(query)
	if err != nil {
		return Entry{}, err
	}
	for _, h := range hosts {
		if err := checkHost(h); err != nil {
			return Entry{}, fmt.Errorf("vault: %w", err)
		}
	}
	unlock, err := v.writeLock()
	if err != nil {
		return Entry{}, err
	}
	defer unlock()
	all, err := v.Hosts()
	if err != nil {
		return Entry{}, err
	}
	if len(hosts) == 0 {
		delete(all, e.Fingerprint)
	} else {
		all[e.Fingerprint] = slices.Clone(hosts)
	}
	data, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return Entry{}, err
	}
	if err := writeAtomic(v.dir, hostsName, append(data, '\n')); err != nil {
		return Entry{}, fmt.Errorf("vault: %w", err)
	}
	return e, nil
}

// checkHost refuses a host pattern no server can be named by and that
// would garble a terminal when shown: empty, invalid UTF-8, or holding a
// control character, as comments are refused.
func checkHost(h string) error {
	if h == "" {
		return errors.New("an empty host pattern")
	}
	if !utf8.ValidString(h) {
		return fmt.Errorf("host pattern %q is not valid UTF-8", h)
	}
	for _, r := range h {
		if unicode.IsControl(r) {
			return fmt.Errorf("host pattern %q contains control character %U", h, r)
		}
	}
	return nil
}
