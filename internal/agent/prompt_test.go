package agent

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/agent"
)

// promptRecorder approves every signature, answers the key store's
// passphrase, and keeps the text of every prompt.
type promptRecorder struct {
	pass string

	mu      sync.Mutex
	unlock  []string
	confirm []string
}

func (p *promptRecorder) Confirm(_ context.Context, text string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.confirm = append(p.confirm, text)
	return true, nil
}

func (p *promptRecorder) AskPassphrase(_ context.Context, text string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unlock = append(p.unlock, text)
	return []byte(p.pass), nil
}

// TestUnlockPromptShowsRequestFacts: the passphrase prompt of an on-demand
// unlock carries the facts of the signature prompt that follows it (who,
// the key and its type written the same way, and the path: local or
// forwarded), so nobody types the store passphrase for a forwarded request
// that looks local (QA finding 11).
func TestUnlockPromptShowsRequestFacts(t *testing.T) {
	for _, tt := range []struct {
		name     string
		fwd      bool
		wantPath string
	}{
		{"local", false, "  path:    local"},
		{"forwarded", true, "  FORWARDED from "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, e := newStore(t, "right")
			ap := &promptRecorder{pass: "right"}
			a, dial := serve(t, Config{Store: v, Approver: ap})
			a.unlockDelay = func(int) time.Duration { return 0 }
			client := agent.NewClient(dial())
			if tt.fwd {
				if _, err := client.Extension("session-bind@openssh.com", bindMsg(t, hostSigner(t), []byte("session-1"), true)); err != nil {
					t.Fatalf("session-bind: %v", err)
				}
			}
			if _, err := client.Sign(e.Public, []byte("SSHSIG")); err != nil {
				t.Fatalf("sign with a store key: %v", err)
			}
			ap.mu.Lock()
			defer ap.mu.Unlock()
			if len(ap.unlock) != 1 || len(ap.confirm) != 1 {
				t.Fatalf("asked %d passphrases and %d confirmations, want 1 and 1", len(ap.unlock), len(ap.confirm))
			}
			unlock, confirm := ap.unlock[0], ap.confirm[0]
			t.Logf("unlock prompt:\n%s\nsignature prompt:\n%s", unlock, confirm)
			for _, line := range strings.Split(strings.TrimSuffix(confirm, "\n"), "\n")[1:] {
				if !strings.Contains(unlock, line) {
					t.Errorf("the signature prompt's line %q is not in the unlock prompt", line)
				}
			}
			if !strings.Contains(unlock, "\n"+tt.wantPath) {
				t.Errorf("unlock prompt has no %q line", tt.wantPath)
			}
		})
	}
}
