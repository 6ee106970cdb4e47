package sanitize

import (
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

func FuzzLine(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[31m", "a\u202eb", "\xff\xfe", `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Line(s, 64)
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
