package knownhosts

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

type marker uint8

const (
	markNone    marker = iota
	markCA             // @cert-authority
	markRevoked        // @revoked
)

// entry is one usable line of a known_hosts file.
type entry struct {
	marker marker
	hosts  string      // the host field as written: patterns, or |1|salt|hash
	hash   *hashedName // set for a hashed host field
	bad    bool        // the host field can never match (malformed hash)
	plain  string      // wire form of the key, or of the key a certificate certifies
	isCert bool        // the line's key is a certificate
	names  []string    // for a plain host field: the literal names it lists, lowercased
	line   int
}

// parse reads a known_hosts file. Lines that ssh would skip are skipped.
func parse(data []byte) []entry {
	var entries []entry
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if e, ok := parseLine(line); ok {
			e.line = n
			entries = append(entries, e)
		}
	}
	return entries
}

// parseLine follows OpenSSH's hostkeys_foreach_file: optional marker, host
// field, key. The key is parsed by x/crypto, which, like sshkey_read, checks
// that the written key type matches the encoded one.
func parseLine(line []byte) (entry, bool) {
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i] // C reads a line only up to a NUL
	}
	rest := bytes.TrimLeft(line, " \t")
	if len(rest) == 0 || rest[0] == '#' {
		return entry{}, false
	}
	var e entry
	if rest[0] == '@' {
		// OpenSSH's check_markers ends a marker at the first space, or at
		// the first tab only if the line has no space: "@cert-authority\t"
		// followed by a space later is an invalid marker, and ssh skips the
		// line. A @revoked line is honoured either way.
		end := bytes.IndexByte(rest, ' ')
		if end < 0 {
			end = bytes.IndexByte(rest, '\t')
		}
		tab := bytes.IndexAny(rest, " \t")
		switch {
		case end > 0 && string(rest[:end]) == "@cert-authority":
			e.marker = markCA
		case tab > 0 && string(rest[:tab]) == "@revoked":
			e.marker, end = markRevoked, tab
		default:
			return entry{}, false
		}
		rest = bytes.TrimLeft(rest[end:], " \t")
		// One marker only: ssh skips "@cert-authority @x ..." and also
		// "@revoked @x KEY". A revocation is kept anyway (found by
		// FuzzLookup): it names no host, and a key its owner meant to
		// revoke is safer revoked than verified.
		if len(rest) == 0 || rest[0] == '@' && e.marker != markRevoked {
			return entry{}, false
		}
	}
	end := bytes.IndexAny(rest, " \t")
	if end <= 0 {
		return entry{}, false
	}
	e.hosts = string(rest[:end])

	// The key is parsed here, not by ssh.ParseKnownHosts: that takes a
	// host field of "#" for a comment and drops the line, where ssh reads
	// "@revoked # KEY" as revoking KEY (found by FuzzLookup).
	key := parseKeyField(rest[end:])
	if key == nil {
		return entry{}, false
	}
	e.plain = plainBlob(key)
	if e.plain == "" {
		return entry{}, false
	}
	_, e.isCert = key.(*ssh.Certificate)

	switch {
	case len(e.hosts) > maxHostField:
		e.bad = true // still counts as a @revoked line
	case e.hosts[0] == '|':
		e.hash = parseHashed(e.hosts)
		e.bad = e.hash == nil
	default:
		e.names = literalNames(e.hosts)
	}
	return e, true
}

// plainBlob is the wire form of k, or of the key inside certificate k: the
// key material that OpenSSH's sshkey_equal_public compares.
func plainBlob(k ssh.PublicKey) string {
	if c, ok := k.(*ssh.Certificate); ok {
		if c == nil {
			return ""
		}
		k = c.Key
	}
	if k == nil {
		return ""
	}
	return string(k.Marshal())
}

// matches reports whether the entry's host field matches name, which must
// already be lowercased as ssh lowercases host names.
func (e *entry) matches(name string) bool {
	if e.bad {
		return false
	}
	if e.hash != nil {
		return e.hash.matches(name)
	}
	return matchList(name, e.hosts) == 1
}

// hashedName is a host field written by HashKnownHosts:
// |1|base64(salt)|base64(HMAC-SHA1(salt, name)).
type hashedName struct {
	salt, hash []byte
}

const hashMagic = "|1|"

