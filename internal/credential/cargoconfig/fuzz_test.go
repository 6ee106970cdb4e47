package cargoconfig

import (
	"net/url"
	"testing"
)

// FuzzCanonical: what Canonical accepts parses as a URL and is a fixed
// point, so a key filed under it is found again under the same string.
// The seeds in testdata/fuzz are the forms cargo was seen to send.
func FuzzCanonical(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := Canonical(raw)
		if err != nil {
			return
		}
		if _, err := url.Parse(c); err != nil {
			t.Fatalf("Canonical(%q) = %q, which does not parse: %v", raw, c, err)
		}
		again, err := Canonical(c)
		if err != nil || again != c {
			t.Fatalf("Canonical(%q) = %q, then %q, %v", raw, c, again, err)
		}
	})
}
