package words

import "testing"

func TestCount(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{{0, "0 keys"}, {1, "1 key"}, {2, "2 keys"}, {-1, "-1 keys"}, {1024, "1024 keys"}} {
		if got := Count(c.n, "key"); got != c.want {
			t.Errorf("Count(%d, key) = %q, want %q", c.n, got, c.want)
		}
	}
}
