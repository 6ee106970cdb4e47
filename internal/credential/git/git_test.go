package git

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/credential"
)

// Messages captured between git 2.39.5 and a logging helper
// (reference/cargo-credential.md §5.2-5.4).
var captured = []struct {
	name string
	in   string // what was on the pipe
	want Credential
	out  string // what Encode writes for it; "" means the same as in
}{
	{
		name: "get from fill (no blank line, EOF)",
		in:   "protocol=https\nhost=example.com:8443\n",
		want: Credential{Protocol: "https", Host: "example.com:8443"},
	},
	{
		name: "get with path, as od -c showed it",
		in:   "protocol=https\nhost=example.com\npath=a/b.git\n",
		want: Credential{Protocol: "https", Host: "example.com", Path: "a/b.git"},
	},
	{
		name: "get from git ls-remote over http",
		in:   "protocol=http\nhost=127.0.0.1:8799\n",
		want: Credential{Protocol: "http", Host: "127.0.0.1:8799"},
	},
	{
		name: "helper's answer, new attributes and an unknown one",
		in:   "username=alice\npassword=s3cret-from-helper\npassword_expiry_utc=4102444800\noauth_refresh_token=rt-123\nunknownattr=zzz\n",
		want: Credential{Username: "alice", Password: tok("s3cret-from-helper"), PasswordExpiry: time.Unix(4102444800, 0).UTC(), OAuthRefreshToken: tok("rt-123")},
		out:  "username=alice\npassword=s3cret-from-helper\noauth_refresh_token=rt-123\npassword_expiry_utc=4102444800\n",
	},
	{
		name: "store from approve",
		in:   "protocol=https\nhost=example.com\nusername=alice\npassword=pw1\n",
		want: Credential{Protocol: "https", Host: "example.com", Username: "alice", Password: tok("pw1")},
	},
	{
		name: "store after a good http login",
		in:   "protocol=http\nhost=127.0.0.1:8799\nusername=alice\npassword=s3cret-from-helper\n",
		want: Credential{Protocol: "http", Host: "127.0.0.1:8799", Username: "alice", Password: tok("s3cret-from-helper")},
	},
	{
		name: "erase from reject",
		in:   "protocol=https\nhost=example.com\nusername=bob\npassword=pw1\n",
		want: Credential{Protocol: "https", Host: "example.com", Username: "bob", Password: tok("pw1")},
	},
	{
		name: "reject's input, with url=",
		in:   "url=https://bob@example.com/x.git\npassword=pw1\n\n",
		want: Credential{Protocol: "https", Host: "example.com", Path: "x.git", Username: "bob", Password: tok("pw1")},
		out:  "protocol=https\nhost=example.com\npath=x.git\nusername=bob\npassword=pw1\n",
	},
	{
		name: "fill's input, with wwwauth[] and capability[]",
		in:   "protocol=https\nhost=example.com:8443\npath=org/repo.git\nwwwauth[]=Basic realm=\"x\"\ncapability[]=authtype\n\n",
		want: Credential{Capabilities: []string{"authtype"}, Protocol: "https", Host: "example.com:8443", Path: "org/repo.git", WWWAuth: []string{`Basic realm="x"`}},
		out:  "capability[]=authtype\nprotocol=https\nhost=example.com:8443\npath=org/repo.git\nwwwauth[]=Basic realm=\"x\"\n",
	},
	{
		name: "helper 1 of 3",
		in:   "username=u1\n",
		want: Credential{Username: "u1"},
	},
	{
		name: "helper 2 of 3, which quits",
		in:   "password=p2\nquit=1\n",
		want: Credential{Password: tok("p2"), Quit: true},
	},
	{
		name: "quit=true",
		in:   "quit=true\n",
		want: Credential{Quit: true},
		out:  "quit=1\n",
	},
}

func tok(s string) credential.Token { return credential.UncheckedToken(s) }

// equal compares credentials, tokens by value.
func equal(a, b *Credential) bool {
	if !a.Password.Equal(b.Password) || !a.OAuthRefreshToken.Equal(b.OAuthRefreshToken) || !a.Credential.Equal(b.Credential) {
		return false
	}
	x, y := *a, *b
	x.Password, y.Password = credential.Token{}, credential.Token{}
	x.OAuthRefreshToken, y.OAuthRefreshToken = credential.Token{}, credential.Token{}
	x.Credential, y.Credential = credential.Token{}, credential.Token{}
	return reflect.DeepEqual(x, y)
}

