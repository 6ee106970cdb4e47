package cargoconfig

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// defaultPorts are the WHATWG URL standard's special schemes (which cargo's
// url crate follows) and their default ports; file has none.
var defaultPorts = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21", "file": ""}

// Canonical writes an index URL from a cargo config the way cargo writes it
// in a credential request: the scheme in lower case; for a special scheme
// (http, https, file, …) the host in lower case, no default port and at
// least "/" as the path; a sparse+ URL (not special: its host stays as
// written) must end in "/", as cargo insists. What cargo's URL parser would
// rewrite in ways this does not copy (characters it escapes, dot segments)
// is refused rather than guessed, so a stored key is never filed under a URL
// cargo does not send.
func Canonical(raw string) (string, error) {
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("\"<>\\^`{|}", c) >= 0 {
			return "", fmt.Errorf("index %q: character %q would be rewritten by cargo; give the index-url cargo sends with --registry-url", raw, c)
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || !strings.HasPrefix(raw[len(u.Scheme):], "://") {
		return "", fmt.Errorf("index %q is not an absolute URL", raw)
	}
	if _, ok := u.User.Password(); ok {
		return "", errors.New("registry URLs may not contain passwords")
	}
	scheme := strings.ToLower(u.Scheme)
	defPort, special := defaultPorts[scheme]
	sparse := strings.HasPrefix(scheme, "sparse+")

	authority := raw[len(u.Scheme)+len("://"):]
	tail := ""
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority, tail = authority[:i], authority[i:]
	}
	userinfo, hostport := "", authority
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo, hostport = authority[:i+1], authority[i+1:]
	}
	if userinfo == "@" {
		return "", fmt.Errorf("index %q: an empty user name would be dropped by cargo; give the index-url cargo sends with --registry-url", raw)
	}
	if strings.Contains(hostport, "%") {
		return "", fmt.Errorf("index %q: an escaped host would be rewritten by cargo; give the index-url cargo sends with --registry-url", raw)
	}
	// url.Parse checked the port is digits; Hostname and Port split
	// the host as written, brackets off an IPv6 address.
	host, port := (&url.URL{Host: hostport}).Hostname(), u.Port()
	if host == "" && scheme != "file" {
		return "", fmt.Errorf("index %q has no host", raw)
	}
	if special {
		host = strings.ToLower(host)
		if endsInNumber(host) {
			// cargo reads it as an IPv4 address and writes that as a
			// dotted quad: 127.1, 0x7f.0.0.1, 127.0.0.1. and 2130706433
			// all become 127.0.0.1.
			if a, err := netip.ParseAddr(host); err != nil || !a.Is4() || a.String() != host {
				return "", fmt.Errorf("index %q: IPv4 host %q would be rewritten by cargo; give the index-url cargo sends with --registry-url", raw, host)
			}
		}
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
		host = "[" + a.String() + "]"
	} else if strings.Contains(host, ":") {
		return "", fmt.Errorf("index %q: host %q", raw, host)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n > 65535 {
			return "", fmt.Errorf("index %q: port %q", raw, port)
		}
		port = ":" + strconv.Itoa(n)
		if special && port == ":"+defPort {
			port = ""
		}
	}

	path := tail
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	for seg := range strings.SplitSeq(path, "/") {
		if s := strings.ReplaceAll(strings.ToLower(seg), "%2e", "."); s == "." || s == ".." {
			return "", fmt.Errorf("index %q: dot segments in the path would be rewritten by cargo; give the index-url cargo sends with --registry-url", raw)
		}
	}
	if special && path == "" {
		path, tail = "/", "/"+tail
	}
	if sparse && !strings.HasSuffix(path, "/") {
		return "", fmt.Errorf("sparse registry url must end in a slash `/`: %s", raw)
	}
	return scheme + "://" + userinfo + host + port + tail, nil
}

// endsInNumber says whether the URL standard parses a special URL's host as
// an IPv4 address: its last dot-separated part (after one trailing dot) is
// decimal digits or a 0x hex number.
func endsInNumber(host string) bool {
	parts := strings.Split(host, ".")
	if len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	last := parts[len(parts)-1]
	if last == "" {
		return false
	}
	digits := "0123456789"
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		last, digits = last[2:], "0123456789abcdefABCDEF"
	}
	return strings.Trim(last, digits) == ""
}
