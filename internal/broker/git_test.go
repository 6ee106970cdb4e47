package broker

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/policy"
)

type fakeDecider struct {
	rules   []policy.Rule
	answer  bool
	prompts []string
	events  []audit.Event
	// pinNote is what CheckPin says of an allow rule naming a program;
	// repinned lists the hashes Repin was given.
	pinNote  string
	repinned []string
}

func (d *fakeDecider) CheckPin(rule *policy.Rule, hash string) string {
	if rule.Exe == "" {
		return ""
	}
	return d.pinNote
}

func (d *fakeDecider) Repin(_ *policy.Rule, hash string) { d.repinned = append(d.repinned, hash) }

func (d *fakeDecider) Ask(_ context.Context, text string) (bool, string) {
	d.prompts = append(d.prompts, text)
	if d.answer {
		return true, ""
	}
	return false, "approver said no"
}

func (d *fakeDecider) Decide(req policy.Request) policy.Decision { return policy.Decide(d.rules, req) }

func (d *fakeDecider) Record(ev audit.Event) bool { d.events = append(d.events, ev); return false }

func TestGitBroker(t *testing.T) {
	var store TokenStore = NewMemoryStore()
	locked := false
	g := NewGit(GitConfig{
		Store: func() TokenStore {
			if locked {
				return nil
			}
			return store
		},
		IsHelper: func(p caller.Process) bool { return p.Hash == pluginProc.Hash },
	})
	helper := caller.Process{PID: 10, Exe: "/usr/bin/vigil", Hash: pluginProc.Hash}
	sh := caller.Process{PID: 11, Exe: "/usr/bin/dash", Hash: "d"}
	remote := caller.Process{PID: 12, Exe: "/usr/lib/git-core/git-remote-http", Hash: "r"}
	gitP := caller.Process{PID: 13, Exe: "/usr/bin/git", Hash: "g"}
	who := chain(helper, sh, remote, gitP, bashProc)
	d := &fakeDecider{answer: true}
	call := func(s string) string { return string(g.serve(context.Background(), who, []byte(s), d)) }

	if got := call("get\nprotocol=https\nhost=h.example\n"); got != "ok\n" || len(d.prompts) != 0 {
		t.Fatalf("get with nothing stored: %q, %d prompts", got, len(d.prompts))
	}
	if got := call("store\nprotocol=https\nhost=h.example\nusername=alice\n"); !strings.HasPrefix(got, "error ") {
		t.Errorf("store without password: %q", got)
	}
	if got := call("store\nprotocol=https\nhost=h.example\nusername=alice\npassword=pw\nfoo=bar\n"); got != "ok\n" {
		t.Fatalf("store: %q", got)
	}
	got := call("get\nprotocol=https\nhost=h.example\nwwwauth[]=Basic\n")
	if got != "ok\nusername=alice\npassword=pw\n" {
		t.Errorf("approved get: %q", got)
	}
	if len(d.prompts) != 1 || !strings.HasPrefix(d.prompts[0], "Allow git to use your credential for https://h.example (user alice)?\n") ||
		!strings.Contains(d.prompts[0], "host:     h.example") || !strings.Contains(d.prompts[0], "run by /usr/bin/dash") {
		t.Errorf("prompt:\n%v", d.prompts)
	}
	if got := call("get\nprotocol=https\nhost=h.example\nusername=bob\n"); got != "ok\n" || len(d.prompts) != 1 {
		t.Errorf("get for another user: %q", got)
	}
	d.answer = false
	if got := call("get\nprotocol=https\nhost=h.example\n"); !strings.HasPrefix(got, "error vigil did not allow git") || strings.Contains(got, "pw") {
		t.Errorf("denied get: %q", got)
	}
	// Rules with purpose git-credential decide first: allow for git's
	// HTTP helper at h.example, deny elsewhere; nobody is asked either way.
	d.rules = []policy.Rule{
		{N: 1, Purpose: "git-credential", Host: "h.example", Exe: remote.Exe, Action: policy.Allow},
		{N: 2, Purpose: "git-credential", Action: policy.Deny},
	}
	if got := call("get\nprotocol=https\nhost=h.example\n"); got != "ok\nusername=alice\npassword=pw\n" || len(d.prompts) != 2 {
		t.Errorf("get a rule allows: %q, %d prompts", got, len(d.prompts))
	}
	if ev := d.events[len(d.events)-1]; ev.Decision != audit.Allowed || ev.By.Rule != "1" {
		t.Errorf("record of a get a rule allows: %+v", ev)
	}
	// The program rule 1 names is not the one it pinned: asked, with the
	// note, and a yes re-pins the program asking.
	d.pinNote, d.answer = "/usr/lib/git-core/git-remote-http changed since rule 1 first allowed it", true
	if got := call("get\nprotocol=https\nhost=h.example\n"); got != "ok\nusername=alice\npassword=pw\n" || len(d.prompts) != 3 ||
		!strings.Contains(d.prompts[2], "  NOTE:     "+d.pinNote+"\n") || !slices.Equal(d.repinned, []string{remote.Hash}) {
		t.Errorf("get by a changed program: %q, prompts %q, re-pinned %q", got, d.prompts[2:], d.repinned)
	}
	d.pinNote, d.answer = "", false
	if got := call("store\nprotocol=https\nhost=other.example\nusername=alice\npassword=pw2\n"); got != "ok\n" {
		t.Fatalf("store: %q", got)
	}
	if got := call("get\nprotocol=https\nhost=other.example\n"); !strings.HasPrefix(got, "error vigil did not allow git") ||
		!strings.Contains(got, "rule 2") || len(d.prompts) != 3 {
		t.Errorf("get a rule denies: %q, %d prompts", got, len(d.prompts))
	}
	d.rules = nil
	locked = true
	if got := call("get\nprotocol=https\nhost=h.example\n"); !strings.Contains(got, "run `vigil unlock`") {
		t.Errorf("locked get: %q", got)
	}
	locked = false
	if got := call("erase\nprotocol=https\nhost=h.example\nusername=alice\n"); got != "ok\n" {
		t.Errorf("erase: %q", got)
	}
	if _, err := store.Get(GitLabelPrefix + "https://h.example"); err == nil {
		t.Error("credential still stored after erase")
	}
	for _, ev := range d.events {
		if ev.Kind != audit.KindCredential {
			t.Errorf("audit kind %v", ev.Kind)
		}
	}
	decisions := map[audit.Decision]int{}
	for _, ev := range d.events {
		decisions[ev.Decision]++
	}
	if decisions[audit.Denied] != 2 || decisions[audit.Allowed] < 3 {
		t.Errorf("audit decisions: %v", decisions)
	}
}

