package vault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-agent/vigil/internal/secmem"
)

// KeyType names a kind of key, as the CLI spells it: "ed25519",
// "ecdsa-p256", "rsa-3072". Keys vault generates are one of [GenerateTypes];
// imported keys may also be "ecdsa-p521" or RSA of other sizes ("rsa-2048").
type KeyType string

// Types [Vault.Generate] accepts.
const (
	Ed25519   KeyType = "ed25519"
	ECDSAP256 KeyType = "ecdsa-p256"
	ECDSAP384 KeyType = "ecdsa-p384"
	RSA3072   KeyType = "rsa-3072"
	RSA4096   KeyType = "rsa-4096"
)

// GenerateTypes lists the types [Vault.Generate] accepts, the default first.
var GenerateTypes = []KeyType{Ed25519, ECDSAP256, ECDSAP384, RSA3072, RSA4096}

// ParseKeyType returns the generatable type named s, or an error listing them.
func ParseKeyType(s string) (KeyType, error) {
	names := make([]string, len(GenerateTypes))
	for i, t := range GenerateTypes {
		if string(t) == s {
			return t, nil
		}
		names[i] = string(t)
	}
	return "", fmt.Errorf("vault: unknown key type %q (want one of %s)", s, strings.Join(names, ", "))
}

// RSA modulus sizes accepted on import. 2048 is what OpenSSH still
// generates by default; 16384 is the largest it will.
const (
	MinRSABits = 2048
	MaxRSABits = 16384
)

// describe returns the type of a public key vault may store, or an error for
// any other (certificates, DSA, security keys, small RSA).
func describe(pub ssh.PublicKey) (KeyType, error) {
	cp, ok := pub.(ssh.CryptoPublicKey)
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrUnsupportedKey, pub.Type())
	}
	switch k := cp.CryptoPublicKey().(type) {
	case ed25519.PublicKey:
		return Ed25519, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return ECDSAP256, nil
		case elliptic.P384():
			return ECDSAP384, nil
		case elliptic.P521():
			return "ecdsa-p521", nil
		}
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		if bits < MinRSABits || bits > MaxRSABits {
			return "", fmt.Errorf("%w: RSA key of %d bits (want %d to %d)", ErrUnsupportedKey, bits, MinRSABits, MaxRSABits)
		}
		return KeyType(fmt.Sprintf("rsa-%d", bits)), nil
	}
	return "", fmt.Errorf("%w: %s", ErrUnsupportedKey, pub.Type())
}

// normalise returns priv in the form ssh.NewSignerFromKey and
// x509.MarshalPKCS8PrivateKey take, with its SSH public key, or an error if
// vault does not store keys of its type or size.
func normalise(priv crypto.PrivateKey) (crypto.PrivateKey, ssh.PublicKey, error) {
	var pubKey crypto.PublicKey
	switch k := priv.(type) {
	case *ed25519.PrivateKey:
		// x/crypto's OpenSSH parser returns Ed25519 keys as pointers.
		if k == nil {
			return nil, nil, fmt.Errorf("%w: nil key", ErrUnsupportedKey)
		}
		return normalise(*k)
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil, nil, fmt.Errorf("%w: ed25519 key of %d bytes", ErrUnsupportedKey, len(k))
		}
		pubKey = k.Public()
	case *ecdsa.PrivateKey:
		if k == nil {
			return nil, nil, fmt.Errorf("%w: nil key", ErrUnsupportedKey)
		}
		pubKey = k.Public()
	case *rsa.PrivateKey:
		if k == nil {
			return nil, nil, fmt.Errorf("%w: nil key", ErrUnsupportedKey)
		}
		pubKey = k.Public()
	default:
		return nil, nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, priv)
	}
	pub, err := ssh.NewPublicKey(pubKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrUnsupportedKey, err)
	}
	if _, err := describe(pub); err != nil {
		return nil, nil, err
	}
	return priv, pub, nil
}

func generate(t KeyType) (crypto.PrivateKey, error) {
	switch t {
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	_, err := ParseKeyType(string(t))
	return nil, err
}

// wipeKey overwrites what can be overwritten of a private key vault owns.
// Ed25519 keys are plain byte slices and are wiped completely (though
// crypto/ed25519 may have cached an expanded copy, reachable only by the
// collector). RSA's D and primes are zeroed, but its precomputed CRT values
// live inside crypto/rsa and are left to the collector; ECDSA's scalar is
// left too, since writing to it is deprecated and reaches none of the
// internal copies. See package secmem for why the heap cannot do better.
func wipeKey(priv crypto.PrivateKey) {
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		secmem.Wipe(k)
	case *ed25519.PrivateKey:
		if k != nil {
			secmem.Wipe(*k)
		}
	case *rsa.PrivateKey:
		if k == nil {
			return
		}
		if k.D != nil {
			k.D.SetInt64(0)
		}
		for _, p := range k.Primes {
			p.SetInt64(0)
		}
	}
}
