package paseto

import (
	"crypto"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/credential/cargo"
)

// ClaimsFor returns the claims cargo:paseto puts in a token for req, a get
// request: the mutation and crate fields its operation carries, iat and the
// key subject (empty for none).
func ClaimsFor(req *cargo.Request, iat time.Time, subject string) (*Claims, error) {
	if req.Kind != cargo.KindGet || !req.Operation.Known() {
		return nil, fmt.Errorf("paseto: no asymmetric token for kind %q operation %q", string(req.Kind), string(req.Operation))
	}
	c := &Claims{IssuedAt: iat, Subject: subject}
	if req.Operation.Mutation() {
		c.Mutation = string(req.Operation)
		c.Name, c.Vers, c.Cksum = req.Name, req.Vers, req.Cksum
	}
	return c, nil
}

// CargoToken signs the token cargo:paseto would send for req: claims from
// ClaimsFor, footer {"url": the request's index-url, "kip": the signer's
// k3.pid}.
func CargoToken(signer crypto.Signer, req *cargo.Request, iat time.Time, subject string) (credential.Token, error) {
	pk, err := NewPublicKey(signer.Public())
	if err != nil {
		return credential.Token{}, err
	}
	claims, err := ClaimsFor(req, iat, subject)
	if err != nil {
		return credential.Token{}, err
	}
	msg, err := claims.Encode()
	if err != nil {
		return credential.Token{}, err
	}
	footer, err := (&Footer{URL: req.Registry.IndexURL, KIP: pk.ID()}).Encode()
	if err != nil {
		return credential.Token{}, err
	}
	return Sign(signer, msg, footer, nil)
}

// CargoResponse answers req as cargo:paseto does: a token from CargoToken,
// cached for the session when it is a read and never for a mutation, and
// never operation-independent.
func CargoResponse(signer crypto.Signer, req *cargo.Request, iat time.Time, subject string) (*cargo.Response, error) {
	tok, err := CargoToken(signer, req, iat, subject)
	if err != nil {
		return nil, err
	}
	cache := cargo.CacheNever
	if req.Operation == cargo.OpRead {
		cache = cargo.CacheSession
	}
	return &cargo.Response{Kind: cargo.KindGet, Token: tok, Cache: cache, OperationIndependent: false}, nil
}

// VerifyCargo is the registry's side: it checks token's signature with pk,
// that the footer names pk and url (the registry's index URL as cargo names
// it), that iat is no older than maxAge and no more than a minute ahead of
// now, and that v, if present, is 1. It returns the claims; compare them with
// the request with Claims.Check.
func VerifyCargo(pk *PublicKey, token, url string, now time.Time, maxAge time.Duration) (*Claims, error) {
	p, err := Verify(pk, token, nil)
	if err != nil {
		return nil, err
	}
	f, err := DecodeFooter(p.Footer)
	if err != nil {
		return nil, err
	}
	if id, _ := f.KeyID(); id != pk.ID() {
		return nil, errors.New("paseto: footer names another key")
	}
	if f.URL != url {
		return nil, errors.New("paseto: token is for another registry")
	}
	c, err := DecodeClaims(p.Message)
	if err != nil {
		return nil, err
	}
	if age := now.Sub(c.IssuedAt); age > maxAge || age < -time.Minute {
		return nil, fmt.Errorf("paseto: iat is %v away from now", age.Round(time.Second))
	}
	if c.V != 0 && c.V != 1 {
		return nil, fmt.Errorf("paseto: token format v%d", c.V)
	}
	return c, nil
}

// Check reports whether c authorises the operation op on crate name, version
// vers, with checksum cksum: a read needs no mutation claim; a mutation needs
// exactly the fields its operation carries, equal to the request's.
func (c *Claims) Check(op cargo.Operation, name, vers, cksum string) error {
	if !op.Known() {
		return fmt.Errorf("paseto: unknown operation %q", string(op))
	}
	if !op.Mutation() {
		if c.Mutation != "" {
			return errors.New("paseto: a mutation token used for a read")
		}
		return nil
	}
	want := &Claims{Mutation: string(op)}
	want.Name = name
	if op == cargo.OpPublish || op == cargo.OpYank || op == cargo.OpUnyank {
		want.Vers = vers
	}
	if op == cargo.OpPublish {
		want.Cksum = cksum
	}
	switch {
	case c.Mutation != want.Mutation:
		return fmt.Errorf("paseto: token is for %q, not %q", c.Mutation, want.Mutation)
	case c.Name != want.Name || want.Name == "":
		return errors.New("paseto: token is for another crate")
	case c.Vers != want.Vers:
		return errors.New("paseto: token is for another version")
	case c.Cksum != want.Cksum:
		return errors.New("paseto: token is for another .crate checksum")
	}
	return nil
}
