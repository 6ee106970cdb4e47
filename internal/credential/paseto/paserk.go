package paseto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/vigil-agent/vigil/internal/credential"
)

// PASERK prefixes for version 3 (NIST P-384) keys.
const (
	PrefixPublic = "k3.public."
	PrefixSecret = "k3.secret."
	PrefixPID    = "k3.pid."
)

const (
	compressedLen = 49 // SEC 1 compressed P-384 point
	scalarLen     = 48 // P-384 private scalar
	pidLen        = 33 // bytes of SHA-384 kept in a k3.pid
)

var b64 = base64.RawURLEncoding.Strict()

// decodeB64 decodes unpadded base64url, refusing anything but its alphabet
// (encoding/base64 would skip CR and LF) and non-zero trailing bits.
func decodeB64(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, errors.New("not unpadded base64url")
		}
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, errors.New("not canonical base64url")
	}
	return b, nil
}

// PublicKey is a P-384 public key with its PASERK forms.
type PublicKey struct {
	key        *ecdsa.PublicKey
	compressed [compressedLen]byte
}

// NewPublicKey wraps pub, which must be an *ecdsa.PublicKey on P-384 (what a
// crypto.Signer for a v3.public key returns from Public).
func NewPublicKey(pub crypto.PublicKey) (*PublicKey, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P384() {
		return nil, fmt.Errorf("paseto: v3 needs an ECDSA P-384 key, not %T", pub)
	}
	raw, err := k.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, fmt.Errorf("paseto: invalid public key: %w", err)
	}
	p := &PublicKey{key: k}
	p.compressed[0] = 0x02 | raw[len(raw)-1]&1
	copy(p.compressed[1:], raw[1:1+scalarLen])
	return p, nil
}

// ParsePublicKey parses a k3.public PASERK: a compressed point on P-384.
func ParsePublicKey(s string) (*PublicKey, error) {
	b, err := decodePublicBytes(s)
	if err != nil {
		return nil, err
	}
	return publicKeyFromCompressed(b)
}

// publicKeyFromCompressed returns the key of a 49-byte compressed P-384 point,
// as PASETO v3 signs over it.
func publicKeyFromCompressed(b []byte) (*PublicKey, error) {
	x, y := elliptic.UnmarshalCompressed(elliptic.P384(), b)
	if x == nil {
		return nil, errors.New("paseto: public key is not a point on P-384")
	}
	raw := make([]byte, 1+2*scalarLen)
	raw[0] = 4
	x.FillBytes(raw[1 : 1+scalarLen])
	y.FillBytes(raw[1+scalarLen:])
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P384(), raw)
	if err != nil {
		return nil, fmt.Errorf("paseto: invalid public key: %w", err)
	}
	return NewPublicKey(k)
}

// decodePublicBytes takes a k3.public PASERK apart, checking its form only.
func decodePublicBytes(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, PrefixPublic)
	if !ok {
		return nil, errors.New("paseto: not a k3.public key")
	}
	b, err := decodeB64(rest)
	if err != nil {
		return nil, fmt.Errorf("paseto: k3.public: %w", err)
	}
	if len(b) != compressedLen || (b[0] != 2 && b[0] != 3) {
		return nil, errors.New("paseto: k3.public: not a compressed P-384 point")
	}
	return b, nil
}

// encodePublicBytes is the PASERK of a 49-byte compressed point.
func encodePublicBytes(b []byte) (string, error) {
	if len(b) != compressedLen || (b[0] != 2 && b[0] != 3) {
		return "", errors.New("paseto: k3.public: not a compressed P-384 point")
	}
	return PrefixPublic + b64.EncodeToString(b), nil
}

// pid returns the k3.pid of a k3.public PASERK string.
func pid(paserk string) string {
	h := sha512.New384()
	h.Write([]byte(PrefixPID))
	h.Write([]byte(paserk))
	return PrefixPID + b64.EncodeToString(h.Sum(nil)[:pidLen])
}

// ECDSA returns the key itself.
func (p *PublicKey) ECDSA() *ecdsa.PublicKey { return p.key }

// Compressed returns the 49-byte compressed point that v3.public signs over.
func (p *PublicKey) Compressed() []byte { return append([]byte(nil), p.compressed[:]...) }

// String returns the k3.public PASERK.
func (p *PublicKey) String() string {
	s, _ := encodePublicBytes(p.compressed[:])
	return s
}

// ID returns the k3.pid PASERK: the key identifier a token's footer carries
// ("kip" for cargo, "kid" in the RFC's examples).
func (p *PublicKey) ID() string { return pid(p.String()) }

// Equal reports whether p and q are the same key.
func (p *PublicKey) Equal(q *PublicKey) bool {
	return q != nil && p.compressed == q.compressed
}

// ParseSecretKey parses a k3.secret PASERK (the form cargo keeps in
// credentials.toml as secret-key). Errors never quote s.
func ParseSecretKey(s string) (*ecdsa.PrivateKey, error) {
	rest, ok := strings.CutPrefix(s, PrefixSecret)
	if !ok {
		return nil, errors.New("paseto: not a k3.secret key")
	}
	b, err := decodeB64(rest)
	if err != nil {
		return nil, errors.New("paseto: k3.secret: not canonical base64url")
	}
	defer clear(b)
	if len(b) != scalarLen {
		return nil, fmt.Errorf("paseto: k3.secret: %d bytes, want %d", len(b), scalarLen)
	}
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P384(), b)
	if err != nil {
		return nil, errors.New("paseto: k3.secret: not a P-384 private key")
	}
	return k, nil
}

// FormatSecretKey returns k as a k3.secret PASERK, wrapped in a Token so that
// it cannot be printed by accident.
func FormatSecretKey(k *ecdsa.PrivateKey) (credential.Token, error) {
	if k == nil || k.Curve != elliptic.P384() {
		return credential.Token{}, errors.New("paseto: k3.secret needs an ECDSA P-384 key")
	}
	b, err := k.Bytes()
	if err != nil {
		return credential.Token{}, errors.New("paseto: k3.secret: invalid private key")
	}
	defer clear(b)
	return credential.UncheckedToken(PrefixSecret + b64.EncodeToString(b)), nil
}
