package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentSignsSharePrompt: twenty `ssh-keygen -Y sign -n git` at once, of the same key from the same binary,
// share one prompt: the person's grant covers all twenty. Answered "Allow once", each asks for itself.
func TestConcurrentSignsSharePrompt(t *testing.T) {
	t.Parallel()
	const n = 20
	tests := []struct {
		answer      string
		wantPrompts int
	}{
		{"grant", 1},
		{"once", n},
	}
	for _, tt := range tests {
		t.Run(tt.answer, func(t *testing.T) {
			t.Parallel()
			pin := newScriptedPinentry(t, tt.answer)
			a := startVigil(t, nil, "--pinentry", pin.path)
			k := key(t, "ed25519")
			addKeys(t, a, k)
			needTool(t, "ssh-keygen", "openssh-client")
			clientHome(t)

			signs := make([]signing, n)
			var wg sync.WaitGroup
			for i := range signs {
				wg.Go(func() { signs[i] = sshsign(t, a.sock, k, "git") })
			}
			wg.Wait()
			for i, s := range signs {
				if s.res.code != 0 || !s.sigExists {
					t.Fatalf("ssh-keygen -Y sign #%d: %v\nvigil:\n%s", i, s.res, a.p.stderr.String())
				}
				s.verify(t, k, "git")
			}
			prompts := pin.prompts(t)
			t.Logf("%d concurrent identical signatures, answered %q: %d prompts", n, tt.answer, len(prompts))
			if len(prompts) != tt.wantPrompts {
				t.Errorf("%d prompts, want %d: %q", len(prompts), tt.wantPrompts, prompts)
			}
			for _, p := range prompts {
				if !strings.Contains(p, "ssh-keygen") || !strings.Contains(p, "sign a git commit") {
					t.Errorf("prompt title %q does not name the program and purpose", p)
				}
			}
		})
	}
}

// TestSequentialCommitsGrant: twenty signed commits in a row ask once with a 5-minute grant, and twenty times when
// each is allowed once.
func TestSequentialCommitsGrant(t *testing.T) {
	t.Parallel()
	const n = 20
	gitBin := needTool(t, "git", "git")
	needTool(t, "ssh-keygen", "openssh-client")
	for _, tt := range []struct {
		answer      string
		wantPrompts int
	}{{"grant", 1}, {"once", n}} {
		t.Run(tt.answer, func(t *testing.T) {
			t.Parallel()
			pin := newScriptedPinentry(t, tt.answer)
			a := startVigil(t, nil, "--pinentry", pin.path)
			k := key(t, "ed25519")
			addKeys(t, a, k)
			git := signedCommit(t, gitBin, a.sock, k)
			for i := 2; i <= n; i++ {
				must(t, git("commit", "-q", "-S", "--allow-empty", "-m", fmt.Sprintf("commit %d", i)))
			}
			r := must(t, git("log", "--format=%G?"))
			if got := strings.Fields(r.stdout); len(got) != n || strings.Count(r.stdout, "G") != n {
				t.Errorf("git log %%G? = %q, want %d good signatures", r.stdout, n)
			}
			prompts := pin.prompts(t)
			t.Logf("%d sequential signed commits, answered %q: %d prompts", n, tt.answer, len(prompts))
			if len(prompts) != tt.wantPrompts {
				t.Errorf("%d prompts, want %d", len(prompts), tt.wantPrompts)
			}
		})
	}
}