func TestCaptured(t *testing.T) {
	for _, tt := range captured {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeBytes([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !equal(got, &tt.want) {
				t.Errorf("decoded %+v\nwant    %+v", *got, tt.want)
			}
			out := tt.out
			if out == "" {
				out = tt.in
			}
			enc, err := EncodeBytes(got)
			if err != nil {
				t.Fatal(err)
			}
			if string(enc) != out {
				t.Errorf("encoded %q\nwant    %q", enc, out)
			}
			var buf bytes.Buffer
			if err := Encode(&buf, got); err != nil || buf.String() != out {
				t.Errorf("Encode = %q, %v", buf.String(), err)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Credential
	}{
		{"empty input", "", Credential{}},
		{"blank line first", "\nprotocol=https\n", Credential{}},
		{"stops at blank line", "host=a\n\nhost=b\n", Credential{Host: "a"}},
		{"CRLF", "host=a\r\nusername=u\r\n", Credential{Host: "a", Username: "u"}},
		{"last line without newline", "host=a\nusername=u", Credential{Host: "a", Username: "u"}},
		{"later key wins", "host=a\nhost=b\n", Credential{Host: "b"}},
		{"value with =", "password=a=b\n", Credential{Password: tok("a=b")}},
		{"empty value", "username=\n", Credential{}},
		{"unknown key ignored", "frob=1\nhost=a\n", Credential{Host: "a"}},
		{"key[] lists", "wwwauth[]=a\nwwwauth[]=b\nstate[]=s\n", Credential{WWWAuth: []string{"a", "b"}, State: []string{"s"}}},
		{"empty key[] clears", "wwwauth[]=a\nwwwauth[]=\nwwwauth[]=b\n", Credential{WWWAuth: []string{"b"}}},
		{"url replaces what came before", "host=old\nusername=old\nwwwauth[]=x\nurl=https://new.example/p\n", Credential{Protocol: "https", Host: "new.example", Path: "p"}},
		{"fields after url override it", "url=https://a@h/p\nusername=b\n", Credential{Protocol: "https", Host: "h", Path: "p", Username: "b"}},
		{"expiry 0 is none", "password_expiry_utc=0\n", Credential{}},
		{"expiry junk is none", "password_expiry_utc=soon\n", Credential{}},
		{"2.46 fields", "capability[]=authtype\ncapability[]=state\nauthtype=Bearer\ncredential=abc\nephemeral=true\ncontinue=yes\n",
			Credential{Capabilities: []string{"authtype", "state"}, AuthType: "Bearer", Credential: tok("abc"), Ephemeral: true, Continue: true}},
		{"quit=0", "quit=0\n", Credential{}},
		{"quit=off", "quit=off\n", Credential{}},
		{"quit=2", "quit=2\n", Credential{Quit: true}},
		{"quit=", "quit=\n", Credential{}},
		{"non-ASCII password", "password=pässwörd\t \n", Credential{Password: tok("pässwörd\t ")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeBytes([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !equal(got, &tt.want) {
				t.Errorf("decoded %+v\nwant    %+v", *got, tt.want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"no =", "protocol=https\nhunter2\n"},
		{"NUL in value", "password=hunter2\x00x\n"},
		{"NUL in key", "pass\x00word=hunter2\n"},
		{"line too long", "password=" + strings.Repeat("x", MaxLine) + "\n"},
		{"bad quit", "quit=maybe\n"},
		{"bad ephemeral", "ephemeral=hunter2\n"},
		{"url without scheme", "url=example.com/hunter2\n"},
		{"url with newline", "url=https://bob:hunter2%0a@example.com/\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeBytes([]byte(tt.in))
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error quotes the input: %v", err)
			}
		})
	}
	// The longest line git allows is fine.
	in := "password=" + strings.Repeat("x", MaxLine-len("password=")) + "\n"
	if _, err := DecodeBytes([]byte(in)); err != nil {
		t.Errorf("longest line: %v", err)
	}
	// So is a long message, up to MaxInput.
	many := strings.Repeat("wwwauth[]=x\n", MaxInput/len("wwwauth[]=x\n")+1)
	if _, err := DecodeBytes([]byte(many)); err == nil {
		t.Error("message over MaxInput accepted")
	}
}

func TestDecodeLeavesRest(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("host=a\n\nhost=b\n"))
	c, err := Decode(br)
	if err != nil || c.Host != "a" {
		t.Fatalf("first = %+v, %v", c, err)
	}
	c, err = Decode(br)
	if err != nil || c.Host != "b" {
		t.Fatalf("second = %+v, %v", c, err)
	}
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Fatalf("left %q", rest)
	}
}

func TestEncodeRejects(t *testing.T) {
	for _, c := range []Credential{
		{Password: tok("hunter2\nhost=evil")},
		{Username: "a\x00b"},
		{Host: "h\n"},
		{Password: tok("hunter2\r")},
		{WWWAuth: []string{"a\nb"}},
		{WWWAuth: []string{""}},
		{AuthType: "Bearer"},               // needs capability[]=authtype
		{Credential: tok("hunter2")},       // needs capability[]=authtype
		{Ephemeral: true},                  // needs capability[]=authtype
		{State: []string{"s"}},             // needs capability[]=state
		{Continue: true},                   // needs capability[]=state
		{PasswordExpiry: time.Unix(-5, 0)}, // before 1970
	} {
		var buf bytes.Buffer
		err := Encode(&buf, &c)
		if err == nil {
			t.Errorf("Encode(%+v) = %q", c, buf.String())
			continue
		}
		if buf.Len() != 0 {
			t.Errorf("Encode wrote %q before failing", buf.String())
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error quotes a value: %v", err)
		}
	}
}

func TestEncodeOrder(t *testing.T) {
	c := &Credential{
		Capabilities:      []string{CapAuthType, CapState},
		Protocol:          "https",
		Host:              "h",
		Path:              "p",
		Username:          "u",
		Password:          tok("pw"),
		PasswordExpiry:    time.Unix(4102444800, 0),
		OAuthRefreshToken: tok("rt"),
		WWWAuth:           []string{"Basic realm=x"},
		AuthType:          "Bearer",
		Credential:        tok("cred"),
		Ephemeral:         true,
		State:             []string{"helper:1"},
		Continue:          true,
		Quit:              true,
	}
	want := "capability[]=authtype\ncapability[]=state\nauthtype=Bearer\ncredential=cred\nephemeral=1\n" +
		"protocol=https\nhost=h\npath=p\nusername=u\npassword=pw\noauth_refresh_token=rt\npassword_expiry_utc=4102444800\n" +
		"wwwauth[]=Basic realm=x\ncontinue=1\nstate[]=helper:1\nquit=1\n"
	got, err := EncodeBytes(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	back, err := DecodeBytes(got)
	if err != nil {
		t.Fatal(err)
	}
	c.PasswordExpiry = c.PasswordExpiry.UTC()
	if !equal(back, c) {
		t.Errorf("round trip: %+v", back)
	}
	if !c.Has(CapState) || (&Credential{}).Has(CapState) {
		t.Error("Has")
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want Credential
	}{
		{"https://example.com", Credential{Protocol: "https", Host: "example.com"}},
		{"https://example.com/", Credential{Protocol: "https", Host: "example.com"}},
		{"https://bob@example.com/x.git", Credential{Protocol: "https", Host: "example.com", Path: "x.git", Username: "bob"}},
		{"https://bob:pw%3A1@example.com:8443//a/b//", Credential{Protocol: "https", Host: "example.com:8443", Path: "a/b", Username: "bob", Password: tok("pw:1")}},
		{"https://b%40b@h/p%20q+r", Credential{Protocol: "https", Host: "h", Path: "p q+r", Username: "b@b"}},
		{"https://h/p%zz%4", Credential{Protocol: "https", Host: "h", Path: "p%zz%4"}},
		{"https://h/p%00", Credential{Protocol: "https", Host: "h", Path: "p%00"}},
		{"https://h?user@x/", Credential{Protocol: "https", Host: "h", Path: "?user@x"}},
		{"https://u@h#frag", Credential{Protocol: "https", Host: "h", Path: "#frag", Username: "u"}},
		{"https://h:443@x", Credential{Protocol: "https", Host: "x", Username: "h", Password: tok("443")}},
		{"cert:///etc/cert.pem", Credential{Protocol: "cert", Path: "etc/cert.pem"}},
		{"x://", Credential{Protocol: "x"}},
		{"https://h///", Credential{Protocol: "https", Host: "h"}},
		{"https://h/a/", Credential{Protocol: "https", Host: "h", Path: "a"}},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.in, err)
			continue
		}
		if !equal(got, &tt.want) {
			t.Errorf("ParseURL(%q) = %+v\nwant %+v", tt.in, *got, tt.want)
		}
	}
	for _, bad := range []string{"", "example.com", "://h", "https://h/%0a", "https://u%0A@h"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) succeeded", bad)
		}
	}
}

func TestParseOperation(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{{"get", true}, {"store", true}, {"erase", true}, {"capability", false}, {"GET", false}, {"", false}} {
		op, ok := ParseOperation(tt.in)
		if ok != tt.ok || (ok && string(op) != tt.in) {
			t.Errorf("ParseOperation(%q) = %q, %v", tt.in, op, ok)
		}
	}
}

func TestCredentialRedacts(t *testing.T) {
	c, err := DecodeBytes([]byte("username=alice\npassword=hunter2\noauth_refresh_token=rt-hunter2\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("printing a Credential shows a secret: %s", s)
		}
	}
}
