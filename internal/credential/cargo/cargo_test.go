package cargo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/credential"
)

func TestCapturedRequests(t *testing.T) {
	for _, tt := range capturedRequests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tt.line + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			tok := got.Token
			got.Token = credential.Token{}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("decoded\n %#v\nwant\n %#v", *got, tt.want)
			}
			if tt.name == "login" && tok.Reveal() != "secret-token-123" {
				t.Errorf("token = %d bytes, want secret-token-123", tok.Len())
			}
			got.Token = tok
			enc, err := EncodeRequest(got)
			if err != nil {
				t.Fatal(err)
			}
			if string(enc) != tt.line+"\n" {
				t.Errorf("round trip\n got %s\nwant %s", enc, tt.line)
			}
		})
	}
}

func TestHello(t *testing.T) {
	if got := string(EncodeHello()); got != "{\"v\":[1]}\n" {
		t.Errorf("EncodeHello = %q", got)
	}
	for _, tt := range []struct {
		line string
		ok   bool
		v1   bool
	}{
		{`{"v":[1]}`, true, true},
		{`{"v":[1,2],"extra":1}`, true, true}, // accepted by cargo 1.95
		{`{"v":[2]}`, true, false},            // cargo: "supports protocol versions [2]"
		{`{}`, false, false},
		{`{"v":1}`, false, false},
		{`log line`, false, false},
	} {
		h, err := DecodeHello([]byte(tt.line))
		if (err == nil) != tt.ok {
			t.Errorf("DecodeHello(%s) error = %v", tt.line, err)
			continue
		}
		if err == nil && h.Supports(1) != tt.v1 {
			t.Errorf("DecodeHello(%s).Supports(1) = %v", tt.line, !tt.v1)
		}
	}
}

// What cargo's serde accepts and ignores must not stop the decoder.
func TestRequestLenient(t *testing.T) {
	tests := []struct {
		line string
		want Request
	}{
		{ // unknown fields at both levels, empty args (cargo's own test)
			`{"extra-1":true,"v":1,"registry":{"index-url":"url","extra-2":true},"kind":"get","operation":"owners","name":"pkg","args":[]}`,
			Request{Registry: Registry{IndexURL: "url"}, Kind: KindGet, Operation: OpOwners, Name: "pkg", Args: []string{}},
		},
		{ // unknown kind: kept, for an operation-not-supported answer
			`{"v":1,"registry":{"index-url":""},"kind":"unexpected-1","extra-1":true,"args":[]}`,
			Request{Kind: "unexpected-1", Args: []string{}},
		},
		{ // unknown operation: kept
			`{"v":1,"registry":{"index-url":"u"},"kind":"get","operation":"frobnicate","name":"x"}`,
			Request{Registry: Registry{IndexURL: "u"}, Kind: KindGet, Operation: "frobnicate"},
		},
		{ // fields that do not belong to the operation are ignored
			`{"v":1,"registry":{"index-url":"u"},"kind":"get","operation":"read","name":"x","vers":"1","cksum":"zz","token":"t"}`,
			Request{Registry: Registry{IndexURL: "u"}, Kind: KindGet, Operation: OpRead},
		},
		{ // logout with a stray token: ignored
			`{"v":1,"registry":{"index-url":"u"},"kind":"logout","token":"bad token\n"}`,
			Request{Registry: Registry{IndexURL: "u"}, Kind: KindLogout},
		},
		{ // null for what serde reads as an Option is absent
			`{"v":1,"registry":{"index-url":"u","name":null},"kind":"login","token":null,"login-url":null}`,
			Request{Registry: Registry{IndexURL: "u"}, Kind: KindLogin},
		},
		{ // login with an empty token is a login without one
			`{"v":1,"registry":{"index-url":"u"},"kind":"login","token":""}`,
			Request{Registry: Registry{IndexURL: "u"}, Kind: KindLogin},
		},
		{ // whitespace and CRLF
			" {\"v\" : 1, \"registry\" : {\"index-url\":\"u\"}, \"kind\":\"logout\"}\r\n",
			Request{Registry: Registry{IndexURL: "u"}, Kind: KindLogout},
		},
		{ // non-ASCII crate name and version are not control characters
			`{"v":1,"registry":{"index-url":"u"},"kind":"get","operation":"yank","name":"crâte","vers":"1.0.0-ß"}`,
			Request{Registry: Registry{IndexURL: "u"}, Kind: KindGet, Operation: OpYank, Name: "crâte", Vers: "1.0.0-ß"},
		},
	}
	for _, tt := range tests {
		got, err := DecodeRequest([]byte(tt.line))
		if err != nil {
			t.Errorf("DecodeRequest(%s): %v", tt.line, err)
			continue
		}
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("DecodeRequest(%s)\n = %#v\nwant %#v", tt.line, *got, tt.want)
		}
	}
}

