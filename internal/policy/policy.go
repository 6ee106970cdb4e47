// Package policy decides what happens to a signature request: allow it
// silently, deny it, or ask a person. It is a pure function of the rules and
// the facts of one request; it reads no clock, no files and no processes.
package policy

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Action is what a rule (or the default) says to do.
type Action int

const (
	Ask Action = iota // the default when no rule matches
	Allow
	Deny
)

func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return "ask"
}

// ParseAction reads "allow", "ask" or "deny".
func ParseAction(s string) (Action, error) {
	switch s {
	case "allow":
		return Allow, nil
	case "ask":
		return Ask, nil
	case "deny":
		return Deny, nil
	}
	return Ask, fmt.Errorf("action %q: want allow, ask or deny", s)
}

// Purposes a rule can name. SSHSIG namespaces other than git and file are
// "namespace:NAME".
const (
	PurposeAny     = "any"
	PurposeLogin   = "login"
	PurposeGit     = "git"
	PurposeFile    = "file"
	PurposeUnknown = "unknown"
	namespacePref  = "namespace:"
)

// Credential purposes: what vigil's broker releases a registry token or a
// git credential for. A rule matches a credential request only if it names
// that very purpose: a rule with no purpose (or "any") is about signatures,
// and a catch-all allow written for them must not hand out tokens too.
const (
	PurposeCargoRead     = "cargo-read"
	PurposeCargoPublish  = "cargo-publish"
	PurposeCargoYank     = "cargo-yank"
	PurposeCargoUnyank   = "cargo-unyank"
	PurposeCargoOwners   = "cargo-owners"
	PurposeGitCredential = "git-credential"
)

// IsCredential reports whether p is one of the credential purposes.
func IsCredential(p string) bool {
	switch p {
	case PurposeCargoRead, PurposeCargoPublish, PurposeCargoYank, PurposeCargoUnyank, PurposeCargoOwners, PurposeGitCredential:
		return true
	}
	return false
}

func isCargo(p string) bool { return IsCredential(p) && p != PurposeGitCredential }

// Rule is one [[rule]] of the configuration. Empty fields match anything,
// except Forwarded: a rule matches forwarded requests only if it says so.
type Rule struct {
	N         int    // position in the file, from 1, for messages
	Key       string // "SHA256:..." fingerprint, or a glob over the key comment
	Exe       string // absolute path of the calling program
	Purpose   string // login | git | file | namespace:NAME | unknown | any, or a credential purpose
	Host      string // glob over the verified destination name (logins), or the credential's host
	Registry  string // glob over a cargo registry's index-url (cargo purposes only)
	Forwarded bool   // true: matches forwarded requests only; false: local only
	Action    Action
}

// Validate checks a rule on its own.
func (r Rule) Validate() error {
	if r.Exe != "" && !strings.HasPrefix(r.Exe, "/") {
		return fmt.Errorf("exe %q is not an absolute path", r.Exe)
	}
	if err := ValidatePurpose(r.Purpose); err != nil {
		return err
	}
	if r.Host != "" && r.Purpose != PurposeLogin && !IsCredential(r.Purpose) {
		return fmt.Errorf("host %q needs purpose = \"login\" or a credential purpose (cargo-read, git-credential, ...): only they have a host", r.Host)
	}
	if r.Registry != "" && !isCargo(r.Purpose) {
		return fmt.Errorf("registry %q needs a cargo purpose (cargo-read, cargo-publish, cargo-yank, cargo-unyank or cargo-owners)", r.Registry)
	}
	if IsCredential(r.Purpose) {
		if r.Key != "" {
			return fmt.Errorf("key %q: purpose %q releases a credential, not a key's signature", r.Key, r.Purpose)
		}
		if r.Forwarded {
			return fmt.Errorf("forwarded: purpose %q: credentials are never released to a forwarded agent", r.Purpose)
		}
	}
	return nil
}

// ValidatePurpose checks a purpose name.
func ValidatePurpose(p string) error {
	switch p {
	case "", PurposeAny, PurposeLogin, PurposeGit, PurposeFile, PurposeUnknown:
		return nil
	}
	if IsCredential(p) {
		return nil
	}
	if ns, ok := strings.CutPrefix(p, namespacePref); ok && ns != "" {
		return nil
	}
	return fmt.Errorf("purpose %q: want login, git, file, namespace:NAME, unknown or any, "+
		"or for credentials cargo-read, cargo-publish, cargo-yank, cargo-unyank, cargo-owners or git-credential", p)
}

