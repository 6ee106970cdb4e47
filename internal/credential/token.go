// Package credential holds what the credential codecs share: Token, a secret
// string that keeps itself out of logs, and ValidToken, the rule a token must
// meet before it is handed to cargo or put in an HTTP header.
//
// The codecs themselves are in subpackages, each pure (bytes in, values out,
// no sockets, no processes):
//   - cargo: cargo's credential-provider protocol (JSON lines, --cargo-plugin)
//   - git: git's credential-helper protocol (key=value lines)
//   - paseto: PASETO v3.public tokens and PASERK k3 keys, as cargo's
//     asymmetric-token RFC 3231 uses them
package credential

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
)

// Redacted is what a Token prints as, whatever the verb.
const Redacted = "[redacted]"

// MaxTokenLen bounds a token's length in bytes. Registry tokens and PASETOs are
// a few hundred bytes; anything near this is not a token.
const MaxTokenLen = 64 << 10

// ErrInvalidToken is wrapped by every error ValidToken and NewToken return.
var ErrInvalidToken = errors.New("invalid token")

// ValidToken reports whether s may be used as a token: non-empty, at most
// MaxTokenLen bytes, printable ASCII only (0x20 to 0x7E: no newline, tab, NUL
// or other control byte, nothing beyond ASCII), and no leading or trailing
// space (an HTTP header would lose it). Cargo sends a token verbatim as the
// Authorization header and only checks it on API calls, not on index requests,
// so a provider has to check it itself. The error never contains s.
func ValidToken(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	if len(s) > MaxTokenLen {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidToken, len(s), MaxTokenLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: byte %d of %d is not printable ASCII", ErrInvalidToken, i+1, len(s))
		}
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return fmt.Errorf("%w: leading or trailing space", ErrInvalidToken)
	}
	return nil
}

// Token is a secret string: a registry token, a PASETO, a git password, a
// PASERK secret key. It prints as Redacted through fmt (every verb, %#v
// included) and log/slog, and refuses to be marshalled as text or JSON, so it
// reaches a log or an error message only through an explicit Reveal.
//
// The zero Token is empty. Tokens are immutable and safe to copy.
type Token struct {
	// A pointer, so that even fmt's reflection on a struct holding a Token in
	// an unexported field prints an address, not the secret.
	s *string
}

// NewToken returns s as a Token after checking it with ValidToken.
func NewToken(s string) (Token, error) {
	if err := ValidToken(s); err != nil {
		return Token{}, err
	}
	return Token{s: &s}, nil
}

// UncheckedToken returns s as a Token without checking it. It is for secrets
// that follow another protocol's rules (a git password may hold any byte but
// NUL and newline); the caller checks those.
func UncheckedToken(s string) Token {
	if s == "" {
		return Token{}
	}
	return Token{s: &s}
}

// Reveal returns the secret. Call it only where the secret has to leave the
// process: on the wire, into a signature, into a key store.
func (t Token) Reveal() string {
	if t.s == nil {
		return ""
	}
	return *t.s
}

// IsZero reports whether t is empty.
func (t Token) IsZero() bool { return t.s == nil || *t.s == "" }

// Len returns the secret's length in bytes, which is safe to log.
func (t Token) Len() int {
	if t.s == nil {
		return 0
	}
	return len(*t.s)
}

// Equal compares two tokens in time that depends only on their lengths.
func (t Token) Equal(u Token) bool {
	return subtle.ConstantTimeCompare([]byte(t.Reveal()), []byte(u.Reveal())) == 1
}

// String returns Redacted.
func (t Token) String() string { return Redacted }

// GoString returns Redacted, for %#v.
func (t Token) GoString() string { return Redacted }

// Format prints Redacted for every verb, so that not even a wrong verb
// (fmt's "%!d(...)" fallback prints the raw value) shows the secret.
func (t Token) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte(Redacted))
}

// LogValue returns Redacted, for log/slog.
func (t Token) LogValue() slog.Value { return slog.StringValue(Redacted) }

var errMarshal = errors.New("credential: a Token is not marshalled; call Reveal where the secret must go out")

// MarshalText refuses, so that encoding/json, TOML and the like never write
// the secret by accident.
func (t Token) MarshalText() ([]byte, error) { return nil, errMarshal }

// MarshalJSON refuses, like MarshalText.
func (t Token) MarshalJSON() ([]byte, error) { return nil, errMarshal }
