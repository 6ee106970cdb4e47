package git

import (
	"bytes"
	"testing"
)

// The seed corpus in testdata/fuzz holds every message captured from git 2.39.

func FuzzDecode(f *testing.F) {
	for _, tt := range captured {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeBytes(data)
		if err != nil {
			return
		}
		enc, err := EncodeBytes(c)
		if err != nil {
			return // e.g. authtype without its capability: read, but not ours to write
		}
		if bytes.IndexByte(enc, 0) >= 0 || bytes.Contains(enc, []byte("\n\n")) {
			t.Fatalf("encoded output has NUL or a blank line: %q", enc)
		}
		back, err := DecodeBytes(enc)
		if err != nil {
			t.Fatalf("encoded output does not decode: %v", err)
		}
		if !equal(c, back) {
			t.Fatalf("round trip changed the credential:\n%+v\n%+v", *c, *back)
		}
		enc2, _ := EncodeBytes(back)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%q\n%q", enc, enc2)
		}
	})
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"https://bob@example.com/x.git", "https://u:p%3a@h:1/a//", "cert:///x", "https://h?q@x#f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseURL(s)
		if err != nil {
			return
		}
		if c.Protocol == "" {
			t.Fatal("no protocol")
		}
		for _, v := range []string{c.Host, c.Path, c.Username, c.Password.Reveal()} {
			if bytes.IndexByte([]byte(v), '\n') >= 0 {
				t.Fatal("newline in a part")
			}
		}
	})
}
