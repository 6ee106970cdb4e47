// Package git encodes and decodes git's credential-helper protocol
// (git-credential(1), gitcredentials(7)): the key=value lines git writes to a
// helper run as `git credential-<name> get|store|erase`, and the lines a
// helper writes back for get.
//
// The decoder reads as git's credential_read does: one key=value per line,
// up to a blank line or EOF (git 2.39 closes the pipe without a blank line),
// unknown keys ignored, a repeated key overriding the one before, url=
// replacing everything read so far with the URL's parts, key[]= lines
// collected in order and an empty key[]= clearing the list. It refuses what
// git would not write: a line without '=', NUL anywhere, a line longer than
// MaxLine.
//
// The encoder writes in git's own order and refuses values holding a newline
// or NUL, as git does; fields that need a capability (authtype, credential,
// ephemeral, state[], continue) are written only when Capabilities holds it.
package git

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-agent/vigil/internal/credential"
)

// MaxLine bounds one line, key and newline included, as newer git does.
const MaxLine = 65535

// MaxInput bounds a whole message.
const MaxInput = 1 << 20

// Operation is the argument git appends to the helper's command line.
type Operation string

// The operations. Helpers must silently ignore any other.
const (
	Get   Operation = "get"   // git wants a credential: answer with one, or with nothing
	Store Operation = "store" // the credential worked: keep it (output ignored)
	Erase Operation = "erase" // the credential was refused: forget it (output ignored)
)

// ParseOperation maps a helper's argument to an Operation; ok is false for
// anything git may add later (such as "capability"), which a helper ignores.
func ParseOperation(arg string) (op Operation, ok bool) {
	switch op := Operation(arg); op {
	case Get, Store, Erase:
		return op, true
	}
	return "", false
}

// Capabilities git and helpers announce with capability[] (git 2.46).
const (
	CapAuthType = "authtype" // authtype, credential and ephemeral may be sent
	CapState    = "state"    // state[] and continue may be sent
)

// Credential is one message: what git knows and asks about, or what a helper
// answers. Zero fields are absent.
type Credential struct {
	Capabilities []string // capability[]: announced first, gate the 2.46 fields

	Protocol string // "https", "http", "ssh", ...
	Host     string // host name, with ":port" when there is one
	Path     string // sent for http(s) only with credential.useHttpPath
	Username string
	Password credential.Token

	PasswordExpiry    time.Time        // password_expiry_utc (git 2.40), whole Unix seconds
	OAuthRefreshToken credential.Token // oauth_refresh_token (git 2.41)
	WWWAuth           []string         // wwwauth[] (git 2.41): one per WWW-Authenticate header, git to helper

	// git 2.46, behind CapAuthType: a pre-encoded HTTP credential, sent as
	// the header "Authorization: <AuthType> <Credential>".
	AuthType   string
	Credential credential.Token
	Ephemeral  bool // do not store

	// git 2.46, behind CapState: opaque helper state, and multi-round
	// authentication.
	State    []string
	Continue bool

	Quit bool // stop: consult no more helpers and do not prompt
}

// Has reports whether c lists capability name.
func (c *Credential) Has(name string) bool {
	for _, v := range c.Capabilities {
		if v == name {
			return true
		}
	}
	return false
}

// Decode reads one message from r, up to a blank line or EOF. Given a
// *bufio.Reader it reads nothing past the blank line; any other reader is
// wrapped in one, which may read ahead. Errors never quote the input.
func Decode(r io.Reader) (*Credential, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	c := &Credential{}
	total := 0
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err == io.EOF {
			return c, nil
		}
		if err != nil {
			return nil, fmt.Errorf("git: credential: line %d: %w", n, err)
		}
		total += len(line) + 1
		if total > MaxInput {
			return nil, fmt.Errorf("git: credential: more than %d bytes", MaxInput)
		}
		if len(line) == 0 {
			return c, nil
		}
		if err := c.set(line); err != nil {
			return nil, fmt.Errorf("git: credential: line %d: %w", n, err)
		}
	}
}

// DecodeBytes is Decode on a byte slice; data after the blank line, if any,
// is ignored.
func DecodeBytes(data []byte) (*Credential, error) {
	return Decode(bufio.NewReader(bytes.NewReader(data)))
}

// readLine returns the next line without "\n" (and without a "\r" before it,
// as git's strbuf_getline drops it). A last line without "\n" is a line.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(b)+len(frag) > MaxLine+1 {
			return "", fmt.Errorf("longer than %d bytes", MaxLine)
		}
		b = append(b, frag...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		if len(b) == 0 {
			return "", io.EOF
		}
		s := strings.TrimSuffix(string(b), "\n")
		s = strings.TrimSuffix(s, "\r")
		if strings.IndexByte(s, 0) >= 0 {
			return "", errors.New("holds a NUL byte")
		}
		return s, nil
	}
}

