package git

import (
	"errors"
	"strings"

	"github.com/vigil-agent/vigil/internal/credential"
)

// ParseURL splits a url= value as git's credential_from_url does:
// "proto://[user[:password]@]host[/path]". The protocol is required; the
// host ends at the first '/', '?' or '#'; user, password, host and path are
// percent-decoded; the path loses its leading and trailing slashes. A part
// that decodes to a newline is an error, and so is a URL without "://".
// Errors never quote the URL, which may hold a password.
func ParseURL(raw string) (*Credential, error) {
	protoEnd := strings.Index(raw, "://")
	if protoEnd <= 0 {
		return nil, errors.New("url has no scheme")
	}
	c := &Credential{Protocol: raw[:protoEnd]}
	rest := raw[protoEnd+3:]
	at := strings.IndexByte(rest, '@')
	colon := strings.IndexByte(rest, ':')
	slash := strings.IndexAny(rest, "/?#")
	if slash < 0 {
		slash = len(rest)
	}
	host := rest
	switch {
	case at < 0 || slash <= at:
		// proto://host/...
	case colon < 0 || at <= colon:
		// proto://user@host/...
		c.Username = percentDecode(rest[:at])
		host = rest[at+1:]
		slash -= at + 1
	default:
		// proto://user:password@host/...
		c.Username = percentDecode(rest[:colon])
		c.Password = credential.UncheckedToken(percentDecode(rest[colon+1 : at]))
		host = rest[at+1:]
		slash -= at + 1
	}
	c.Host = percentDecode(host[:slash])
	path := strings.TrimLeft(host[slash:], "/")
	if path != "" {
		path = percentDecode(path)
		for len(path) > 1 && path[len(path)-1] == '/' {
			path = path[:len(path)-1]
		}
		c.Path = path
	}
	for _, v := range []string{c.Protocol, c.Host, c.Path, c.Username, c.Password.Reveal()} {
		if strings.IndexByte(v, '\n') >= 0 {
			return nil, errors.New("url holds a newline in one of its parts")
		}
	}
	return c, nil
}

// percentDecode decodes %XX escapes as git's url_decode_mem does: '+' stays,
// a '%' not followed by two hex digits stays, and so does %00.
func percentDecode(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if v := hi<<4 | lo; ok1 && ok2 && v != 0 {
				b = append(b, v)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