func TestRequestRejects(t *testing.T) {
	const sum = "3c11693ca65f5d9cac91155eaa64ebe1f21c5076dc26df487137840c6b597610"
	tests := []struct{ name, line string }{
		{"empty", ``},
		{"not json", `hello`},
		{"array", `[1]`},
		{"two objects", `{"v":1,"registry":{"index-url":"u"},"kind":"logout"}{}`},
		{"two lines", "{\"v\":1,\"registry\":{\"index-url\":\"u\"},\"kind\":\"logout\"}\n{}"},
		{"no v", `{"registry":{"index-url":"u"},"kind":"logout"}`},
		{"v 2", `{"v":2,"registry":{"index-url":"u"},"kind":"logout"}`},
		{"v string", `{"v":"1","registry":{"index-url":"u"},"kind":"logout"}`},
		{"v float", `{"v":1.0,"registry":{"index-url":"u"},"kind":"logout"}`},
		{"no registry", `{"v":1,"kind":"logout"}`},
		{"no index-url", `{"v":1,"registry":{"name":"x"},"kind":"logout"}`},
		{"null index-url", `{"v":1,"registry":{"index-url":null},"kind":"logout"}`},
		{"null headers", `{"v":1,"registry":{"index-url":"u","headers":null},"kind":"logout"}`},
		{"null args", `{"v":1,"registry":{"index-url":"u"},"kind":"logout","args":null}`},
		{"headers not strings", `{"v":1,"registry":{"index-url":"u","headers":[1]},"kind":"logout"}`},
		{"args not array", `{"v":1,"registry":{"index-url":"u"},"kind":"logout","args":"a"}`},
		{"no kind", `{"v":1,"registry":{"index-url":"u"}}`},
		{"kind case", `{"v":1,"registry":{"index-url":"u"},"Kind":"logout"}`},
		{"duplicate kind", `{"v":1,"registry":{"index-url":"u"},"kind":"get","kind":"logout"}`},
		{"escaped duplicate", `{"v":1,"registry":{"index-url":"u"},"kind":"logout","\u006bind":"get"}`},
		{"get without operation", `{"v":1,"registry":{"index-url":"u"},"kind":"get"}`},
		{"publish without cksum", `{"v":1,"registry":{"index-url":"u"},"kind":"get","operation":"publish","name":"foo","vers":"1"}`},
		{"publish bad cksum", `{"v":1,"registry":{"index-url":"u"},"kind":"get","operation":"publish","name":"foo","vers":"1","cksum":"` + strings.ToUpper(sum) + `"}`},
		{"publish short cksum", `{"v":1,"registry":{"index-url":"u"},"kind":"get","operation":"publish","name":"foo","vers":"1","cksum":"abc"}`},
		{"yank without vers", `{"v":1,"registry":{"index-url":"u"},"kind":"get","operation":"yank","name":"foo"}`},
		{"owners without name", `{"v":1,"registry":{"index-url":"u"},"kind":"get","operation":"owners"}`},
		{"empty name", `{"v":1,"registry":{"index-url":"u"},"kind":"get","operation":"owners","name":""}`},
		{"newline in name", `{"v":1,"registry":{"index-url":"u"},"kind":"get","operation":"owners","name":"foo\nbar"}`},
		{"escape in vers", `{"v":1,"registry":{"index-url":"u"},"kind":"get","operation":"yank","name":"foo","vers":"1\u001b[2J"}`},
		{"bidi override", `{"v":1,"registry":{"index-url":"u"},"kind":"get","operation":"owners","name":"foo\u202e"}`},
		{"zero-width", `{"v":1,"registry":{"index-url":"u"},"kind":"get","operation":"yank","name":"foo","vers":"1.0\u200d"}`},
		{"C1 control", `{"v":1,"registry":{"index-url":"u"},"kind":"get","operation":"owners","name":"foo\u0085"}`},
		{"invalid utf-8", "{\"v\":1,\"registry\":{\"index-url\":\"u\"},\"kind\":\"get\",\"operation\":\"owners\",\"name\":\"\xff\"}"},
		{"token newline", `{"v":1,"registry":{"index-url":"u"},"kind":"login","token":"s3cr3t\nX"}`},
		{"token non-ascii", `{"v":1,"registry":{"index-url":"u"},"kind":"login","token":"s3cr3t-é"}`},
		{"token not string", `{"v":1,"registry":{"index-url":"u"},"kind":"login","token":123456}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(tt.line))
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "123456") {
				t.Errorf("error quotes the token: %v", err)
			}
		})
	}
}

func TestResponses(t *testing.T) {
	tok, err := credential.NewToken("secret-token-123")
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Unix(1795529493, 0)
	responses := []Response{
		{Kind: KindGet, Token: tok, Cache: CacheSession, OperationIndependent: true},
		{Kind: KindGet, Token: tok, Cache: CacheExpires, Expiration: exp, OperationIndependent: true},
		{Kind: KindGet, Token: tok, Cache: CacheNever},
		{Kind: KindLogin},
		{Kind: KindLogout},
	}
	for i, r := range responses {
		got, err := EncodeResponse(&r)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != capturedResponses[i]+"\n" {
			t.Errorf("EncodeResponse\n got %s\nwant %s", got, capturedResponses[i])
		}
		back, err := DecodeResponse(got)
		if err != nil {
			t.Fatal(err)
		}
		if back.Kind != r.Kind || !back.Token.Equal(r.Token) || back.Cache != r.Cache ||
			!back.Expiration.Equal(r.Expiration) || back.OperationIndependent != r.OperationIndependent {
			t.Errorf("DecodeResponse(%s) = %+v", got, back)
		}
	}

	errs := []*Error{
		{Kind: URLNotSupported},
		{Kind: NotFound},
		{Kind: OperationNotSupported},
		{Kind: Other, Message: "vault is locked", CausedBy: []string{"ssh-agent not running", "socket missing"}},
	}
	for i, e := range errs {
		got := EncodeError(e)
		if string(got) != capturedErrors[i]+"\n" {
			t.Errorf("EncodeError\n got %s\nwant %s", got, capturedErrors[i])
		}
		r, err := DecodeResponse(got)
		var back *Error
		if r != nil || !errors.As(err, &back) {
			t.Fatalf("DecodeResponse(%s) = %v, %v", got, r, err)
		}
		if string(EncodeError(back)) != string(got) {
			t.Errorf("error round trip: %s", EncodeError(back))
		}
	}
}

func TestEncodeResponseRefuses(t *testing.T) {
	bad, good := credential.UncheckedToken("s3cr3t\nX"), credential.UncheckedToken("s3cr3t")
	for _, r := range []Response{
		{Kind: KindGet, Cache: CacheSession},              // no token
		{Kind: KindGet, Token: bad, Cache: CacheSession},  // token with newline
		{Kind: KindGet, Token: good},                      // no cache
		{Kind: KindGet, Token: good, Cache: "forever"},    // unknown cache
		{Kind: KindGet, Token: good, Cache: CacheExpires}, // no expiration
		{Kind: "frobnicate"},
		{},
	} {
		b, err := EncodeResponse(&r)
		if err == nil {
			t.Errorf("EncodeResponse(%+v) = %s", r, b)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error quotes the token: %v", err)
		}
	}
}

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
	}{
		{`{"Ok":{"kind":"get","token":"t","cache":"never","operation_independent":true,"extra-field-ignored":123}}`, true},
		{`{"Ok":{"kind":"get","token":"t","cache":"unknown-kind","operation_independent":true}}`, true},
		{`{"Ok":{"kind":"unknown-kind","extra-data":true}}`, true},
		{`{"Ok":{"kind":"login","extra-data":true}}`, true},
		{`{"Err":{"kind":"unexpected-kind","unexpected-content":"test"}}`, false},
		{`{"Err":{"kind":"other","message":"m","caused-by":null}}`, false},
		// What cargo 1.95 refuses:
		{`{"Ok":{"kind":"get","token":"t","cache":"never"}}`, false},                                // missing operation_independent
		{`{"Ok":{"token":"t","cache":"never","operation_independent":true}}`, false},                // missing kind
		{`{"kind":"get","token":"t","cache":"never","operation_independent":true}`, false},          // unwrapped (the docs' example)
		{`{"Ok":{"kind":"get","token":"t","cache":"expires","operation_independent":true}}`, false}, // missing expiration
		{`{"Ok":{"kind":"login"},"Err":{"kind":"not-found"}}`, false},
		{`{"Ok":null}`, false},
		{`log line`, false},
	}
	for _, tt := range tests {
		r, err := DecodeResponse([]byte(tt.line))
		if (err == nil) != tt.ok {
			t.Errorf("DecodeResponse(%s) = %+v, %v", tt.line, r, err)
		}
	}
	_, err := DecodeResponse([]byte(`{"Err":{"kind":"unexpected-kind"}}`))
	var e *Error
	if !errors.As(err, &e) || e.Kind != "unexpected-kind" || e.Error() != "unknown error kind" {
		t.Errorf("unknown error kind: %v", err)
	}
}

func TestFromError(t *testing.T) {
	base := errors.New("socket missing")
	mid := fmt.Errorf("ssh-agent not running: %w", base)
	top := fmt.Errorf("vault is locked: %w", mid)
	e := FromError(top)
	if got := string(EncodeError(e)); got != capturedErrors[3]+"\n" {
		t.Errorf("FromError chain = %s", got)
	}
	if e.Error() != top.Error() {
		t.Errorf("Error() = %q, want %q", e.Error(), top.Error())
	}
	// A cause that is not a suffix keeps the whole text.
	e = FromError(fmt.Errorf("opening store (%w)", base))
	if e.Message != "opening store (socket missing)" || len(e.CausedBy) != 0 {
		t.Errorf("FromError = %+v", e)
	}
	// An *Error anywhere in the chain wins.
	e = FromError(fmt.Errorf("lookup: %w", &Error{Kind: NotFound}))
	if e.Kind != NotFound {
		t.Errorf("FromError kept %v", e.Kind)
	}
	if FromError(nil) != nil {
		t.Error("FromError(nil) != nil")
	}
	if got := string(EncodeError(Errorf("key %d locked", 3))); got != `{"Err":{"kind":"other","message":"key 3 locked","caused-by":[]}}`+"\n" {
		t.Errorf("Errorf = %s", got)
	}
	if got := string(EncodeError(&Error{Kind: NotFound, Message: "no key for fake"})); got != `{"Err":{"kind":"not-found","message":"no key for fake","caused-by":[]}}`+"\n" {
		t.Errorf("not-found with message = %s", got)
	}
	if got := string(EncodeError(&Error{Message: "bad \xff"})); got != "{\"Err\":{\"kind\":\"other\",\"message\":\"bad \uFFFD\",\"caused-by\":[]}}\n" {
		t.Errorf("invalid UTF-8 = %q", got)
	}
}

func TestReadLine(t *testing.T) {
	r := bufio.NewReaderSize(strings.NewReader("a\r\n\nlast"), 16)
	for _, want := range []string{"a", "", "last"} {
		got, err := ReadLine(r)
		if err != nil || string(got) != want {
			t.Fatalf("ReadLine = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := ReadLine(r); err != io.EOF {
		t.Fatalf("at end: %v", err)
	}
	long := strings.Repeat("x", MaxLine+3) + "\n"
	if _, err := ReadLine(bufio.NewReader(strings.NewReader(long))); err == nil {
		t.Fatal("over-long line accepted")
	}
	ok := strings.Repeat("x", MaxLine) + "\n"
	if got, err := ReadLine(bufio.NewReaderSize(strings.NewReader(ok), 16)); err != nil || len(got) != MaxLine {
		t.Fatalf("longest line: %d, %v", len(got), err)
	}
	req, err := ReadRequest(bufio.NewReader(strings.NewReader(capturedRequests[3].line + "\n")))
	if err != nil || req.Operation != OpRead {
		t.Fatalf("ReadRequest = %+v, %v", req, err)
	}
	if _, err := ReadRequest(bufio.NewReader(strings.NewReader(""))); err != io.EOF {
		t.Fatalf("ReadRequest at EOF = %v", err)
	}
}

func TestRequestRedacts(t *testing.T) {
	req, err := DecodeRequest([]byte(capturedRequests[0].line))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v", req), fmt.Sprintf("%+v", *req), fmt.Sprintf("%#v", req)} {
		if strings.Contains(s, "secret-token-123") {
			t.Errorf("printing a Request shows the token: %s", s)
		}
	}
}
