// Package paseto signs and verifies PASETO v3.public tokens and reads and
// writes PASERK k3 keys, the way cargo's asymmetric tokens (RFC 3231,
// cargo:paseto) use them. Signing goes through a crypto.Signer, so the
// private key may live elsewhere (in the agent's key store, in hardware).
//
// v3.public: ECDSA over NIST P-384 with SHA-384. The signature covers
// PAE(compressed public key, "v3.public.", message, footer, implicit
// assertion) and is carried as a fixed 96-byte r||s after the message:
//
//	v3.public.<base64url(message || r || s)>[.<base64url(footer)>]
//
// Signing asks the signer with a nil random source; an *ecdsa.PrivateKey
// then signs deterministically (RFC 6979), as the PASETO v3 spec asks.
package paseto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/vigil-agent/vigil/internal/credential"
)

// Header is the prefix of every v3.public token.
const Header = "v3.public."

const sigLen = 2 * scalarLen // r || s

// PAE is PASETO's pre-authentication encoding: the count of pieces, then each
// piece's length and bytes, lengths as 64-bit little-endian with the top bit
// clear.
func PAE(pieces ...[]byte) []byte {
	n := 8
	for _, p := range pieces {
		n += 8 + len(p)
	}
	out := make([]byte, 0, n)
	out = le64(out, len(pieces))
	for _, p := range pieces {
		out = le64(out, len(p))
		out = append(out, p...)
	}
	return out
}

func le64(b []byte, n int) []byte {
	return binary.LittleEndian.AppendUint64(b, uint64(n)&^(1<<63))
}

// digest is SHA-384 of the PAE a v3.public signature covers.
func digest(pk *PublicKey, message, footer, implicit []byte) []byte {
	h := sha512.Sum384(PAE(pk.compressed[:], []byte(Header), message, footer, implicit))
	return h[:]
}

// Sign returns a v3.public token for message, with footer (omitted when
// empty) and implicit assertion (signed over, never sent). signer must hold an
// ECDSA P-384 key and return an ASN.1 signature, as crypto.Signer does for
// ECDSA; it is called with a nil random source (an *ecdsa.PrivateKey then
// signs deterministically). The signature is checked before it is returned,
// so a faulty or remote signer cannot produce a bad token. The token must
// pass credential.ValidToken, which bounds its length.
func Sign(signer crypto.Signer, message, footer, implicit []byte) (credential.Token, error) {
	pk, err := NewPublicKey(signer.Public())
	if err != nil {
		return credential.Token{}, err
	}
	d := digest(pk, message, footer, implicit)
	der, err := signer.Sign(nil, d, crypto.SHA384)
	if err != nil {
		return credential.Token{}, fmt.Errorf("paseto: sign: %w", err)
	}
	var sig struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &sig); err != nil || len(rest) != 0 {
		return credential.Token{}, errors.New("paseto: sign: signer returned a malformed ECDSA signature")
	}
	if !ecdsa.Verify(pk.key, d, sig.R, sig.S) {
		return credential.Token{}, errors.New("paseto: sign: signer returned a signature that does not verify")
	}
	body := make([]byte, len(message)+sigLen)
	copy(body, message)
	sig.R.FillBytes(body[len(message) : len(message)+scalarLen])
	sig.S.FillBytes(body[len(message)+scalarLen:])

	var b strings.Builder
	b.WriteString(Header)
	b.WriteString(b64.EncodeToString(body))
	if len(footer) > 0 {
		b.WriteByte('.')
		b.WriteString(b64.EncodeToString(footer))
	}
	tok, err := credential.NewToken(b.String())
	if err != nil {
		return credential.Token{}, fmt.Errorf("paseto: sign: %w", err)
	}
	return tok, nil
}

// Parsed is a v3.public token taken apart. Nothing in it is authenticated
// unless it came from Verify.
type Parsed struct {
	Message   []byte
	Footer    []byte
	Signature []byte // r || s, 96 bytes
}

// Parse takes a v3.public token apart without verifying it: to read the
// footer's key id, say, before choosing the key to verify with. It refuses
// any other version or purpose, non-canonical base64url, a body too short to
// hold a signature, and an empty footer part. Errors never quote the token.
func Parse(token string) (*Parsed, error) {
	rest, ok := strings.CutPrefix(token, Header)
	if !ok {
		return nil, errors.New("paseto: not a v3.public token")
	}
	body, footer, hasFooter := strings.Cut(rest, ".")
	if hasFooter && footer == "" {
		return nil, errors.New("paseto: empty footer part")
	}
	b, err := decodeB64(body)
	if err != nil {
		return nil, fmt.Errorf("paseto: body: %w", err)
	}
	if len(b) < sigLen {
		return nil, errors.New("paseto: body too short to hold a signature")
	}
	p := &Parsed{Message: b[:len(b)-sigLen], Signature: b[len(b)-sigLen:]}
	if hasFooter {
		if p.Footer, err = decodeB64(footer); err != nil {
			return nil, fmt.Errorf("paseto: footer: %w", err)
		}
	}
	return p, nil
}

// ErrSignature is returned by Verify for a token whose signature does not
// verify.
var ErrSignature = errors.New("paseto: invalid signature")

// Verify checks token's signature with pk and the implicit assertion, and
// returns its parts.
func Verify(pk *PublicKey, token string, implicit []byte) (*Parsed, error) {
	p, err := Parse(token)
	if err != nil {
		return nil, err
	}
	r := new(big.Int).SetBytes(p.Signature[:scalarLen])
	s := new(big.Int).SetBytes(p.Signature[scalarLen:])
	if !ecdsa.Verify(pk.key, digest(pk, p.Message, p.Footer, implicit), r, s) {
		return nil, ErrSignature
	}
	return p, nil
}
