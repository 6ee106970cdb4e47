// Package jsonwire reads and writes the small JSON objects of cargo's
// credential protocol and of PASETO claims, byte for byte as serde_json does.
//
// Writing: fields come out in the order they are added, strings are escaped as
// serde_json escapes them (only '"', '\\' and control characters; no HTML
// escaping, raw UTF-8 otherwise), so a message encodes to exactly the bytes
// cargo itself would send.
//
// Reading is strict where encoding/json is lenient: keys match exactly (not
// case-insensitively), a key may appear only once, the input must be valid
// UTF-8 and hold one object and nothing else, and null is not a string.
package jsonwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// Object builds one JSON object.
type Object struct {
	buf []byte
	n   int
	err error
}

// NewObject starts an object.
func NewObject() *Object { return &Object{buf: []byte{'{'}} }

func (o *Object) key(k string) {
	if o.n > 0 {
		o.buf = append(o.buf, ',')
	}
	o.n++
	o.buf = o.appendString(o.buf, k)
	o.buf = append(o.buf, ':')
}

func (o *Object) appendString(dst []byte, s string) []byte {
	if !utf8.ValidString(s) {
		if o.err == nil {
			o.err = errors.New("string is not valid UTF-8")
		}
	}
	return AppendString(dst, s)
}

// String adds a string field.
func (o *Object) String(k, v string) {
	o.key(k)
	o.buf = o.appendString(o.buf, v)
}

// Int adds an integer field.
func (o *Object) Int(k string, v int64) {
	o.key(k)
	o.buf = strconv.AppendInt(o.buf, v, 10)
}

// Bool adds a boolean field.
func (o *Object) Bool(k string, v bool) {
	o.key(k)
	o.buf = strconv.AppendBool(o.buf, v)
}

// Strings adds an array of strings (an empty one for nil).
func (o *Object) Strings(k string, v []string) {
	o.key(k)
	o.buf = append(o.buf, '[')
	for i, s := range v {
		if i > 0 {
			o.buf = append(o.buf, ',')
		}
		o.buf = o.appendString(o.buf, s)
	}
	o.buf = append(o.buf, ']')
}

// Ints adds an array of integers.
func (o *Object) Ints(k string, v []int64) {
	o.key(k)
	o.buf = append(o.buf, '[')
	for i, n := range v {
		if i > 0 {
			o.buf = append(o.buf, ',')
		}
		o.buf = strconv.AppendInt(o.buf, n, 10)
	}
	o.buf = append(o.buf, ']')
}

// Object adds a nested object, filled in by fill.
func (o *Object) Object(k string, fill func(*Object)) {
	o.key(k)
	in := &Object{buf: append(o.buf, '{')}
	fill(in)
	o.buf = append(in.buf, '}')
	if o.err == nil {
		o.err = in.err
	}
}

// Bytes closes the object and returns it, or the first error met.
func (o *Object) Bytes() ([]byte, error) {
	if o.err != nil {
		return nil, o.err
	}
	return append(o.buf, '}'), nil
}

const hex = "0123456789abcdef"

// AppendString appends s as a JSON string the way serde_json writes it:
// '"' and '\\' escaped, \b \t \n \f \r in short form, other bytes below 0x20
// as \u00xx, everything else (DEL and non-ASCII included) as is.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var esc string
		switch {
		case c == '"':
			esc = `\"`
		case c == '\\':
			esc = `\\`
		case c == '\b':
			esc = `\b`
		case c == '\t':
			esc = `\t`
		case c == '\n':
			esc = `\n`
		case c == '\f':
			esc = `\f`
		case c == '\r':
			esc = `\r`
		case c < 0x20:
			esc = `\u00` + string(hex[c>>4]) + string(hex[c&0xf])
		default:
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, esc...)
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Fields are the members of a decoded object, each still raw JSON.
type Fields map[string]json.RawMessage

// ParseObject decodes data, which must be exactly one JSON object (with
// optional surrounding whitespace), into its fields. Duplicate keys and
// invalid UTF-8 are errors.
func ParseObject(data []byte) (Fields, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	f, err := parseObject(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return f, nil
}

func parseObject(dec *json.Decoder) (Fields, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	f := Fields{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxErr(err)
		}
		k, ok := tok.(string)
		if !ok {
			return nil, errors.New("object key is not a string")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntaxErr(err)
		}
		if _, dup := f[k]; dup {
			return nil, fmt.Errorf("duplicate field %s", strconv.Quote(k))
		}
		f[k] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, syntaxErr(err)
	}
	return f, nil
}

// syntaxErr keeps encoding/json's position but not its quote of the input.
func syntaxErr(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("malformed JSON at byte %d", se.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("truncated JSON")
	}
	return errors.New("malformed JSON")
}

func typeErr(k, want string) error {
	return fmt.Errorf("field %s is not %s", strconv.Quote(k), want)
}

// Has reports whether k is present (even as null).
func (f Fields) Has(k string) bool {
	_, ok := f[k]
	return ok
}

// String returns field k, which must be a JSON string if present.
func (f Fields) String(k string) (s string, ok bool, err error) {
	raw, ok := f[k]
	if !ok {
		return "", false, nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", true, typeErr(k, "a string")
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, typeErr(k, "a string")
	}
	return s, true, nil
}

// OptString is String for a field that serde reads as an Option: null is
// taken as absent.
func (f Fields) OptString(k string) (s string, ok bool, err error) {
	if string(f[k]) == "null" {
		return "", false, nil
	}
	return f.String(k)
}

// Strings returns field k, which must be an array of strings if present.
func (f Fields) Strings(k string) (v []string, ok bool, err error) {
	raw, ok := f[k]
	if !ok {
		return nil, false, nil
	}
	var elems []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
		return nil, true, typeErr(k, "an array of strings")
	}
	v = make([]string, 0, len(elems))
	for _, e := range elems {
		var s string
		if len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &s) != nil {
			return nil, true, typeErr(k, "an array of strings")
		}
		v = append(v, s)
	}
	return v, true, nil
}

// Int returns field k, which must be an integer (no fraction, no exponent)
// that fits in an int64, if present.
func (f Fields) Int(k string) (n int64, ok bool, err error) {
	raw, ok := f[k]
	if !ok {
		return 0, false, nil
	}
	n, err = strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, true, typeErr(k, "an integer")
	}
	return n, true, nil
}

// Ints returns field k, which must be an array of integers if present.
func (f Fields) Ints(k string) (v []int64, ok bool, err error) {
	raw, ok := f[k]
	if !ok {
		return nil, false, nil
	}
	var elems []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
		return nil, true, typeErr(k, "an array of integers")
	}
	v = make([]int64, 0, len(elems))
	for _, e := range elems {
		n, err := strconv.ParseInt(string(e), 10, 64)
		if err != nil {
			return nil, true, typeErr(k, "an array of integers")
		}
		v = append(v, n)
	}
	return v, true, nil
}

// Bool returns field k, which must be true or false if present.
func (f Fields) Bool(k string) (b, ok bool, err error) {
	raw, ok := f[k]
	if !ok {
		return false, false, nil
	}
	switch string(raw) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, true, typeErr(k, "a boolean")
}

// Object returns field k, which must be an object if present, parsed with
// the same rules as ParseObject.
func (f Fields) Object(k string) (o Fields, ok bool, err error) {
	raw, ok := f[k]
	if !ok {
		return nil, false, nil
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, true, typeErr(k, "an object")
	}
	o, err = ParseObject(raw)
	if err != nil {
		return nil, true, fmt.Errorf("field %s: %w", strconv.Quote(k), err)
	}
	return o, true, nil
}
