package paseto

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/credential/cargo"
)

func TestPAE(t *testing.T) {
	// The examples of the PASETO spec (Common.md, PAE).
	tests := []struct {
		in   [][]byte
		want string
	}{
		{nil, "\x00\x00\x00\x00\x00\x00\x00\x00"},
		{[][]byte{{}}, "\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"},
		{[][]byte{[]byte("test")}, "\x01\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00test"},
		{[][]byte{[]byte("a"), []byte("bc")}, "\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00a\x02\x00\x00\x00\x00\x00\x00\x00bc"},
	}
	for _, tt := range tests {
		if got := PAE(tt.in...); string(got) != tt.want {
			t.Errorf("PAE(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The worked example of RFC 3231 ("Token Examples"), whose key cargo's own
// tests use as a public test key.
const (
	rfcSecret = "k3.secret.fNYVuMvBgOlljt9TDohnaYLblghqaHoQquVZwgR6X12cBFHZLFsaU3q7X3k1Zn36"
	rfcPublic = "k3.public.AmDwjlyf8jAV3gm5Z7Kz9xAOcsKslt_Vwp5v-emjFzBHLCtcANzTaVEghTNEMj9PkQ"
	rfcPID    = "k3.pid.QB3WNBP-5j-0XQV2MOuvuOcLlJ8uz-pmqtIZus1x3YTu"
	rfcRead   = "v3.public.eyJpYXQiOiAiMjAyMi0wMi0yOFQxODozMzoyNCswMDowMCJ99q655qLlH5HYwCh86OGvPvY26X0rrd7Ibci3fmHz6MgAKK3RugUQ1rvNRjBEJZvfWqqq2WxEOrjMujkuk8jpmJ2B_i3BTIzYYZZRhjZeWAi0erCNqmtFZMeC3_2oqSka.eyJ1cmwiOiAiaHR0cHM6Ly9yZWdpc3RyeS5jb20vY3JhdGUtaW5kZXgiLCAia2lkIjogImszLnBpZC5RQjNXTkJQLTVqLTBYUVYyTU91dnVPY0xsSjh1ei1wbXF0SVp1czF4M1lUdSJ9"
	rfcPub    = "v3.public.eyJjaGFsbGVuZ2UiOiAiY2hhbGxlbmdlIiwgIm11dGF0aW9uIjogInB1Ymxpc2giLCAibmFtZSI6ICJmb28iLCAidmVycyI6ICIwLjAuMCIsICJja3N1bSI6ICJmN2RiYjZhY2ZlZmYxZDQ5MGZiYTY5M2E0MDI0NTZmNzZiMzQ0ZmVhNzdhNWU3Y2FlNDNiNTk3MGMzMzMyYjhmIiwgInN1YiI6ICJwcml2YXRlLWtleS1zdWJqZWN0IiwgImlhdCI6ICIyMDIyLTAyLTI4VDE4OjMzOjI0KzAwOjAwIn36ifmVYCSBYcjHVjQ_JD6R16dcWPEjHYVFOR7QRx3riOLiH7o-m236uNs2NEu-NzOCDZZbsVXvxhop-aUKRc9D-jphV5KFuC8y6mNLklfg1PpH37QeDsyzJDZy604gZ5c.eyJ1cmwiOiAiaHR0cHM6Ly9yZWdpc3RyeS1jaGFsbGVuZ2Utc3ViamVjdC5jb20vY3JhdGUtaW5kZXgiLCAia2lkIjogImszLnBpZC5RQjNXTkJQLTVqLTBYUVYyTU91dnVPY0xsSjh1ei1wbXF0SVp1czF4M1lUdSJ9"
)

func TestRFC3231Example(t *testing.T) {
	sk, err := ParseSecretKey(rfcSecret)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := NewPublicKey(sk.Public())
	if err != nil {
		t.Fatal(err)
	}
	if pk.String() != rfcPublic || pk.ID() != rfcPID {
		t.Fatalf("derived %s %s", pk, pk.ID())
	}
	iat := time.Date(2022, 2, 28, 18, 33, 24, 0, time.UTC)

	c, err := VerifyCargo(pk, rfcRead, "https://registry.com/crate-index", iat.Add(time.Minute), 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !c.IssuedAt.Equal(iat) || c.Mutation != "" {
		t.Errorf("read claims = %+v", c)
	}
	if err := c.Check(cargo.OpRead, "", "", ""); err != nil {
		t.Error(err)
	}
	if err := c.Check(cargo.OpYank, "foo", "0.0.0", ""); err == nil {
		t.Error("a read token passed for a yank")
	}

	c, err = VerifyCargo(pk, rfcPub, "https://registry-challenge-subject.com/crate-index", iat, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{IssuedAt: c.IssuedAt, Subject: "private-key-subject", Mutation: "publish", Name: "foo", Vers: "0.0.0",
		Cksum: "f7dbb6acfeff1d490fba693a402456f76b344fea77a5e7cae43b5970c3332b8f", Challenge: "challenge"}
	if *c != want {
		t.Errorf("publish claims = %+v", c)
	}
	if err := c.Check(cargo.OpPublish, "foo", "0.0.0", want.Cksum); err != nil {
		t.Error(err)
	}
	p, _ := Parse(rfcPub)
	f, err := DecodeFooter(p.Footer)
	if err != nil || f.KID != rfcPID || f.KIP != "" {
		t.Errorf("footer = %+v, %v", f, err)
	}
}

// Captured from nightly cargo 1.97 with cargo:paseto (reference doc §3.2-3.3).
const (
	cargoSecret  = "k3.secret.K73Fhlm9Cxrev19whSV-tfP6u9vhIS7VjJbUXkm376qgC3EGEdzyAK3J_pFSWPve"
	cargoPublic  = "k3.public.AucDH_X64NyNO8FkzKpDKo8ohQ-WG8qyyK60XJ3H0Ba8Mn_v-XmdR7nFVDSewhz_fg"
	cargoRead    = "v3.public.eyJpYXQiOiIyMDI2LTExLTI0VDEzOjEyOjUwLjE4OTc2MzY2MloiLCJzdWIiOiJvcmc6YWNtZS9jaS1ib3QifQ6Pgz07tTFVBj49y37jtOR2RuoIzgxUF04xv9JMkU3gNQ7Pi4sF87b-JUFVzjUAA1w6X1mxInc9TxiIm6gJgV9qbRLGHF2GXXTTdae3vZCwhXSGrrP8Nwo2UOBppy8zkw.eyJ1cmwiOiJzcGFyc2UraHR0cDovLzEyNy4wLjAuMTo4NzY1L2luZGV4LyIsImtpcCI6ImszLnBpZC5xYVRRVndNazRPZlRsMkd6b0J3Z2duRWVZQ2lSdTQzNFVhNWl3d1JMNjR3SCJ9"
	cargoKIP     = "k3.pid.qaTQVwMk4OfTl2GzoBwggnEeYCiRu434Ua5iwwRL64wH"
	cargoURL     = "sparse+http://127.0.0.1:8765/index/"
	cargoFooter  = `{"url":"sparse+http://127.0.0.1:8765/index/","kip":"k3.pid.qaTQVwMk4OfTl2GzoBwggnEeYCiRu434Ua5iwwRL64wH"}`
	cargoSubject = "org:acme/ci-bot"
)

func TestCargoCaptured(t *testing.T) {
	p, err := Parse(cargoRead)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Footer) != cargoFooter {
		t.Fatalf("footer %s", p.Footer)
	}
	f, err := DecodeFooter(p.Footer)
	if err != nil {
		t.Fatal(err)
	}
	if enc, _ := f.Encode(); string(enc) != cargoFooter {
		t.Errorf("footer re-encodes as %s", enc)
	}

	// The key cargo generated (credentials.toml) and printed the public half
	// of; its id is the token's kip, and the token cargo signed with it
	// verifies here.
	sk, err := ParseSecretKey(cargoSecret)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := NewPublicKey(sk.Public())
	if pk.String() != cargoPublic || pk.ID() != cargoKIP {
		t.Fatalf("derived %s %s", pk, pk.ID())
	}
	iat := time.Date(2026, 11, 24, 13, 12, 50, 189763662, time.UTC)
	c, err := VerifyCargo(pk, cargoRead, cargoURL, iat, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !c.IssuedAt.Equal(iat) || c.Subject != cargoSubject || c.Check(cargo.OpRead, "", "", "") != nil {
		t.Errorf("claims %+v", c)
	}

	// Messages and footer as cargo encodes them, byte for byte.
	for _, tt := range []struct {
		req  cargo.Request
		iat  time.Time
		want string
	}{
		{cargo.Request{Kind: cargo.KindGet, Operation: cargo.OpRead},
			time.Date(2026, 11, 24, 13, 12, 50, 189763662, time.UTC),
			`{"iat":"2026-11-24T13:12:50.189763662Z","sub":"org:acme/ci-bot"}`},
		{cargo.Request{Kind: cargo.KindGet, Operation: cargo.OpPublish, Name: "foo", Vers: "0.7.0", Cksum: "3ed3952d8be3f804aa9cb2562aba2269b1bc1450879d03153c4a1cc72e4999d1"},
			time.Date(2026, 11, 24, 13, 12, 50, 245761553, time.UTC),
			`{"iat":"2026-11-24T13:12:50.245761553Z","sub":"org:acme/ci-bot","mutation":"publish","name":"foo","vers":"0.7.0","cksum":"3ed3952d8be3f804aa9cb2562aba2269b1bc1450879d03153c4a1cc72e4999d1"}`},
		{cargo.Request{Kind: cargo.KindGet, Operation: cargo.OpYank, Name: "foo", Vers: "0.7.0"},
			time.Date(2026, 11, 24, 13, 12, 50, 359189859, time.UTC),
			`{"iat":"2026-11-24T13:12:50.359189859Z","sub":"org:acme/ci-bot","mutation":"yank","name":"foo","vers":"0.7.0"}`},
		{cargo.Request{Kind: cargo.KindGet, Operation: cargo.OpOwners, Name: "foo"},
			time.Date(2026, 11, 24, 13, 12, 50, 381893577, time.UTC),
			`{"iat":"2026-11-24T13:12:50.381893577Z","sub":"org:acme/ci-bot","mutation":"owners","name":"foo"}`},
	} {
		c, err := ClaimsFor(&tt.req, tt.iat, cargoSubject)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := c.Encode()
		if err != nil || string(enc) != tt.want {
			t.Errorf("claims encode as\n %s\nwant\n %s", enc, tt.want)
		}
		back, err := DecodeClaims(enc)
		if err != nil || *back != *c {
			t.Errorf("claims round trip: %+v, %v", back, err)
		}
	}
	c, _ = DecodeClaims(p.Message)
	if enc, _ := c.Encode(); !bytes.Equal(enc, p.Message) {
		t.Errorf("captured message re-encodes as %s", enc)
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCargoTokenRoundTrip(t *testing.T) {
	sk := newKey(t)
	pk, _ := NewPublicKey(sk.Public())
	now := time.Now()
	const sum = "3c11693ca65f5d9cac91155eaa64ebe1f21c5076dc26df487137840c6b597610"
	reqs := []cargo.Request{
		{Kind: cargo.KindGet, Operation: cargo.OpRead},
		{Kind: cargo.KindGet, Operation: cargo.OpPublish, Name: "foo", Vers: "0.2.0", Cksum: sum},
		{Kind: cargo.KindGet, Operation: cargo.OpYank, Name: "foo", Vers: "0.1.0"},
		{Kind: cargo.KindGet, Operation: cargo.OpUnyank, Name: "foo", Vers: "0.1.0"},
		{Kind: cargo.KindGet, Operation: cargo.OpOwners, Name: "foo"},
	}
	for _, req := range reqs {
		req.Registry = cargo.Registry{IndexURL: cargoURL, Name: "fake"}
		resp, err := CargoResponse(sk, &req, now, "")
		if err != nil {
			t.Fatal(err)
		}
		wantCache := cargo.CacheNever
		if req.Operation == cargo.OpRead {
			wantCache = cargo.CacheSession
		}
		if resp.Cache != wantCache || resp.OperationIndependent || resp.Kind != cargo.KindGet {
			t.Errorf("%s: response %+v", req.Operation, resp)
		}
		line, err := cargo.EncodeResponse(resp)
		if err != nil {
			t.Fatal(err)
		}
		back, err := cargo.DecodeResponse(line)
		if err != nil {
			t.Fatal(err)
		}
		c, err := VerifyCargo(pk, back.Token.Reveal(), cargoURL, now, time.Minute)
		if err != nil {
			t.Fatalf("%s: %v", req.Operation, err)
		}
		if err := c.Check(req.Operation, req.Name, req.Vers, req.Cksum); err != nil {
			t.Errorf("%s: %v", req.Operation, err)
		}
		// A token for one operation is refused for every other.
		for _, other := range reqs {
			if other.Operation == req.Operation {
				continue
			}
			if err := c.Check(other.Operation, other.Name, other.Vers, other.Cksum); err == nil && req.Operation != cargo.OpRead {
				t.Errorf("%s token passed for %s", req.Operation, other.Operation)
			}
		}
	}

	// The replay the RFC is about: another crate, version or checksum.
	req := reqs[1]
	req.Registry.IndexURL = cargoURL
	tok, _ := CargoToken(sk, &req, now, "")
	c, err := VerifyCargo(pk, tok.Reveal(), cargoURL, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][3]string{{"bar", "0.2.0", sum}, {"foo", "0.2.1", sum}, {"foo", "0.2.0", strings.Repeat("0", 64)}} {
		if err := c.Check(cargo.OpPublish, bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("publish token passed for %v", bad)
		}
	}
	if _, err := VerifyCargo(pk, tok.Reveal(), "sparse+http://127.0.0.1:1/index/", now, time.Minute); err == nil {
		t.Error("token passed for another registry")
	}
	if _, err := VerifyCargo(pk, tok.Reveal(), cargoURL, now.Add(16*time.Minute), 15*time.Minute); err == nil {
		t.Error("old token passed")
	}
	if _, err := VerifyCargo(pk, tok.Reveal(), cargoURL, now.Add(-2*time.Minute), 15*time.Minute); err == nil {
		t.Error("token from the future passed")
	}
	other, _ := NewPublicKey(newKey(t).Public())
	if _, err := VerifyCargo(other, tok.Reveal(), cargoURL, now, time.Minute); !errors.Is(err, ErrSignature) {
		t.Errorf("another key: %v", err)
	}

	if _, err := CargoToken(sk, &cargo.Request{Kind: cargo.KindLogin}, now, ""); err == nil {
		t.Error("token for a login")
	}
	if _, err := CargoToken(sk, &cargo.Request{Kind: cargo.KindGet, Operation: "frobnicate"}, now, ""); err == nil {
		t.Error("token for an unknown operation")
	}
}

func TestSignDeterministic(t *testing.T) {
	sk := newKey(t)
	a, err := Sign(sk, []byte("m"), []byte("f"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Sign(sk, []byte("m"), []byte("f"), nil)
	if a.Reveal() != b.Reveal() {
		t.Error("two signatures of the same message differ")
	}
	if strings.Count(a.Reveal(), ".") != 3 {
		t.Errorf("token with footer: %d dots", strings.Count(a.Reveal(), "."))
	}
	c, _ := Sign(sk, []byte("m"), nil, nil)
	if strings.Count(c.Reveal(), ".") != 2 {
		t.Errorf("token without footer: %d dots", strings.Count(c.Reveal(), "."))
	}
	if fmt.Sprint(a) != credential.Redacted {
		t.Error("token prints")
	}
}

// signer stands for a key held elsewhere (the agent, hardware).
type signer struct {
	pub  crypto.PublicKey
	sign func(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

func (s signer) Public() crypto.PublicKey { return s.pub }
func (s signer) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.sign(r, d, o)
}

func TestSignThroughSigner(t *testing.T) {
	sk := newKey(t)
	pk, _ := NewPublicKey(sk.Public())
	var sawHash crypto.Hash
	remote := signer{sk.Public(), func(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
		sawHash = o.HashFunc()
		return ecdsa.SignASN1(rand.Reader, sk, d) // randomised, unlike sk.Sign(nil, ...)
	}}
	tok, err := Sign(remote, []byte("m"), []byte("f"), []byte("i"))
	if err != nil {
		t.Fatal(err)
	}
	if sawHash != crypto.SHA384 {
		t.Errorf("signer asked for %v", sawHash)
	}
	if _, err := Verify(pk, tok.Reveal(), []byte("i")); err != nil {
		t.Fatal(err)
	}

	other := newKey(t)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, s := range map[string]crypto.Signer{
		"wrong key": signer{sk.Public(), func(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
			return ecdsa.SignASN1(rand.Reader, other, d)
		}},
		"garbage": signer{sk.Public(), func(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
			return []byte{0x30, 0x03, 0x02, 0x01, 0x01}, nil
		}},
		"raw r||s": signer{sk.Public(), func(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
			return make([]byte, 96), nil
		}},
		"trailing bytes": signer{sk.Public(), func(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
			der, err := sk.Sign(nil, d, o)
			return append(der, 0), err
		}},
		"refuses": signer{sk.Public(), func(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
			return nil, errors.New("denied by the user")
		}},
		"P-256":   p256,
		"Ed25519": edKey,
	} {
		if _, err := Sign(s, []byte("m"), nil, nil); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}

func TestParseRejects(t *testing.T) {
	sk := newKey(t)
	pk, _ := NewPublicKey(sk.Public())
	good, _ := Sign(sk, []byte("message"), []byte("footer"), nil)
	g := good.Reveal()
	body, footer, _ := strings.Cut(strings.TrimPrefix(g, Header), ".")
	for name, tok := range map[string]string{
		"empty":            "",
		"v3.local":         "v3.local." + body,
		"v4.public":        "v4.public." + body,
		"V3.PUBLIC":        "V3.PUBLIC." + body,
		"no body":          Header,
		"short body":       Header + b64.EncodeToString(make([]byte, 95)),
		"empty footer":     Header + body + ".",
		"three parts":      g + ".x",
		"padding":          Header + body + "=",
		"newline in body":  Header + body[:10] + "\n" + body[10:],
		"CR in footer":     Header + body + "." + footer[:2] + "\r" + footer[2:],
		"std base64 chars": Header + strings.NewReplacer("-", "+", "_", "/").Replace(body) + "+/",
		"space":            " " + g,
		"bad last char":    Header + body[:len(body)-1] + "/",
	} {
		if _, err := Parse(tok); err == nil {
			t.Errorf("%s: parsed", name)
		}
		if _, err := Verify(pk, tok, nil); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	// Every single-character change breaks the signature, or the parse.
	for i := len(Header); i < len(g); i++ {
		b := []byte(g)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		if _, err := Verify(pk, string(b), nil); err == nil {
			t.Fatalf("changed byte %d: verified", i)
		}
	}
}

func TestKeys(t *testing.T) {
	sk := newKey(t)
	s, err := FormatSecretKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseSecretKey(s.Reveal())
	if err != nil || !back.Equal(sk) {
		t.Fatalf("secret key round trip: %v", err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("key", "secret", s)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s", s, s, s, s), logs.String()} {
		if strings.Contains(out, strings.TrimPrefix(s.Reveal(), PrefixSecret)) {
			t.Errorf("secret key printed: %s", out)
		}
	}

	pk, _ := NewPublicKey(sk.Public())
	pk2, err := ParsePublicKey(pk.String())
	if err != nil || !pk2.Equal(pk) || !pk2.ECDSA().Equal(sk.Public()) {
		t.Fatalf("public key round trip: %v", err)
	}
	if pk.Equal(nil) {
		t.Error("Equal(nil)")
	}
	if !strings.HasPrefix(pk.ID(), PrefixPID) || len(pk.ID()) != len(PrefixPID)+44 {
		t.Errorf("ID = %s", pk.ID())
	}

	secretBody := strings.TrimPrefix(s.Reveal(), PrefixSecret)
	for _, bad := range []string{
		"", PrefixSecret, "k4.secret." + secretBody, PrefixSecret + secretBody + "A",
		PrefixSecret + b64.EncodeToString(make([]byte, 48)),               // zero scalar
		PrefixSecret + b64.EncodeToString(bytes.Repeat([]byte{0xff}, 48)), // not below the order
		PrefixSecret + secretBody[:20] + "\n" + secretBody[20:],
	} {
		_, err := ParseSecretKey(bad)
		if err == nil {
			t.Errorf("ParseSecretKey(%q) succeeded", bad)
			continue
		}
		if len(secretBody) > 0 && strings.Contains(err.Error(), secretBody[:16]) {
			t.Errorf("error quotes the key: %v", err)
		}
	}
	pubBody := strings.TrimPrefix(pk.String(), PrefixPublic)
	raw := pk.Compressed()
	raw[0] = 4
	notOnCurve := append([]byte{2}, bytes.Repeat([]byte{0xff}, 48)...)
	for _, bad := range []string{
		"", PrefixPublic, "k2.public." + pubBody, PrefixPublic + pubBody + "A",
		PrefixPublic + b64.EncodeToString(raw),
		PrefixPublic + b64.EncodeToString(notOnCurve),
	} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) succeeded", bad)
		}
	}
	if _, err := NewPublicKey(&newKey(t).PublicKey); err != nil {
		t.Error(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := NewPublicKey(p256.Public()); err == nil {
		t.Error("P-256 key accepted")
	}
	if _, err := FormatSecretKey(p256); err == nil {
		t.Error("P-256 key formatted")
	}
}

func TestClaims(t *testing.T) {
	for _, bad := range []string{
		`{}`, `{"iat":1}`, `{"iat":"yesterday"}`, `{"iat":"2026-11-24T13:12:50Z","v":0}`,
		`{"iat":"2026-11-24T13:12:50Z","v":256}`, `{"iat":"2026-11-24T13:12:50Z","name":null}`,
		`{"iat":"2026-11-24T13:12:50Z","iat":"2026-11-24T13:12:51Z"}`, `[]`,
	} {
		if _, err := DecodeClaims([]byte(bad)); err == nil {
			t.Errorf("DecodeClaims(%s) succeeded", bad)
		}
	}
	c, err := DecodeClaims([]byte(`{"iat":"2026-11-24T13:12:50+02:00","v":1,"exp":"ignored"}`))
	if err != nil || c.V != 1 || c.IssuedAt.UTC().Hour() != 11 {
		t.Errorf("DecodeClaims = %+v, %v", c, err)
	}
	if enc, _ := c.Encode(); string(enc) != `{"iat":"2026-11-24T11:12:50Z","v":1}` {
		t.Errorf("Encode = %s", enc)
	}
	if _, err := (&Claims{}).Encode(); err == nil {
		t.Error("claims without iat encoded")
	}

	for _, bad := range []string{`{}`, `{"url":"u"}`, `{"kip":"k"}`, `{"url":"u","kip":"a","kid":"b"}`, `{"url":1,"kip":"k"}`} {
		if _, err := DecodeFooter([]byte(bad)); err == nil {
			t.Errorf("DecodeFooter(%s) succeeded", bad)
		}
	}
	f, err := DecodeFooter([]byte(`{"url":"u","kip":"a","kid":"a","x":1}`))
	if err != nil || f.URL != "u" {
		t.Errorf("DecodeFooter = %+v, %v", f, err)
	}
	if _, err := (&Footer{URL: "u"}).Encode(); err == nil {
		t.Error("footer without key id encoded")
	}
	if enc, _ := (&Footer{URL: "u", KID: "k"}).Encode(); string(enc) != `{"url":"u","kid":"k"}` {
		t.Errorf("RFC-style footer = %s", enc)
	}

	pub := &Claims{Mutation: "publish", Name: "foo", Vers: "1.0.0", Cksum: "c"}
	for _, tt := range []struct {
		op                cargo.Operation
		name, vers, cksum string
		ok                bool
	}{
		{cargo.OpPublish, "foo", "1.0.0", "c", true},
		{cargo.OpPublish, "foo", "1.0.0", "d", false},
		{cargo.OpYank, "foo", "1.0.0", "", false},
		{cargo.OpRead, "", "", "", false},
		{"frobnicate", "foo", "1.0.0", "c", false},
	} {
		if err := pub.Check(tt.op, tt.name, tt.vers, tt.cksum); (err == nil) != tt.ok {
			t.Errorf("Check(%s, %s, %s, %s) = %v", tt.op, tt.name, tt.vers, tt.cksum, err)
		}
	}
	owners := &Claims{Mutation: "owners", Name: "foo", Vers: "1.0.0"}
	if err := owners.Check(cargo.OpOwners, "foo", "", ""); err == nil {
		t.Error("owners token with a vers claim passed")
	}
	if err := (&Claims{Mutation: "owners"}).Check(cargo.OpOwners, "", "", ""); err == nil {
		t.Error("owners token without a name passed")
	}
}
