package credential

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const secret = "cio-SECRET-xyz"

func TestValidToken(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"plain", "secret-token-123", true},
		{"bearer", "Bearer tfs-token-xyz", true},
		{"paseto", "v3.public.eyJpYXQiOiIyMDI2In0.eyJ1cmwiOiJ4In0", true},
		{"all printable", "!~ ok", true},
		{"empty", "", false},
		{"newline", "zq9\n", false},
		{"embedded newline", "zq\n9", false},
		{"carriage return", "zq9\r", false},
		{"tab", "zq\t9", false},
		{"nul", "zq\x009", false},
		{"del", "zq9\x7f", false},
		{"non-ascii", "zq9-é", false},
		{"leading space", " zq9", false},
		{"trailing space", "zq9 ", false},
		{"too long", strings.Repeat("a", MaxTokenLen+1), false},
		{"longest", strings.Repeat("a", MaxTokenLen), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidToken(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidToken = %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidToken) {
					t.Errorf("error %v does not wrap ErrInvalidToken", err)
				}
				if tt.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
					t.Errorf("error %q contains the token", err)
				}
			}
			tok, err := NewToken(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("NewToken error = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && tok.Reveal() != tt.in {
				t.Errorf("Reveal = %q", tok.Reveal())
			}
		})
	}
}

func TestTokenRedacts(t *testing.T) {
	tok, err := NewToken(secret)
	if err != nil {
		t.Fatal(err)
	}
	type holder struct {
		Exported Token
		hidden   Token
		ptr      *Token
	}
	h := holder{Exported: tok, hidden: tok, ptr: &tok}
	var out []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v", "%10.3s", "%p"} {
		out = append(out, fmt.Sprintf(f, tok), fmt.Sprintf(f, &tok), fmt.Sprintf(f, h), fmt.Sprintf(f, []Token{tok}), fmt.Sprintf(f, map[string]Token{"k": tok}))
	}
	out = append(out, fmt.Sprint(tok), fmt.Sprintln(tok, h), tok.String(), tok.GoString())
	out = append(out, fmt.Errorf("wrapped: %v", tok).Error())

	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("msg", "token", tok, "ptr", &tok, slog.Any("any", tok), slog.Group("g", "t", tok))
	}
	out = append(out, buf.String())

	for _, s := range out {
		if strings.Contains(s, secret) || strings.Contains(s, fmt.Sprintf("%x", secret)) {
			t.Errorf("secret leaked: %s", s)
		}
	}
	if !strings.Contains(buf.String(), Redacted) {
		t.Errorf("slog output has no %s: %s", Redacted, buf.String())
	}
	if got := fmt.Sprintf("%v|%#v|%d", tok, tok, tok); got != Redacted+"|"+Redacted+"|"+Redacted {
		t.Errorf("Sprintf = %q", got)
	}
}

func TestTokenRefusesMarshal(t *testing.T) {
	tok, _ := NewToken(secret)
	for _, v := range []any{tok, struct{ T Token }{tok}, map[string]Token{"k": tok}} {
		b, err := json.Marshal(v)
		if err == nil {
			t.Errorf("json.Marshal(%T) = %s, want an error", v, b)
		}
		if strings.Contains(string(b), secret) || (err != nil && strings.Contains(err.Error(), secret)) {
			t.Errorf("json.Marshal leaked the secret")
		}
	}
}

func TestTokenBasics(t *testing.T) {
	var zero Token
	if !zero.IsZero() || zero.Len() != 0 || zero.Reveal() != "" {
		t.Error("zero Token is not empty")
	}
	if !UncheckedToken("").IsZero() {
		t.Error("UncheckedToken(\"\") is not zero")
	}
	a, b, c := UncheckedToken("abc"), UncheckedToken("abc"), UncheckedToken("abd")
	if !a.Equal(b) || a.Equal(c) || a.Equal(zero) || !zero.Equal(Token{}) {
		t.Error("Equal is wrong")
	}
	if a.Len() != 3 || a.IsZero() {
		t.Error("Len or IsZero is wrong")
	}
	// UncheckedToken keeps what ValidToken would refuse.
	if UncheckedToken("pass word\xff").Reveal() != "pass word\xff" {
		t.Error("UncheckedToken changed its input")
	}
}

func FuzzValidToken(f *testing.F) {
	for _, s := range []string{"secret-token-123", "Bearer x", "", "a\nb", "tok-é", " x", "x "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidToken(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error does not wrap ErrInvalidToken: %v", err)
			}
			// The message may depend on where and how long, never on what:
			// the same token with every other visible character changed
			// (so that every check takes the same path) gets the same one.
			// (A plain substring test fails on " or ", which the fixed text
			// "leading or trailing space" contains.)
			masked := []byte(s)
			for i, c := range masked {
				if c > ' ' && c < 0x7f {
					masked[i] = 'x'
					if c == 'x' {
						masked[i] = 'y'
					}
				}
			}
			if other := ValidToken(string(masked)); other == nil || other.Error() != err.Error() {
				t.Fatalf("the error depends on the token's content: %q for it, %v with other characters", err, other)
			}
			return
		}
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				t.Fatalf("accepted byte %#x", s[i])
			}
		}
		if strings.TrimSpace(s) != s || s == "" {
			t.Fatalf("accepted %q", s)
		}
	})
}