func TestGitHelperNoAgent(t *testing.T) {
	var out strings.Builder
	err := RunGitCredential(context.Background(), GitHelperConfig{Sockets: []string{t.TempDir() + "/none.sock"},
		Stdin: strings.NewReader("protocol=https\nhost=h\n\n"), Stdout: &out}, "get")
	if err == nil || !strings.Contains(err.Error(), "vigil agent not running") || out.Len() != 0 {
		t.Errorf("no agent: %v, stdout %q", err, out.String())
	}
	if err := RunGitCredential(context.Background(), GitHelperConfig{Stdin: strings.NewReader("")}, "frobnicate"); err != nil {
		t.Errorf("unknown operation: %v", err)
	}
}

// TestGitPartyHelperName: for credential.helper = vigil, git runs "git
// credential-vigil get" through a shell; the program asking is still the one
// that ran the shell, and both runners are named on the via line.
func TestGitPartyHelperName(t *testing.T) {
	helper := caller.Process{PID: 10, Exe: "/usr/bin/vigil", Hash: pluginProc.Hash}
	dispatch := caller.Process{PID: 14, Exe: "/usr/lib/git-core/git", Hash: "g"}
	sh := caller.Process{PID: 11, Exe: "/usr/bin/dash", Hash: "d"}
	remote := caller.Process{PID: 12, Exe: "/usr/lib/git-core/git-remote-http", Hash: "r"}
	gitP := caller.Process{PID: 13, Exe: "/usr/bin/git", Hash: "g"}
	isHelper := func(p caller.Process) bool { return p.Hash == pluginProc.Hash }
	tests := []struct {
		name    string
		who     *caller.Info
		self    caller.Process
		runners int
	}{
		{"git-credential-vigil", chain(helper, dispatch, sh, remote, gitP), remote, 2},
		{"vigil git-credential", chain(helper, sh, remote, gitP), remote, 1},
		{"git credential fill", chain(helper, sh, gitP, bashProc), gitP, 1},
		{"git run by a program, no shell", chain(helper, dispatch, pythonProc), dispatch, 0},
		{"not through the helper", chain(dispatch, sh, remote), dispatch, 0},
	}
	for _, tt := range tests {
		p, runners := gitParty(tt.who, isHelper)
		if p.self.PID != tt.self.PID || len(runners) != tt.runners {
			t.Errorf("%s: asking %s with %d runners, want %s with %d", tt.name, p.self, len(runners), tt.self, tt.runners)
		}
	}
}