func isFingerprint(s string) bool { return strings.HasPrefix(s, "SHA256:") }

// Request is what policy knows about one signature request. Every field
// must come from something verified: the executable from the kernel, the
// host from a host key the server signed with, never from what the caller
// says about itself.
type Request struct {
	KeyFingerprint string
	KeyComment     string
	Exe            string // "" when the calling program is unknown
	Purpose        string // login, git, file, namespace:NAME or unknown, or a credential purpose
	Host           string // verified destination name, or the credential's host; "" when not known
	Registry       string // a cargo registry's index-url
	Forwarded      bool
}

// PurposeOf names an SSHSIG namespace as a purpose.
func PurposeOf(namespace string) string {
	switch namespace {
	case "git":
		return PurposeGit
	case "file":
		return PurposeFile
	}
	return namespacePref + namespace
}

// Decision is the outcome and the rule that made it (nil: the default).
type Decision struct {
	Action Action
	Rule   *Rule
	// Text is Rule.String(), made once per rule set rather than on every
	// request, for logs; "" for the default.
	Text string
}

// Decide returns the action of the first rule that matches, or Ask. It is
// the definition; the agent decides with a RuleSet, which gives the same
// answer faster.
func Decide(rules []Rule, req Request) Decision {
	for i := range rules {
		if rules[i].Matches(req) {
			return Decision{Action: rules[i].Action, Rule: &rules[i], Text: rules[i].String()}
		}
	}
	return Decision{Action: Ask}
}

// Matches reports whether the rule applies to req.
func (r *Rule) Matches(req Request) bool {
	if r.Forwarded != req.Forwarded || IsCredential(r.Purpose) != IsCredential(req.Purpose) {
		return false
	}
	if r.Key != "" {
		if isFingerprint(r.Key) {
			if r.Key != req.KeyFingerprint {
				return false
			}
		} else if !globOrEqual(r.Key, req.KeyComment) {
			return false
		}
	}
	if r.Exe != "" && (req.Exe == "" || r.Exe != req.Exe) {
		return false
	}
	if r.Purpose != "" && r.Purpose != PurposeAny && r.Purpose != req.Purpose {
		return false
	}
	if r.Host != "" {
		if req.Host == "" {
			return false // an unverified destination never matches a host rule
		}
		if !globOrEqual(r.Host, req.Host) {
			return false
		}
	}
	if r.Registry != "" && (req.Registry == "" || !globOrEqual(r.Registry, req.Registry)) {
		return false
	}
	return true
}

// globOrEqual matches a pattern where "*" stands for any run of characters
// and "?" for one, and every other character for itself: no character
// classes, because "[127.0.0.1]:2222" is how known_hosts names a host on
// another port.
func globOrEqual(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if globOrEqual(pattern[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			_, size := utf8.DecodeRuneInString(s)
			if size == 0 {
				return false
			}
			s = s[size:]
		default:
			if len(s) == 0 || s[0] != pattern[0] {
				return false
			}
			s = s[1:]
		}
		pattern = pattern[1:]
	}
	return s == ""
}

// String renders the rule as it was understood, for vigil check and logs.
func (r Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rule %d: %s", r.N, r.Action)
	field := func(name, v, any string) {
		if v == "" {
			v = any
		}
		fmt.Fprintf(&b, " %s=%s", name, v)
	}
	credential := IsCredential(r.Purpose)
	if !credential {
		field("key", r.Key, "any")
	}
	field("exe", r.Exe, "any")
	if r.Purpose == "" || r.Purpose == PurposeAny {
		// Such a rule never releases a registry token or git credential.
		b.WriteString(" purpose=any-signature")
	} else {
		field("purpose", r.Purpose, "")
	}
	if r.Host != "" {
		field("host", r.Host, "")
	}
	if r.Registry != "" {
		field("registry", r.Registry, "")
	}
	switch {
	case credential:
		// Credentials are never released to a forwarded agent.
	case r.Forwarded:
		b.WriteString(" path=forwarded-only")
	default:
		b.WriteString(" path=local-only")
	}
	return b.String()
}
