package knownhosts

import (
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// caSignatureAlgorithms is OpenSSH's default CASignatureAlgorithms: a
// certificate signed with anything else (notably ssh-rsa, SHA-1) is refused.
var caSignatureAlgorithms = map[string]bool{
	ssh.KeyAlgoED25519:    true,
	ssh.KeyAlgoECDSA256:   true,
	ssh.KeyAlgoECDSA384:   true,
	ssh.KeyAlgoECDSA521:   true,
	ssh.KeyAlgoSKED25519:  true,
	ssh.KeyAlgoSKECDSA256: true,
	ssh.KeyAlgoRSASHA512:  true,
	ssh.KeyAlgoRSASHA256:  true,
}

// found is one name a key is verified for.
type found struct {
	name      string
	file      string
	line      int
	authority bool
}

// lookup is Lookup over parsed files, at time now.
func lookup(key ssh.PublicKey, files []*hostFile, candidates []string, now time.Time) Result {
	if key == nil {
		return Result{}
	}
	// A key that wraps another (agent.Key, say) hides a certificate from
	// the type switch below: work on the parsed wire form.
	if c, ok := key.(*ssh.Certificate); ok && c == nil {
		return Result{}
	} else if !ok {
		if k, err := ssh.ParsePublicKey(key.Marshal()); err == nil {
			key = k
		}
	}
	plain := plainBlob(key)
	if plain == "" {
		return Result{}
	}
	cert, _ := key.(*ssh.Certificate)
	caKey := ""
	if cert != nil && cert.SignatureKey != nil {
		caKey = plainBlob(cert.SignatureKey)
	}

	// A revoked key, or a certificate from a revoked CA, is never named,
	// whatever else the files say about it.
	for _, f := range files {
		for i := range f.entries {
			e := &f.entries[i]
			if e.marker == markRevoked && (e.plain == plain || (caKey != "" && e.plain == caKey)) {
				return Result{Revoked: true, File: f.path, Line: e.line}
			}
		}
	}

	cands := cleanCandidates(candidates)
	byCand := make([]*found, len(cands)) // the first line verifying each candidate
	var others []found                   // names not among the candidates, in file order
	seen := map[string]bool{}
	add := func(ci int, f found) {
		if ci >= 0 {
			if byCand[ci] == nil {
				byCand[ci] = &f
			}
			return
		}
		if !seen[f.name] {
			seen[f.name] = true
			others = append(others, f)
		}
	}
	candIndex := func(name string) int { return slices.Index(cands, name) }

	// A host certificate, through a @cert-authority line for the name.
	if cert != nil && caKey != "" && certSound(cert, now) {
		principals := principalNames(cert)
		for _, f := range files {
			for i := range f.entries {
				e := &f.entries[i]
				if e.marker != markCA || e.plain != caKey {
					continue
				}
				for ci, c := range cands {
					if e.matches(c) && certNames(cert, certHost(c)) {
						add(ci, found{c, f.path, e.line, true})
					}
				}
				for _, p := range principals {
					if e.matches(p) {
						add(candIndex(p), found{p, f.path, e.line, true})
					}
				}
			}
		}
	}

	// The key itself (for a certificate, the key it certifies, which ssh
	// falls back to when no CA vouches for it) in plain entries.
	for _, f := range files {
		for i := range f.entries {
			e := &f.entries[i]
			if e.marker != markNone || e.isCert || e.plain != plain || e.bad {
				continue
			}
			for ci, c := range cands {
				if e.matches(c) {
					add(ci, found{c, f.path, e.line, false})
				}
			}
			for _, n := range e.names {
				add(candIndex(n), found{n, f.path, e.line, false})
			}
		}
	}

	var r Result
	for _, f := range byCand {
		if f != nil {
			r.Names = append(r.Names, f.name)
			if r.Name == "" {
				r.Name, r.File, r.Line, r.Authority = f.name, f.file, f.line, f.authority
			}
		}
	}
	for _, f := range others {
		r.Names = append(r.Names, f.name)
		if r.Name == "" {
			r.Name, r.File, r.Line, r.Authority = f.name, f.file, f.line, f.authority
		}
	}
	r.Verified = r.Name != ""

	// A candidate listed only with other keys: ssh's "host key changed".
	for ci, c := range cands {
		if byCand[ci] != nil {
			continue
		}
		for _, f := range files {
			for i := range f.entries {
				e := &f.entries[i]
				if e.marker == markNone && !e.isCert && e.plain != plain && e.matches(c) {
					r.Changed = true
					return r
				}
			}
		}
	}
	return r
}

// cleanCandidates lowercases candidate names as ssh lowercases host names,
// and drops empty, overlong and repeated ones.
func cleanCandidates(candidates []string) []string {
	var out []string
	for _, c := range candidates {
		if len(out) == maxCandidates {
			break
		}
		if c == "" || len(c) > maxNameLen+len("[]:65535") || strings.IndexByte(c, 0) >= 0 {
			continue
		}
		c = asciiLower(c)
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// certHost is the host name ssh checks a certificate's principals against:
// a candidate without the "[...]:port" that known_hosts lines carry.
func certHost(candidate string) string {
	if strings.HasPrefix(candidate, "[") {
		if i := strings.LastIndex(candidate, "]:"); i > 0 {
			return candidate[1:i]
		}
	}
	return candidate
}

// certSound checks what ssh checks of a host certificate apart from its
// principals (sshkey_cert_check_host): a host certificate, no critical
// options, a signature by its CA with an allowed algorithm, valid now.
func certSound(cert *ssh.Certificate, now time.Time) bool {
	if cert.CertType != ssh.HostCert || len(cert.CriticalOptions) > 0 ||
		cert.Signature == nil || !caSignatureAlgorithms[cert.Signature.Format] {
		return false
	}
	principal := ""
	if len(cert.ValidPrincipals) > 0 {
		principal = cert.ValidPrincipals[0]
	}
	checker := ssh.CertChecker{Clock: func() time.Time { return now }}
	return checker.CheckCert(principal, cert) == nil
}

// certNames reports whether cert is valid for host: it lists host among its
// principals (exactly: OpenSSH 9.2 does not expand wildcards in host
// certificate principals), or lists no principals at all.
func certNames(cert *ssh.Certificate, host string) bool {
	if len(cert.ValidPrincipals) == 0 {
		return true
	}
	return slices.Contains(cert.ValidPrincipals, host)
}

// principalNames returns the principals of cert that ssh could match: those
// that read as host names (lowercase, since ssh lowercases the host it
// checks, and without wildcards, which OpenSSH 9.2 takes literally).
func principalNames(cert *ssh.Certificate) []string {
	var names []string
	for _, p := range cert.ValidPrincipals {
		if len(names) == maxCandidates {
			break
		}
		if p == "" || len(p) > maxNameLen || asciiLower(p) != p ||
			strings.ContainsAny(p, "*?,!\x00") || slices.Contains(names, p) {
			continue
		}
		names = append(names, p)
	}
	return names
}
