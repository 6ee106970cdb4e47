package cargo

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/credential/internal/jsonwire"
)

// Cache says how long cargo may keep a token from a get response, within one
// cargo run (cargo never keeps one longer).
type Cache string

// The cache values cargo knows. Cargo treats any other value like never.
const (
	CacheNever   Cache = "never"   // ask the provider again for every request
	CacheSession Cache = "session" // keep it for the rest of this cargo run
	CacheExpires Cache = "expires" // keep it until Expiration, less 60 s
)

// Response is a successful answer: {"Ok":{…}}.
type Response struct {
	Kind Kind // KindGet, KindLogin or KindLogout: the request's kind

	// Get only.
	Token                credential.Token
	Cache                Cache
	Expiration           time.Time // with CacheExpires; sent as whole Unix seconds
	OperationIndependent bool      // the token is good for every operation, not only the one asked for
}

// ErrorKind is an error response's "kind".
type ErrorKind string

// The error kinds. Cargo tries its next provider after URLNotSupported and
// NotFound; the others end the search.
const (
	URLNotSupported       ErrorKind = "url-not-supported"       // this registry is not ours
	NotFound              ErrorKind = "not-found"               // no credential for it (get, logout)
	OperationNotSupported ErrorKind = "operation-not-supported" // e.g. an unknown kind or operation
	Other                 ErrorKind = "other"                   // failed; Message says why
)

// Error is a failed answer: {"Err":{…}}. It is also a Go error, so that
// DecodeResponse can return it.
type Error struct {
	Kind ErrorKind
	// Message and CausedBy are shown by cargo as the error and its
	// "Caused by:" lines. Sent for Other always, for other kinds when
	// Message is set. They must never hold a secret.
	Message  string
	CausedBy []string
}

// Error reads like cargo's own rendering of the error.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		switch e.Kind {
		case URLNotSupported:
			msg = "registry not supported"
		case NotFound:
			msg = "credential not found"
		case OperationNotSupported:
			msg = "requested operation not supported"
		case Other:
			msg = "credential action failed"
		default:
			msg = "unknown error kind"
		}
	}
	if len(e.CausedBy) > 0 {
		msg += ": " + strings.Join(e.CausedBy, ": ")
	}
	return msg
}

// Errorf returns an Other error whose message is the formatted text.
func Errorf(format string, args ...any) *Error {
	return &Error{Kind: Other, Message: fmt.Sprintf(format, args...)}
}

// FromError turns err into an error response. An *Error in err's chain is
// returned as it is. Otherwise the result is Other, and err's chain of
// wrapped errors becomes the message and its "Caused by:" lines, with each
// cause's text taken off the end of the one before ("a: b: c" wrapping
// "b: c" wrapping "c" gives "a", then "b", then "c").
func FromError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var texts []string
	for err != nil {
		text := err.Error()
		next := errors.Unwrap(err)
		if next != nil {
			if short, ok := strings.CutSuffix(text, ": "+next.Error()); ok && short != "" {
				text = short
			} else {
				next = nil // the cause is not a suffix: keep the whole text
			}
		}
		texts = append(texts, text)
		err = next
	}
	return &Error{Kind: Other, Message: texts[0], CausedBy: texts[1:]}
}

// EncodeResponse encodes r as its response line, newline included. A get
// response needs a token that passes credential.ValidToken, a known Cache,
// and an Expiration with CacheExpires. Errors never contain the token.
func EncodeResponse(r *Response) ([]byte, error) {
	o := jsonwire.NewObject()
	var ferr error
	o.Object("Ok", func(ok *jsonwire.Object) {
		switch r.Kind {
		case KindGet:
			tok := r.Token.Reveal()
			if err := credential.ValidToken(tok); err != nil {
				ferr = err
				return
			}
			ok.String("kind", string(KindGet))
			ok.String("token", tok)
			switch r.Cache {
			case CacheNever, CacheSession:
				ok.String("cache", string(r.Cache))
			case CacheExpires:
				if r.Expiration.IsZero() {
					ferr = errors.New("cache expires without an expiration")
					return
				}
				ok.String("cache", string(r.Cache))
				ok.Int("expiration", r.Expiration.Unix())
			default:
				ferr = fmt.Errorf("unknown cache value %q", string(r.Cache))
				return
			}
			ok.Bool("operation_independent", r.OperationIndependent)
		case KindLogin, KindLogout:
			ok.String("kind", string(r.Kind))
		default:
			ferr = fmt.Errorf("cannot answer kind %q", string(r.Kind))
		}
	})
	if ferr != nil {
		return nil, fmt.Errorf("cargo: response: %w", ferr)
	}
	b, err := o.Bytes()
	if err != nil {
		return nil, fmt.Errorf("cargo: response: %w", err)
	}
	return append(b, '\n'), nil
}

