package paseto

import (
	"bytes"
	"strings"
	"testing"
)

// The seed corpora in testdata/fuzz hold the official vectors' keys and
// tokens, RFC 3231's, and the token nightly cargo signed.

func FuzzParsePublicKey(f *testing.F) {
	for _, s := range []string{rfcPublic, cargoPublic, "k3.public.AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pk, err := ParsePublicKey(s)
		if err != nil {
			return
		}
		if pk.String() != s {
			t.Fatalf("round trip %q -> %q", s, pk.String())
		}
		if !strings.HasPrefix(pk.ID(), PrefixPID) {
			t.Fatal("bad ID")
		}
	})
}

func FuzzParseSecretKey(f *testing.F) {
	for _, s := range []string{rfcSecret, cargoSecret, "k3.secret.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sk, err := ParseSecretKey(s)
		if err != nil {
			// A short body can occur in an error's fixed text by chance
			// (the fuzzer found "k3.secre"); a key-length one cannot.
			if body, ok := strings.CutPrefix(s, PrefixSecret); ok && len(body) >= 64 && strings.Contains(err.Error(), body) {
				t.Fatalf("error quotes the key: %v", err)
			}
			return
		}
		tok, err := FormatSecretKey(sk)
		if err != nil || tok.Reveal() != s {
			t.Fatalf("round trip %q -> %v", s, err)
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{rfcRead, rfcPub, cargoRead} {
		f.Add(s)
	}
	sk, err := ParseSecretKey(rfcSecret)
	if err != nil {
		f.Fatal(err)
	}
	pk, _ := NewPublicKey(sk.Public())
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if _, err := Verify(pk, s, nil); err == nil {
				t.Fatal("Verify accepted what Parse refused")
			}
			return
		}
		if len(p.Signature) != sigLen {
			t.Fatalf("signature of %d bytes", len(p.Signature))
		}
		// Re-encoding the parts gives the token back: one encoding per token.
		re := Header + b64.EncodeToString(append(append([]byte(nil), p.Message...), p.Signature...))
		if len(p.Footer) > 0 {
			re += "." + b64.EncodeToString(p.Footer)
		}
		if re != s {
			t.Fatalf("token is not canonical: %q -> %q", s, re)
		}
		if v, err := Verify(pk, s, nil); err == nil && !bytes.Equal(v.Message, p.Message) {
			t.Fatal("Verify and Parse disagree")
		}
		DecodeClaims(p.Message)
		DecodeFooter(p.Footer)
	})
}

func FuzzDecodeClaims(f *testing.F) {
	for _, s := range []string{
		`{"iat":"2026-11-24T13:12:50.189763662Z","sub":"org:acme/ci-bot"}`,
		`{"iat":"2026-11-24T13:12:50.245761553Z","sub":"org:acme/ci-bot","mutation":"publish","name":"foo","vers":"0.7.0","cksum":"3ed3952d8be3f804aa9cb2562aba2269b1bc1450879d03153c4a1cc72e4999d1"}`,
		`{"challenge": "challenge", "mutation": "publish", "name": "foo", "vers": "0.0.0", "cksum": "f7dbb6acfeff1d490fba693a402456f76b344fea77a5e7cae43b5970c3332b8f", "sub": "private-key-subject", "iat": "2022-02-28T18:33:24+00:00"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeClaims(b)
		if err != nil {
			return
		}
		enc, err := c.Encode()
		if err != nil {
			t.Fatalf("decoded claims do not encode: %v", err)
		}
		back, err := DecodeClaims(enc)
		if err != nil || !back.IssuedAt.Equal(c.IssuedAt) {
			t.Fatalf("round trip: %v", err)
		}
		back.IssuedAt = c.IssuedAt
		if *back != *c {
			t.Fatalf("round trip: %+v -> %+v", c, back)
		}
	})
}
