package approve

import (
	"context"
	"strings"
	"testing"
)

func TestChain(t *testing.T) {
	noPinentry := &Pinentry{Program: "/nonexistent/pinentry"}
	tests := []struct {
		name  string
		chain Chain
		allow bool
		err   []string // substrings of the error; nil: no error
	}{
		{"first reachable asks", Chain{&Askpass{}, noPinentry, &Askpass{Program: "/bin/true"}}, true, nil},
		{"first reachable decides", Chain{&Askpass{Program: "/bin/false"}, &Askpass{Program: "/bin/true"}}, false, nil},
		{"none reachable", Chain{noPinentry, &Askpass{}},
			false, []string{"no approver could be reached", "pinentry /nonexistent/pinentry: /nonexistent/pinentry is not an executable file", "no askpass program configured"}},
		{"empty", Chain{}, false, []string{"no approver configured"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, d, err := tt.chain.ConfirmGrant(context.Background(), "Allow?", true)
			if ok != tt.allow || d != 0 {
				t.Errorf("got %v %v, want %v", ok, d, tt.allow)
			}
			if tt.err == nil && err != nil {
				t.Errorf("error %v", err)
			}
			for _, want := range tt.err {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v, want it to say %q", err, want)
				}
			}
		})
	}
}

func TestChainPassphrase(t *testing.T) {
	// pinentry cannot read the store's passphrase here; askpass can.
	c := Chain{&Pinentry{Program: "/bin/true"}, &Askpass{Program: "/bin/echo"}}
	p, err := c.AskPassphrase(context.Background(), "secret?")
	if err != nil || string(p) != "secret?" {
		t.Errorf("AskPassphrase = %q, %v; want the echo of the prompt", p, err)
	}
	// The audit record of the unlock names askpass, which read it, not
	// pinentry, which would ask a confirmation first.
	if p, by, err := c.AskPassphraseBy(context.Background(), "secret?"); err != nil || string(p) != "secret?" || by != "askpass /bin/echo" {
		t.Errorf("AskPassphraseBy = %q, %q, %v; want the echo of the prompt, by askpass /bin/echo", p, by, err)
	}
	if _, err := (Chain{&Askpass{}}).AskPassphrase(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "tried askpass") {
		t.Errorf("no askpass program: %v", err)
	}
	if _, err := (Chain{&Pinentry{Program: "/bin/true"}}).AskPassphrase(context.Background(), "x"); err == nil {
		t.Error("pinentry-only chain read a passphrase")
	}
}

// Next names the way that would ask now, for the audit record.
func TestChainNext(t *testing.T) {
	noPinentry := &Pinentry{Program: "/nonexistent/pinentry"}
	askpass := &Askpass{Program: "/bin/true"}
	if got, want := (Chain{noPinentry, askpass}).Next(), askpass.String(); got != want {
		t.Errorf("Next() = %q, want %q", got, want)
	}
	if got := (Chain{noPinentry, &Askpass{}}).Next(); got != "" {
		t.Errorf("Next() with nothing reachable = %q, want \"\"", got)
	}
}