func (c *Credential) set(line string) error {
	key, value, ok := strings.Cut(line, "=")
	if !ok {
		return errors.New("no '=' in the line")
	}
	switch key {
	case "protocol":
		c.Protocol = value
	case "host":
		c.Host = value
	case "path":
		c.Path = value
	case "username":
		c.Username = value
	case "password":
		c.Password = credential.UncheckedToken(value)
	case "url":
		u, err := ParseURL(value)
		if err != nil {
			return err
		}
		*c = *u
	case "quit":
		b, err := parseBool(value)
		if err != nil {
			return fmt.Errorf("quit: %w", err)
		}
		c.Quit = b
	case "password_expiry_utc":
		// As git: a value that does not parse, or 0, means no expiry.
		if n, err := strconv.ParseInt(value, 10, 64); err == nil && n > 0 {
			c.PasswordExpiry = time.Unix(n, 0).UTC()
		} else {
			c.PasswordExpiry = time.Time{}
		}
	case "oauth_refresh_token":
		c.OAuthRefreshToken = credential.UncheckedToken(value)
	case "wwwauth[]":
		c.WWWAuth = appendList(c.WWWAuth, value)
	case "capability[]":
		c.Capabilities = appendList(c.Capabilities, value)
	case "state[]":
		c.State = appendList(c.State, value)
	case "authtype":
		c.AuthType = value
	case "credential":
		c.Credential = credential.UncheckedToken(value)
	case "ephemeral":
		b, err := parseBool(value)
		if err != nil {
			return fmt.Errorf("ephemeral: %w", err)
		}
		c.Ephemeral = b
	case "continue":
		b, err := parseBool(value)
		if err != nil {
			return fmt.Errorf("continue: %w", err)
		}
		c.Continue = b
	}
	// Anything else is ignored: a later git may know what it means.
	return nil
}

// appendList adds v to a key[] list; an empty value clears the list.
func appendList(list []string, v string) []string {
	if v == "" {
		return nil
	}
	return append(list, v)
}

// parseBool reads a boolean as git's config does.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "on":
		return true, nil
	case "false", "no", "off", "":
		return false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return false, errors.New("not a boolean")
	}
	return n != 0, nil
}

// Encode writes c to w as key=value lines in git's order, without the blank
// line (use EncodeBytes, or write "\n" after, where a terminator is wanted:
// git reads to EOF as well). A value holding a newline or NUL is an error, and
// nothing is written then. Errors never quote a value.
func Encode(w io.Writer, c *Credential) error {
	b, err := c.appendTo(nil)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// EncodeBytes returns c encoded as Encode writes it.
func EncodeBytes(c *Credential) ([]byte, error) {
	return c.appendTo(nil)
}

func (c *Credential) appendTo(b []byte) ([]byte, error) {
	var err error
	put := func(key, value string) {
		if value == "" || err != nil {
			return
		}
		if strings.ContainsAny(value, "\n\x00") || strings.HasSuffix(value, "\r") {
			// git would cut the line short, or drop the "\r".
			err = fmt.Errorf("git: credential: value for %s holds a newline or NUL, or ends in CR", key)
			return
		}
		b = append(b, key...)
		b = append(b, '=')
		b = append(b, value...)
		b = append(b, '\n')
	}
	putList := func(key string, values []string) {
		for _, v := range values {
			if v == "" {
				err = fmt.Errorf("git: credential: empty %s value", key)
				return
			}
			put(key, v)
		}
	}
	authtype, state := c.Has(CapAuthType), c.Has(CapState)
	if !authtype && (c.AuthType != "" || !c.Credential.IsZero() || c.Ephemeral) {
		return nil, errors.New("git: credential: authtype, credential and ephemeral need capability[]=authtype")
	}
	if !state && (len(c.State) > 0 || c.Continue) {
		return nil, errors.New("git: credential: state[] and continue need capability[]=state")
	}

	putList("capability[]", c.Capabilities)
	put("authtype", c.AuthType)
	put("credential", c.Credential.Reveal())
	if c.Ephemeral {
		put("ephemeral", "1")
	}
	put("protocol", c.Protocol)
	put("host", c.Host)
	put("path", c.Path)
	put("username", c.Username)
	put("password", c.Password.Reveal())
	put("oauth_refresh_token", c.OAuthRefreshToken.Reveal())
	if !c.PasswordExpiry.IsZero() {
		if c.PasswordExpiry.Unix() <= 0 {
			return nil, errors.New("git: credential: password expiry before 1970")
		}
		put("password_expiry_utc", strconv.FormatInt(c.PasswordExpiry.Unix(), 10))
	}
	putList("wwwauth[]", c.WWWAuth)
	if c.Continue {
		put("continue", "1")
	}
	putList("state[]", c.State)
	if c.Quit {
		put("quit", "1")
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}
