package ui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/vigil-agent/vigil/internal/policy"
	"github.com/vigil-agent/vigil/internal/watch"
)

type screen struct {
	t    *testing.T
	m    *model
	now  time.Time
	sent []watch.Message
}

func newScreen(t *testing.T) *screen {
	s := &screen{t: t, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s.m = newModel("/run/user/1000/vigil/agent.sock", func() time.Time { return s.now })
	s.m.send = func(m watch.Message) tea.Cmd {
		s.sent = append(s.sent, m)
		return nil
	}
	return s
}

// wait lets d pass, and the screen redraw on its tick.
func (s *screen) wait(d time.Duration) {
	s.now = s.now.Add(d)
	s.m.Update(tickMsg(s.now))
}

func (s *screen) recv(m watch.Message) { s.m.Update(m) }

func (s *screen) press(k string) {
	s.m.Update(tea.KeyPressMsg(tea.Key{Text: k, Code: rune(k[0])}))
}

func (s *screen) shows(want ...string) {
	s.t.Helper()
	v := s.m.render()
	for _, w := range want {
		if !strings.Contains(v, w) {
			s.t.Errorf("screen lacks %q:\n%s", w, v)
		}
	}
}

func (s *screen) lastSent() watch.Message {
	s.t.Helper()
	if len(s.sent) == 0 {
		s.t.Fatal("nothing sent")
	}
	return s.sent[len(s.sent)-1]
}

func TestArmDelay(t *testing.T) {
	s := newScreen(t)
	s.recv(watch.Message{Type: watch.TypePrompt, ID: 1, Text: "Allow ssh-keygen to sign a file?\n  key: k\n", Grant: true})
	s.shows("REQUEST 1", "Allow ssh-keygen to sign a file?", "Allow keys inactive", "[d] deny")
	s.press("a")
	s.press("g")
	if len(s.sent) != 0 {
		t.Fatalf("an allow key worked within the first second: %+v", s.sent)
	}
	s.shows("inactive for a second")
	s.wait(ArmDelay)
	s.shows("[a] allow once", "[g] grant for a while")
	s.press("a")
	if m := s.lastSent(); m.Type != watch.TypeAnswer || m.ID != 1 || m.Answer != watch.AnswerOnce {
		t.Errorf("sent %+v", m)
	}
	s.shows("No request is waiting", "request 1: allowed once")
}

// TestNextPromptRearms: answering one request does not leave the next
// armed: the key that answered the first cannot answer the second.
func TestNextPromptRearms(t *testing.T) {
	s := newScreen(t)
	s.recv(watch.Message{Type: watch.TypePrompt, ID: 1, Text: "first"})
	s.recv(watch.Message{Type: watch.TypePrompt, ID: 2, Text: "second"})
	s.shows("REQUEST 1", "(1 more waiting)")
	s.wait(2 * ArmDelay)
	s.press("a")
	s.press("a")
	if len(s.sent) != 1 {
		t.Fatalf("sent %d answers, want 1: %+v", len(s.sent), s.sent)
	}
	s.shows("REQUEST 2", "Allow keys inactive")
	// Deny needs no delay.
	s.press("d")
	if m := s.lastSent(); m.ID != 2 || m.Answer != watch.AnswerDeny {
		t.Errorf("sent %+v", m)
	}
}

func TestGrantChoice(t *testing.T) {
	for _, tt := range []struct{ key, wire string }{{"1", "5m0s"}, {"2", "1h0m0s"}, {"3", watch.ForLock}} {
		s := newScreen(t)
		s.recv(watch.Message{Type: watch.TypePrompt, ID: 4, Text: "Allow git?", Grant: true})
		s.wait(ArmDelay)
		s.press("g")
		s.shows("Grant for:", "[1] 5 min", "[2] 1 hour", "[3] until lock")
		s.press(tt.key)
		if m := s.lastSent(); m.Answer != watch.AnswerGrant || m.For != tt.wire || m.ID != 4 {
			t.Errorf("key %s sent %+v", tt.key, m)
		}
	}
	// A request that cannot be granted offers only once.
	s := newScreen(t)
	s.recv(watch.Message{Type: watch.TypePrompt, ID: 5, Text: "Allow python3?"})
	s.wait(ArmDelay)
	s.shows("(no grant: this request cannot be pinned)")
	s.press("g")
	if len(s.sent) != 0 {
		t.Errorf("granted a request that cannot be: %+v", s.sent)
	}
}

// TestPromptEscapedOnce: the agent already escaped what callers control;
// the screen shows its escapes as they are, not with doubled backslashes.
func TestPromptEscapedOnce(t *testing.T) {
	s := newScreen(t)
	s.recv(watch.Message{Type: watch.TypePrompt, ID: 1, Text: "Allow ssh-keygen to sign data for namespace \"ns\\x1b[31mX\"?\n  key:     evil\\x1b[2J ED25519 SHA256:k\n"})
	s.shows(`namespace "ns\x1b[31mX"`, `key:     evil\x1b[2J ED25519`)
	if strings.Contains(s.m.render(), `\\x1b`) {
		t.Errorf("escapes escaped again:\n%s", s.m.render())
	}
}

func TestWithdrawAndGrants(t *testing.T) {
	s := newScreen(t)
	s.recv(watch.Message{Type: watch.TypePrompt, ID: 1, Text: "Allow?\x1b[2J\u202e"})
	s.shows("Allow?")
	if strings.ContainsAny(s.m.render(), "\x1b\u202e") {
		t.Error("control or bidi characters reached the screen")
	}
	s.recv(watch.Message{Type: watch.TypeWithdraw, ID: 1})
	s.shows("No request is waiting", "request 1 was withdrawn")

	g := func(id int, exp time.Duration) policy.Grant {
		return policy.Grant{ID: id, Scope: policy.Scope{Key: "SHA256:k", Exe: "/usr/bin/git", Purpose: "git", RunBy: "/bin/bash"}, Expires: s.now.Add(exp)}
	}
	s.recv(watch.Message{Type: watch.TypeGrants, Grants: []policy.Grant{g(3, 5*time.Minute), g(4, policy.UntilLock)}})
	s.shows("> 3  /usr/bin/git (run by /bin/bash)  SHA256:k  git  local  5m0s left", "  4  /usr/bin/git", "until lock")
	s.press("j")
	s.press("r")
	if m := s.lastSent(); m.Type != watch.TypeRevoke || m.GrantID != 4 {
		t.Errorf("sent %+v", m)
	}
	s.recv(watch.Message{Type: watch.TypeGrants, Grants: []policy.Grant{g(3, 5*time.Minute)}})
	s.shows("grant 4 revoked", "> 3")

	// A new table that puts another grant first keeps the selection on the
	// grant that was chosen, so r revokes that one.
	s.recv(watch.Message{Type: watch.TypeGrants, Grants: []policy.Grant{g(5, time.Minute), g(3, 5*time.Minute)}})
	s.shows("> 3")
	s.press("r")
	if m := s.lastSent(); m.Type != watch.TypeRevoke || m.GrantID != 3 {
		t.Errorf("after a new table, r sent %+v, want a revoke of grant 3", m)
	}
}