// parseHashed decodes a hashed host field. OpenSSH compares the whole field
// with the encoding of the name's hash, so a field that is not exactly that
// canonical encoding can never match, and is refused here.
func parseHashed(field string) *hashedName {
	rest, ok := strings.CutPrefix(field, hashMagic)
	if !ok {
		return nil
	}
	salt64, hash64, ok := strings.Cut(rest, "|")
	if !ok || salt64 == "" || len(salt64) > 1024 {
		return nil
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil || len(salt) != sha1.Size {
		return nil
	}
	hash, err := base64.StdEncoding.DecodeString(hash64)
	if err != nil || len(hash) != sha1.Size ||
		base64.StdEncoding.EncodeToString(salt) != salt64 ||
		base64.StdEncoding.EncodeToString(hash) != hash64 {
		return nil
	}
	return &hashedName{salt: salt, hash: hash}
}

// matches reports whether name hashes to the field, as OpenSSH's
// match_maybe_hashed checks.
func (h *hashedName) matches(name string) bool {
	mac := hmac.New(sha1.New, h.salt)
	mac.Write([]byte(name))
	var sum [sha1.Size]byte
	return hmac.Equal(mac.Sum(sum[:0]), h.hash)
}

// maxHostField bounds the host field of a line that can name a key: a
// longer one never matches, which keeps a hostile file from making lookups
// slow. (OpenSSH has no such limit; real fields are far shorter.)
const maxHostField = 16 << 10

// maxSubpattern is the longest pattern OpenSSH's match_pattern_list accepts;
// a longer one makes the whole list fail to match.
const maxSubpattern = 1022

// matchList is OpenSSH's match_pattern_list with dolower set: 1 if name
// matches a positive pattern in the comma-separated list and no negated one,
// -1 if it matches a negated one, 0 otherwise. Patterns are lowercased (ASCII
// only, like C's tolower); name must be lowercased by the caller.
func matchList(name, list string) int {
	positive := 0
	for list != "" {
		sub := list
		if i := strings.IndexByte(list, ','); i >= 0 {
			sub, list = list[:i], list[i+1:]
		} else {
			list = ""
		}
		negated := strings.HasPrefix(sub, "!")
		if negated {
			sub = sub[1:]
		}
		if len(sub) > maxSubpattern {
			return 0
		}
		if globMatch(asciiLower(sub), name) {
			if negated {
				return -1
			}
			positive = 1
		}
	}
	return positive
}

// globMatch matches name against pattern, where '*' matches any run of bytes
// and '?' any one byte, as OpenSSH's match_pattern does, but in time
// O(len(pattern)*len(name)) rather than exponential.
func globMatch(pattern, name string) bool {
	px, nx := 0, 0
	nextPx, nextNx := 0, 0
	for px < len(pattern) || nx < len(name) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				nextPx, nextNx = px, nx+1
				px++
				continue
			case '?':
				if nx < len(name) {
					px++
					nx++
					continue
				}
			default:
				if nx < len(name) && name[nx] == c {
					px++
					nx++
					continue
				}
			}
		}
		if 0 < nextNx && nextNx <= len(name) {
			px, nx = nextPx, nextNx
			continue
		}
		return false
	}
	return true
}

// literalNames returns the names in a plain host field that are written out
// rather than as a pattern, lowercased, and that the field as a whole
// matches: a name is cancelled by a negated pattern that matches it, and
// every name by a pattern too long for OpenSSH.
func literalNames(list string) []string {
	subs := strings.Split(list, ",")
	var negated []string
	for _, sub := range subs {
		if len(strings.TrimPrefix(sub, "!")) > maxSubpattern {
			return nil
		}
		if strings.HasPrefix(sub, "!") {
			negated = append(negated, asciiLower(sub[1:]))
		}
	}
	var names []string
	for _, sub := range subs {
		if sub == "" || sub[0] == '!' || sub[0] == '|' || strings.ContainsAny(sub, "*?") {
			continue
		}
		name := asciiLower(sub)
		if !slices.ContainsFunc(negated, func(neg string) bool { return globMatch(neg, name) }) {
			names = append(names, name)
		}
	}
	return names
}

// asciiLower lowercases ASCII letters only, as ssh does; other bytes,
// including those of UTF-8 sequences, are kept.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// parseKeyField parses "TYPE BASE64 [COMMENT]", as the rest of a
// known_hosts line after the host field, or returns nil.
func parseKeyField(b []byte) ssh.PublicKey {
	// Fields end at a space or tab only, as in sshkey_read; inside the
	// base64 blob, b64_pton skips any other white space ("\r", "\v",
	// "\f"), so ssh reads a key with a "\r" in it, and so must a
	// revocation here (found by FuzzLookup).
	f := bytes.FieldsFunc(b, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(f) < 2 {
		return nil
	}
	b64 := bytes.Map(func(r rune) rune {
		switch r {
		case '\r', '\n', '\v', '\f':
			return -1
		}
		return r
	}, f[1])
	blob, err := base64.StdEncoding.DecodeString(string(b64))
	if err != nil {
		return nil
	}
	key, err := ssh.ParsePublicKey(blob)
	if err != nil || key.Type() != string(f[0]) {
		return nil
	}
	return key
}
