package cargo

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"

	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/credential/internal/jsonwire"
)

// Hello is the provider's first line: the protocol versions it speaks.
type Hello struct {
	Versions []int64
}

var hello = []byte(`{"v":[1]}` + "\n")

// EncodeHello returns the hello line a provider writes first: {"v":[1]}.
func EncodeHello() []byte { return append([]byte(nil), hello...) }

// DecodeHello decodes a provider's hello line, as cargo does: "v" is required,
// anything else is ignored.
func DecodeHello(line []byte) (*Hello, error) {
	f, err := jsonwire.ParseObject(line)
	if err != nil {
		return nil, fmt.Errorf("cargo: hello: %w", err)
	}
	v, ok, err := f.Ints("v")
	if err != nil {
		return nil, fmt.Errorf("cargo: hello: %w", err)
	}
	if !ok {
		return nil, errors.New(`cargo: hello: field "v" is missing`)
	}
	return &Hello{Versions: v}, nil
}

// Supports reports whether h lists version v.
func (h *Hello) Supports(v int64) bool {
	for _, x := range h.Versions {
		if x == v {
			return true
		}
	}
	return false
}

// Registry says which registry a request is for.
type Registry struct {
	// IndexURL is the index URL exactly as cargo names it: with the
	// "sparse+" prefix for sparse registries, and the git URL for crates.io.
	// Key stored credentials on it.
	IndexURL string
	// Name is the registry's name in cargo's configuration ("crates-io" for
	// crates.io), or "" when cargo did not send one. Not a lookup key.
	Name string
	// Headers are the response headers of an HTTP 401 from the registry, as
	// "Name: value" lines; untrusted.
	Headers []string
}

// Request is what cargo asks a provider for: the line after the hello.
type Request struct {
	Registry Registry
	Kind     Kind

	// Get: the operation, and the crate it concerns (which fields are set
	// depends on the operation, see OpPublish and the rest).
	Operation Operation
	Name      string // crate name
	Vers      string // crate version
	Cksum     string // lowercase hex SHA-256 of the .crate file

	// Login: the token given to `cargo login` (zero when there was none and
	// the provider has to ask on the terminal), and where the user can get one.
	Token    credential.Token
	LoginURL string

	// Args are the provider's arguments from cargo's configuration, followed
	// by any given after `cargo login --`. Untrusted.
	Args []string
}

// ReadRequest reads and decodes one request line from r. It returns io.EOF,
// unwrapped, when cargo closed the pipe without sending one.
func ReadRequest(r *bufio.Reader) (*Request, error) {
	line, err := ReadLine(r)
	if err != nil {
		return nil, err
	}
	return DecodeRequest(line)
}

// DecodeRequest decodes one request line (with or without its newline).
// Errors never quote the line: it may hold a token.
func DecodeRequest(line []byte) (*Request, error) {
	r, err := decodeRequest(line)
	if err != nil {
		return nil, fmt.Errorf("cargo: request: %w", err)
	}
	return r, nil
}

func decodeRequest(line []byte) (*Request, error) {
	f, err := jsonwire.ParseObject(line)
	if err != nil {
		return nil, err
	}
	v, ok, err := f.Int("v")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New(`field "v" is missing`)
	}
	if v != ProtocolVersion {
		return nil, fmt.Errorf("unsupported protocol version %d", v)
	}

	reg, ok, err := f.Object("registry")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New(`field "registry" is missing`)
	}
	var r Request
	if r.Registry.IndexURL, err = required(reg, "index-url"); err != nil {
		return nil, err
	}
	if r.Registry.Name, _, err = reg.OptString("name"); err != nil {
		return nil, err
	}
	if r.Registry.Headers, _, err = reg.Strings("headers"); err != nil {
		return nil, err
	}
	if r.Args, _, err = f.Strings("args"); err != nil {
		return nil, err
	}

	kind, err := required(f, "kind")
	if err != nil {
		return nil, err
	}
	if kind == "" {
		return nil, errors.New(`field "kind" is empty`)
	}
	r.Kind = Kind(kind)
	switch r.Kind {
	case KindGet:
		op, err := required(f, "operation")
		if err != nil {
			return nil, err
		}
		if op == "" {
			return nil, errors.New(`field "operation" is empty`)
		}
		r.Operation = Operation(op)
		if r.Operation.hasName() {
			if r.Name, err = requiredText(f, "name"); err != nil {
				return nil, err
			}
		}
		if r.Operation.hasVers() {
			if r.Vers, err = requiredText(f, "vers"); err != nil {
				return nil, err
			}
		}
		if r.Operation.hasCksum() {
			if r.Cksum, err = required(f, "cksum"); err != nil {
				return nil, err
			}
			if err := checkCksum(r.Cksum); err != nil {
				return nil, err
			}
		}
	case KindLogin:
		tok, _, err := f.OptString("token")
		if err != nil {
			return nil, err
		}
		if tok != "" {
			if r.Token, err = credential.NewToken(tok); err != nil {
				return nil, fmt.Errorf(`field "token": %w`, err)
			}
		}
		if r.LoginURL, _, err = f.OptString("login-url"); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

func required(f jsonwire.Fields, k string) (string, error) {
	s, ok, err := f.String(k)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("field %s is missing", strconv.Quote(k))
	}
	return s, nil
}

func requiredText(f jsonwire.Fields, k string) (string, error) {
	s, err := required(f, k)
	if err != nil {
		return "", err
	}
	return s, checkText(k, s)
}

// EncodeRequest encodes r as cargo would send it, newline included. It is
// the other half of DecodeRequest, for tests and for talking to a provider.
func EncodeRequest(r *Request) ([]byte, error) {
	o := jsonwire.NewObject()
	o.Int("v", ProtocolVersion)
	o.Object("registry", func(reg *jsonwire.Object) {
		reg.String("index-url", r.Registry.IndexURL)
		if r.Registry.Name != "" {
			reg.String("name", r.Registry.Name)
		}
		if len(r.Registry.Headers) > 0 {
			reg.Strings("headers", r.Registry.Headers)
		}
	})
	if r.Kind == "" {
		return nil, errors.New("cargo: request: no kind")
	}
	o.String("kind", string(r.Kind))
	switch r.Kind {
	case KindGet:
		if r.Operation == "" {
			return nil, errors.New("cargo: request: get without an operation")
		}
		o.String("operation", string(r.Operation))
		if r.Operation.hasName() {
			if err := checkText("name", r.Name); err != nil {
				return nil, fmt.Errorf("cargo: request: %w", err)
			}
			o.String("name", r.Name)
		}
		if r.Operation.hasVers() {
			if err := checkText("vers", r.Vers); err != nil {
				return nil, fmt.Errorf("cargo: request: %w", err)
			}
			o.String("vers", r.Vers)
		}
		if r.Operation.hasCksum() {
			if err := checkCksum(r.Cksum); err != nil {
				return nil, fmt.Errorf("cargo: request: %w", err)
			}
			o.String("cksum", r.Cksum)
		}
	case KindLogin:
		if !r.Token.IsZero() {
			if err := credential.ValidToken(r.Token.Reveal()); err != nil {
				return nil, fmt.Errorf("cargo: request: %w", err)
			}
			o.String("token", r.Token.Reveal())
		}
		if r.LoginURL != "" {
			o.String("login-url", r.LoginURL)
		}
	}
	if len(r.Args) > 0 {
		o.Strings("args", r.Args)
	}
	b, err := o.Bytes()
	if err != nil {
		return nil, fmt.Errorf("cargo: request: %w", err)
	}
	return append(b, '\n'), nil
}
