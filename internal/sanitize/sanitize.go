// Package sanitize makes caller-controlled text safe to show to a person.
//
// Process names, key comments, namespaces and host names all come from
// whoever is on the other end of the socket. Before any of them reaches a
// prompt, a terminal or a log line, control characters (which can move the
// cursor, clear the screen or fake a new line) and bidirectional overrides
// (which can make "gro.buhtig" read as "github.org") are replaced by visible
// escapes, so the person sees what is really there.
package sanitize

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Line returns s as a single printable line of at most max runes (0 means no
// limit). Invisible or dangerous characters are shown as \xNN or \uNNNN
// escapes; a truncated line ends in "…".
func Line(s string, max int) string {
	return escape(s, max, false, true)
}

// Quote is Line in double quotes, with the quotes inside escaped too, for
// text the person must see the exact ends of (a namespace, a user name). It
// is the one escaping such text gets: quoting Line's result with %q would
// escape its backslashes a second time.
func Quote(s string, max int) string {
	return `"` + escape(s, max, true, true) + `"`
}

// Composed makes safe text that vigil put together from parts Line already
// escaped, such as a prompt that crossed a socket to the program showing
// it: whatever is unsafe is escaped, but backslashes are left alone, so the
// escapes already in it are not escaped again.
func Composed(s string, max int) string {
	return escape(s, max, false, false)
}

// escape is Line, Quote and Composed: quote escapes double quotes, and
// backslash escapes backslashes.
func escape(s string, max int, quote, backslash bool) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece string
		switch {
		case r == utf8.RuneError && size == 1:
			piece = fmt.Sprintf(`\x%02x`, s[i])
		case r == '\\' && backslash:
			// Escape the escape character too, so "\x1b" typed by a caller
			// cannot pass for a character we replaced.
			piece = `\\`
		case r == '"' && quote:
			piece = `\"`
		case unsafe(r):
			if r < 0x100 {
				piece = fmt.Sprintf(`\x%02x`, r)
			} else {
				piece = fmt.Sprintf(`\u%04x`, r)
			}
		default:
			piece = string(r)
		}
		if max > 0 && n+utf8.RuneCountInString(piece) > max {
			b.WriteString("…")
			return b.String()
		}
		b.WriteString(piece)
		n += utf8.RuneCountInString(piece)
		i += size
	}
	return b.String()
}

// JSON returns one JSON value, as json.Marshal writes it, with every
// character that must not reach a terminal as itself written as a \uXXXX
// escape, so that it decodes to the same value. json.Marshal escapes C0
// controls itself (any left in b are whitespace between tokens, and stay),
// but lets DEL, C1 controls and bidirectional overrides through as they
// are. A byte that is not UTF-8 becomes \ufffd, as a decoder reads it.
func JSON(b []byte) []byte {
	var out []byte
	done := 0
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		invalid := r == utf8.RuneError && size == 1
		if !invalid && (r < 0x7f || !unsafe(r)) {
			i += size
			continue
		}
		out = append(out, b[done:i]...)
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += size
		done = i
	}
	if out == nil {
		return b
	}
	return append(out, b[done:]...)
}

// unsafe reports whether r must not reach a terminal or prompt as itself.
func unsafe(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0: // C0, DEL, C1
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, // bidi marks
		r >= 0x202a && r <= 0x202e, // embeddings and overrides
		r >= 0x2066 && r <= 0x2069: // isolates
		return true
	case r == 0x2028 || r == 0x2029: // line and paragraph separators
		return true
	case r == 0xfeff, r >= 0x200b && r <= 0x200d: // zero-width characters
		return true
	}
	return !unicode.IsPrint(r) && r != ' '
}