// EncodeError encodes e as its response line, newline included. Invalid
// UTF-8 in the message is replaced, so this cannot fail; an empty Kind is
// sent as Other.
func EncodeError(e *Error) []byte {
	kind := e.Kind
	if kind == "" {
		kind = Other
	}
	o := jsonwire.NewObject()
	o.Object("Err", func(er *jsonwire.Object) {
		er.String("kind", string(kind))
		if kind == Other || e.Message != "" {
			er.String("message", strings.ToValidUTF8(e.Message, "\uFFFD"))
			causes := make([]string, len(e.CausedBy))
			for i, c := range e.CausedBy {
				causes[i] = strings.ToValidUTF8(c, "\uFFFD")
			}
			er.Strings("caused-by", causes)
		}
	})
	b, err := o.Bytes()
	if err != nil {
		panic("cargo: EncodeError: " + err.Error()) // unreachable: all strings are valid UTF-8
	}
	return append(b, '\n')
}

// DecodeResponse decodes a provider's response line as cargo does. An Err
// response comes back as a nil Response and an *Error; any other error means
// the line is malformed. Unknown kinds and cache values are kept as they
// came; a get token must pass credential.ValidToken.
func DecodeResponse(line []byte) (*Response, error) {
	r, err := decodeResponse(line)
	var e *Error
	if err != nil && !errors.As(err, &e) {
		return nil, fmt.Errorf("cargo: response: %w", err)
	}
	return r, err
}

func decodeResponse(line []byte) (*Response, error) {
	if !utf8.Valid(line) {
		return nil, errors.New("not valid UTF-8")
	}
	f, err := jsonwire.ParseObject(line)
	if err != nil {
		return nil, err
	}
	if len(f) != 1 {
		return nil, errors.New(`want exactly one of "Ok" or "Err"`)
	}
	if f.Has("Err") {
		ef, _, err := f.Object("Err")
		if err != nil {
			return nil, err
		}
		return nil, decodeError(ef)
	}
	of, ok, err := f.Object("Ok")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New(`want exactly one of "Ok" or "Err"`)
	}
	kind, err := required(of, "kind")
	if err != nil {
		return nil, err
	}
	r := &Response{Kind: Kind(kind)}
	if r.Kind != KindGet {
		return r, nil
	}
	tok, err := required(of, "token")
	if err != nil {
		return nil, err
	}
	if r.Token, err = credential.NewToken(tok); err != nil {
		return nil, fmt.Errorf(`field "token": %w`, err)
	}
	cache, err := required(of, "cache")
	if err != nil {
		return nil, err
	}
	r.Cache = Cache(cache)
	if r.Cache == CacheExpires {
		exp, ok, err := of.Int("expiration")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errors.New(`field "expiration" is missing`)
		}
		r.Expiration = time.Unix(exp, 0).UTC()
	}
	oi, ok, err := of.Bool("operation_independent")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New(`field "operation_independent" is missing`)
	}
	r.OperationIndependent = oi
	return r, nil
}

func decodeError(f jsonwire.Fields) error {
	kind, err := required(f, "kind")
	if err != nil {
		return err
	}
	e := &Error{Kind: ErrorKind(kind)}
	if e.Message, _, err = f.String("message"); err != nil {
		return err
	}
	if string(f["caused-by"]) != "null" {
		if e.CausedBy, _, err = f.Strings("caused-by"); err != nil {
			return err
		}
	}
	return e
}
