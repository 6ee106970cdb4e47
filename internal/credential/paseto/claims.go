package paseto

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigil-agent/vigil/internal/credential/internal/jsonwire"
)

// Claims are the message of a cargo asymmetric token (RFC 3231). Encoded in
// the field order cargo uses: iat, sub, mutation, name, vers, cksum,
// challenge, v; empty fields are left out.
type Claims struct {
	IssuedAt  time.Time // iat: when the token was made, sent as RFC 3339 UTC with nanoseconds
	Subject   string    // sub: the key's subject (cargo's secret-key-subject), if any
	Mutation  string    // mutation: publish, yank, unyank or owners; "" for a read
	Name      string    // name: the crate, with a mutation
	Vers      string    // vers: its version, for publish, yank and unyank
	Cksum     string    // cksum: SHA-256 of the .crate, for publish
	Challenge string    // challenge: from the registry's 401/403 (cargo sends none yet)
	V         int       // v: token format version; 0 leaves it out, 1 is the only one defined
}

// Encode returns the claims as JSON.
func (c *Claims) Encode() ([]byte, error) {
	if c.IssuedAt.IsZero() {
		return nil, errors.New("paseto: claims: no iat")
	}
	o := jsonwire.NewObject()
	o.String("iat", c.IssuedAt.UTC().Format(time.RFC3339Nano))
	for _, f := range []struct{ k, v string }{
		{"sub", c.Subject}, {"mutation", c.Mutation}, {"name", c.Name},
		{"vers", c.Vers}, {"cksum", c.Cksum}, {"challenge", c.Challenge},
	} {
		if f.v != "" {
			o.String(f.k, f.v)
		}
	}
	if c.V != 0 {
		o.Int("v", int64(c.V))
	}
	b, err := o.Bytes()
	if err != nil {
		return nil, fmt.Errorf("paseto: claims: %w", err)
	}
	return b, nil
}

// DecodeClaims parses a token's message. iat is required and must be RFC 3339;
// every other claim is optional; unknown claims are ignored; a claim of the
// wrong type, or a repeated one, is an error.
func DecodeClaims(b []byte) (*Claims, error) {
	f, err := jsonwire.ParseObject(b)
	if err != nil {
		return nil, fmt.Errorf("paseto: claims: %w", err)
	}
	var c Claims
	iat, ok, err := f.String("iat")
	if err != nil {
		return nil, fmt.Errorf("paseto: claims: %w", err)
	}
	if !ok {
		return nil, errors.New("paseto: claims: no iat")
	}
	if c.IssuedAt, err = time.Parse(time.RFC3339Nano, iat); err != nil {
		return nil, errors.New("paseto: claims: iat is not an RFC 3339 time")
	}
	for _, p := range []struct {
		k string
		v *string
	}{
		{"sub", &c.Subject}, {"mutation", &c.Mutation}, {"name", &c.Name},
		{"vers", &c.Vers}, {"cksum", &c.Cksum}, {"challenge", &c.Challenge},
	} {
		if *p.v, _, err = f.String(p.k); err != nil {
			return nil, fmt.Errorf("paseto: claims: %w", err)
		}
	}
	v, ok, err := f.Int("v")
	if err != nil {
		return nil, fmt.Errorf("paseto: claims: %w", err)
	}
	if ok && (v < 1 || v > 255) { // cargo: Option<u8>
		return nil, fmt.Errorf("paseto: claims: v is %d", v)
	}
	c.V = int(v)
	return &c, nil
}

// Footer is the footer of a cargo asymmetric token: the registry it is for
// and the id (k3.pid) of the key that signed it.
//
// Cargo (cargo:paseto, 1.95 and nightly) names the key id "kip"; RFC 3231's
// examples name it "kid", the PASETO spec's usual key-id claim. Encode writes
// whichever is set, in that order; KeyID reads either.
type Footer struct {
	URL string // url: the index URL, as cargo's registry.index-url ("sparse+" kept)
	KIP string // kip: the key id, as cargo writes it
	KID string // kid: the key id, as the RFC's examples write it
}

// Encode returns the footer as JSON.
func (f *Footer) Encode() ([]byte, error) {
	if f.URL == "" || (f.KIP == "" && f.KID == "") {
		return nil, errors.New("paseto: footer needs url and a key id")
	}
	o := jsonwire.NewObject()
	o.String("url", f.URL)
	if f.KIP != "" {
		o.String("kip", f.KIP)
	}
	if f.KID != "" {
		o.String("kid", f.KID)
	}
	b, err := o.Bytes()
	if err != nil {
		return nil, fmt.Errorf("paseto: footer: %w", err)
	}
	return b, nil
}

// DecodeFooter parses a token's footer: url and a key id (kip or kid) are
// required, other fields are ignored.
func DecodeFooter(b []byte) (*Footer, error) {
	fs, err := jsonwire.ParseObject(b)
	if err != nil {
		return nil, fmt.Errorf("paseto: footer: %w", err)
	}
	var f Footer
	var ok bool
	if f.URL, ok, err = fs.String("url"); err != nil || !ok {
		return nil, errors.New("paseto: footer: no url")
	}
	if f.KIP, _, err = fs.String("kip"); err != nil {
		return nil, fmt.Errorf("paseto: footer: %w", err)
	}
	if f.KID, _, err = fs.String("kid"); err != nil {
		return nil, fmt.Errorf("paseto: footer: %w", err)
	}
	if _, err := f.KeyID(); err != nil {
		return nil, err
	}
	return &f, nil
}

// KeyID returns the key id, from kip or kid. Both set and different, or
// neither set, is an error.
func (f *Footer) KeyID() (string, error) {
	switch {
	case f.KIP != "" && f.KID != "" && f.KIP != f.KID:
		return "", errors.New("paseto: footer: kip and kid differ")
	case f.KIP != "":
		return f.KIP, nil
	case f.KID != "":
		return f.KID, nil
	}
	return "", errors.New("paseto: footer: no key id (kip or kid)")
}
