package sanitize

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain", "alice@laptop", 0, "alice@laptop"},
		{"newline", "key\nAllow? yes", 0, `key\x0aAllow? yes`},
		{"escape sequence", "\x1b[2Jclear", 0, `\x1b[2Jclear`},
		{"bidi override", "evil\u202egpj.exe", 0, `evil\u202egpj.exe`},
		{"isolate", "a\u2066b", 0, `a\u2066b`},
		{"zero width", "git\u200bhub", 0, `git\u200bhub`},
		{"C1", "a\u0085b", 0, `a\x85b`},
		{"invalid utf8", "a\xffb", 0, `a\xffb`},
		{"backslash", `a\x1b`, 0, `a\\x1b`},
		{"unicode kept", "café ✓", 0, "café ✓"},
		{"truncated", "abcdefgh", 5, "abcde…"},
		{"escape not split", "ab\x1b", 4, "ab…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Line(tt.in, tt.max); got != tt.want {
				t.Errorf("Line(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"git":          `"git"`,
		"ns\x1b[31mX":  `"ns\x1b[31mX"`, // one backslash: escaped once, not again by %q
		`say "hi"`:     `"say \"hi\""`,
		`a\"`:          `"a\\\""`,
		"bidi\u202eab": `"bidi\u202eab"`,
	} {
		if got := Quote(in, 0); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestComposed(t *testing.T) {
	// A prompt whose caller-controlled parts Line escaped keeps its escapes
	// as they are; anything unsafe added since is escaped.
	line := "key: " + Line("evil\x1b[2J back\\slash", 0)
	if got, want := Composed(line, 0), `key: evil\x1b[2J back\\slash`; got != want {
		t.Errorf("Composed(%q) = %q, want %q", line, got, want)
	}
	if got, want := Composed("raw\x1b[2J\u202e", 0), `raw\x1b[2J\u202e`; got != want {
		t.Errorf("Composed of raw controls = %q, want %q", got, want)
	}
}

func FuzzLine(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[31m", "a\u202eb", "\xff\xfe", `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Line(s, 64)
		for _, other := range []string{Quote(s, 64), Composed(s, 64)} {
			for _, r := range other {
				if unsafe(r) {
					t.Fatalf("unsafe rune %U survived in %q", r, other)
				}
			}
		}
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 out: %q", got)
		}
		for _, r := range got {
			if unsafe(r) {
				t.Fatalf("unsafe rune %U survived in %q", r, got)
			}
		}
		if utf8.RuneCountInString(got) > 65 {
			t.Fatalf("too long: %d runes", utf8.RuneCountInString(got))
		}
		if strings.ContainsAny(got, "\n\r") {
			t.Fatalf("line break survived: %q", got)
		}
	})
}

func TestJSON(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":"plain"}`:                 `{"a":"plain"}`,
		"{\"a\":\"evil\u202egpj\"}":     `{"a":"evil\u202egpj"}`,
		"{\"a\":\"c1\u0085 del\x7f\"}":  `{"a":"c1\u0085 del\u007f"}`,
		"{\"a\":\"tag\U000e0001\"}":     `{"a":"tag\udb40\udc01"}`,
		"{\"a\":\"bad\xff\"}":           `{"a":"bad\ufffd"}`,
		"{\"a\":\"caf\u00e9 \\\\x1b\"}": "{\"a\":\"caf\u00e9 \\\\x1b\"}", // kept: printable, and an escaped backslash
	} {
		if got := string(JSON([]byte(in))); got != want {
			t.Errorf("JSON(%s) = %s, want %s", in, got, want)
		}
	}
}

// FuzzJSON: whatever a string holds, its JSON, made safe, decodes to the
// same value and holds nothing unsafe.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[31m", "a\u202eb", "\u0085\x7f", "\U000e0001", `\"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := json.Marshal(map[string]string{s: s})
		if err != nil {
			t.Fatal(err)
		}
		safe := JSON(b)
		for _, r := range string(safe) {
			if unsafe(r) {
				t.Fatalf("unsafe rune %U survived in %s", r, safe)
			}
		}
		var a, z map[string]string
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(safe, &z); err != nil {
			t.Fatalf("%s: %v", safe, err)
		}
		if !maps.Equal(a, z) {
			t.Fatalf("%s decodes to %q, want %q", safe, z, a)
		}
	})
}
