// Package cargo encodes and decodes cargo's credential-provider protocol
// (stable since Cargo 1.74): the JSON lines a provider run as
// `provider --cargo-plugin` exchanges with cargo over its stdin and stdout.
//
// One run is one exchange: the provider writes a Hello, cargo writes one
// Request, the provider writes one response (EncodeResponse or EncodeError),
// cargo closes stdin, and the provider exits 0. Nothing else may reach stdout.
//
// Decoding follows cargo's own serde rules (required fields, unknown fields
// ignored, unknown kinds and operations kept so they can be answered with
// operation-not-supported), and is stricter where a signing broker has to be:
// keys match exactly and only once, crate names and versions carry no control
// characters, cksum is 64 lowercase hex digits, a login token passes
// credential.ValidToken. Encoding writes exactly the bytes cargo's own
// serde_json would, field order included.
package cargo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode"
)

// PluginFlag is the only command-line argument cargo gives a provider.
const PluginFlag = "--cargo-plugin"

// ProtocolVersion is the protocol version this package speaks.
const ProtocolVersion = 1

// MaxLine bounds one protocol line. A request carries at most a registry's
// 401 response headers and the provider's arguments.
const MaxLine = 1 << 20

// Kind is the action cargo asks for: a request's "kind".
type Kind string

// The kinds cargo 1.95 sends. Any other value is kept as it came, and should
// be answered with OperationNotSupported.
const (
	KindGet    Kind = "get"
	KindLogin  Kind = "login"
	KindLogout Kind = "logout"
)

// Known reports whether k is get, login or logout.
func (k Kind) Known() bool {
	return k == KindGet || k == KindLogin || k == KindLogout
}

// Operation is what a get request wants the token for: its "operation".
type Operation string

// The operations cargo 1.95 sends with KindGet. Any other value is kept as it
// came, and should be answered with OperationNotSupported.
const (
	OpRead    Operation = "read"
	OpPublish Operation = "publish" // with Name, Vers and Cksum
	OpYank    Operation = "yank"    // with Name and Vers
	OpUnyank  Operation = "unyank"  // with Name and Vers
	OpOwners  Operation = "owners"  // with Name
)

// Known reports whether o is one of the five operations above.
func (o Operation) Known() bool {
	switch o {
	case OpRead, OpPublish, OpYank, OpUnyank, OpOwners:
		return true
	}
	return false
}

// Mutation reports whether o changes the registry (everything but read).
// It is also the "mutation" claim of an asymmetric token.
func (o Operation) Mutation() bool { return o.Known() && o != OpRead }

// hasName, hasVers and hasCksum tell which fields an operation carries.
func (o Operation) hasName() bool  { return o.Mutation() }
func (o Operation) hasVers() bool  { return o == OpPublish || o == OpYank || o == OpUnyank }
func (o Operation) hasCksum() bool { return o == OpPublish }

// ReadLine reads one protocol line from r, without its line ending. It returns
// io.EOF only when r is at its end before the line starts; a last line
// without a newline is returned as a line. A line longer than MaxLine is an
// error.
func ReadLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > MaxLine+2 {
			return nil, fmt.Errorf("cargo: line longer than %d bytes", MaxLine)
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			return trimEOL(line), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(line) == 0 {
				return nil, io.EOF
			}
			return trimEOL(line), nil
		default:
			return nil, err
		}
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// checkText refuses what cannot be a crate name or version and would only
// serve to mislead a person reading a prompt: control characters, Unicode
// format characters (bidi overrides, zero-width joiners) and U+FFFD.
func checkText(field, s string) error {
	if s == "" {
		return fmt.Errorf("field %s is empty", strconv.Quote(field))
	}
	if len(s) > 1024 {
		return fmt.Errorf("field %s is %d bytes long", strconv.Quote(field), len(s))
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return fmt.Errorf("field %s holds a control or format character", strconv.Quote(field))
		}
	}
	return nil
}

// checkCksum requires the lowercase hex SHA-256 that cargo sends.
func checkCksum(s string) error {
	if len(s) != 64 {
		return errors.New(`field "cksum" is not 64 hex digits`)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return errors.New(`field "cksum" is not 64 lowercase hex digits`)
		}
	}
	return nil
}
