package policy

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

const (
	gitHash   = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	otherHash = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

var (
	gitScope   = Scope{Key: "SHA256:work", Exe: "/usr/bin/git", Hash: gitHash, Purpose: PurposeGit, RunBy: "/usr/bin/bash", RunByHash: otherHash}
	loginScope = Scope{Key: "SHA256:work", Exe: "/usr/bin/ssh", Hash: gitHash, Purpose: PurposeLogin, Host: "github.com", RunBy: "/usr/bin/bash", RunByHash: otherHash}
	nsScope    = Scope{Key: "SHA256:work", Exe: "/usr/bin/ssh-keygen", Hash: gitHash, Purpose: "namespace:ci@example.com", RunBy: "/usr/bin/bash", RunByHash: otherHash}
	runScope   = Scope{Key: "SHA256:work", Exe: "/usr/bin/ssh-keygen", Hash: otherHash, Purpose: PurposeGit,
		RunBy: "/usr/bin/git", RunByHash: gitHash}
)

func mustAdd(t testing.TB, gs *Grants, g Grant, now time.Time) int {
	t.Helper()
	id, err := gs.Add(g, now)
	if err != nil {
		t.Fatalf("Add(%+v): %v", g, err)
	}
	return id
}

// TestGrantNeverWidened: a grant matches its exact scope, and changing any
// one fact of the request makes it miss.
func TestGrantNeverWidened(t *testing.T) {
	tests := []struct {
		name  string
		grant Scope
		req   func(*Scope)
		want  bool
	}{
		{"same git request", gitScope, func(*Scope) {}, true},
		{"same login", loginScope, func(*Scope) {}, true},
		{"same namespace", nsScope, func(*Scope) {}, true},
		{"other program path", gitScope, func(s *Scope) { s.Exe = "/tmp/git" }, false},
		{"same path, other content", gitScope, func(s *Scope) { s.Hash = otherHash }, false},
		{"program unknown", gitScope, func(s *Scope) { s.Exe = "" }, false},
		{"program unhashed", gitScope, func(s *Scope) { s.Hash = "" }, false},
		{"other key", gitScope, func(s *Scope) { s.Key = "SHA256:home" }, false},
		{"no key", gitScope, func(s *Scope) { s.Key = "" }, false},
		{"other purpose", gitScope, func(s *Scope) { s.Purpose = PurposeFile }, false},
		{"git grant, unknown data", gitScope, func(s *Scope) { s.Purpose = PurposeUnknown }, false},
		{"other namespace", nsScope, func(s *Scope) { s.Purpose = "namespace:ci@example.org" }, false},
		{"namespace prefix", nsScope, func(s *Scope) { s.Purpose = "namespace:ci" }, false},
		{"other host", loginScope, func(s *Scope) { s.Host = "gitlab.com" }, false},
		{"host suffix", loginScope, func(s *Scope) { s.Host = "github.com.evil" }, false},
		{"host case", loginScope, func(s *Scope) { s.Host = "GitHub.com" }, false},
		{"host unverified", loginScope, func(s *Scope) { s.Host = "" }, false},
		{"local grant, forwarded request", gitScope, func(s *Scope) { s.Forwarded = true }, false},
		{"run by another program", runScope, func(s *Scope) { s.RunBy = "/usr/bin/python3" }, false},
		{"run by other content", runScope, func(s *Scope) { s.RunByHash = otherHash }, false},
		{"run by nothing", runScope, func(s *Scope) { s.RunBy, s.RunByHash = "", "" }, false},
		{"run by unhashed", runScope, func(s *Scope) { s.RunByHash = "" }, false},
		{"granted run by bash, run by git", gitScope, func(s *Scope) { s.RunBy, s.RunByHash = "/usr/bin/git", gitHash }, false},
		{"same program run by the same git", runScope, func(*Scope) {}, true},
		{"local login grant, forwarded login", loginScope, func(s *Scope) { s.Forwarded = true }, false},
		{"forwarded grant, local request", func() Scope { s := gitScope; s.Forwarded = true; return s }(),
			func(s *Scope) { s.Forwarded = false }, false},
		{"forwarded grant, forwarded request", func() Scope { s := gitScope; s.Forwarded = true; return s }(),
			func(*Scope) {}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gs Grants
			id := mustAdd(t, &gs, Grant{Scope: tt.grant, Expires: t0.Add(5 * time.Minute)}, t0)
			req := tt.grant
			tt.req(&req)
			g, ok := gs.Match(req, t0.Add(time.Minute))
			if ok != tt.want {
				t.Fatalf("Match(%+v) = %v, want %v", req, ok, tt.want)
			}
			if ok && (g.ID != id || g.Scope != tt.grant) {
				t.Errorf("matched %+v, want grant %d", g, id)
			}
			// The grant itself is untouched by a miss.
			if got := len(gs.List(t0.Add(time.Minute))); got != 1 {
				t.Errorf("%d grants after Match, want 1", got)
			}
		})
	}
}

func TestGrantScopeValidate(t *testing.T) {
	tests := []struct {
		name string
		s    func(*Scope)
		want string // "" for valid
	}{
		{"git", func(*Scope) {}, ""},
		{"no key", func(s *Scope) { s.Key = "" }, "fingerprint"},
		{"comment as key", func(s *Scope) { s.Key = "work-*" }, "fingerprint"},
		{"no program", func(s *Scope) { s.Exe = "" }, "unknown"},
		{"relative program", func(s *Scope) { s.Exe = "git" }, "unknown"},
		{"no hash", func(s *Scope) { s.Hash = "" }, "hash"},
		{"run by nothing", func(s *Scope) { s.RunBy, s.RunByHash = "", "" }, "ran the caller"},
		{"run by unhashed", func(s *Scope) { s.RunByHash = "" }, "ran the caller"},
		{"run by relative", func(s *Scope) { s.RunBy = "bash" }, "ran the caller"},
		{"no purpose", func(s *Scope) { s.Purpose = "" }, "purpose"},
		{"any purpose", func(s *Scope) { s.Purpose = "any" }, "purpose"},
		{"bad purpose", func(s *Scope) { s.Purpose = "namespace:" }, "purpose"},
		{"unknown data", func(s *Scope) { s.Purpose = PurposeUnknown }, "unrecognised"},
		{"namespace", func(s *Scope) { s.Purpose = "namespace:ci@example.com" }, ""},
		{"login without host", func(s *Scope) { s.Purpose = PurposeLogin }, "destination"},
		{"login with host", func(s *Scope) { s.Purpose, s.Host = PurposeLogin, "github.com" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := gitScope
			tt.s(&s)
			err := s.Validate()
			var gs Grants
			_, addErr := gs.Add(Grant{Scope: s, Expires: t0.Add(time.Minute)}, t0)
			switch {
			case tt.want == "" && (err != nil || addErr != nil):
				t.Fatalf("Validate = %v, Add = %v; want both nil", err, addErr)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error about %q", err, tt.want)
			case tt.want != "" && addErr == nil:
				t.Fatalf("Add accepted an invalid scope")
			}
		})
	}
	var gs Grants
	if _, err := gs.Add(Grant{Scope: gitScope}, t0); err == nil {
		t.Error("Add accepted a grant with no expiry")
	}
	if _, err := gs.Add(Grant{Scope: gitScope, Expires: t0.Add(time.Minute), MaxUses: -1}, t0); err == nil {
		t.Error("Add accepted negative uses")
	}
}

func TestGrantExpiry(t *testing.T) {
	var gs Grants
	exp := t0.Add(5 * time.Minute)
	mustAdd(t, &gs, Grant{Scope: gitScope, Expires: exp}, t0)
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{
		{t0, true},
		{exp.Add(-time.Nanosecond), true},
		{exp, false},
		{exp.Add(time.Hour), false},
		// Once pruned, an earlier clock does not bring it back.
		{t0.Add(time.Minute), false},
	} {
		if _, ok := gs.Match(gitScope, tt.at); ok != tt.want {
			t.Errorf("Match at %v = %v, want %v", tt.at.Sub(t0), ok, tt.want)
		}
	}
	if n := gs.Len(); n != 0 {
		t.Errorf("expired grant not pruned by Match: %d held", n)
	}

	// List prunes every expired grant, not only the ones asked about.
	mustAdd(t, &gs, Grant{Scope: gitScope, Expires: t0.Add(time.Minute)}, t0)
	mustAdd(t, &gs, Grant{Scope: loginScope, Expires: t0.Add(time.Hour)}, t0)
	mustAdd(t, &gs, Grant{Scope: nsScope, Expires: t0.Add(2 * time.Minute)}, t0)
	list := gs.List(t0.Add(90 * time.Second))
	if len(list) != 2 || list[0].Scope != loginScope || list[1].Scope != nsScope {
		t.Errorf("List = %+v, want the login and namespace grants in ID order", list)
	}
	if n := gs.Len(); n != 2 {
		t.Errorf("%d grants held after List, want 2", n)
	}
}

func TestGrantAddSweeps(t *testing.T) {
	var gs Grants
	for i := range 1000 {
		s := gitScope
		s.Hash = fmt.Sprintf("%064x", i)
		mustAdd(t, &gs, Grant{Scope: s, Expires: t0.Add(time.Minute)}, t0)
	}
	later := t0.Add(time.Hour)
	for i := range 1000 {
		s := gitScope
		s.Hash = fmt.Sprintf("%064x", 1000+i)
		mustAdd(t, &gs, Grant{Scope: s, Expires: later.Add(time.Minute)}, later)
	}
	// Expired grants nobody asked about again do not pile up.
	if n := gs.Len(); n > 1000+minSweep*2 {
		t.Errorf("%d grants held; the 1000 expired ones were never swept", n)
	}
	if n := len(gs.List(later)); n != 1000 {
		t.Errorf("%d live grants, want 1000", n)
	}
}

func TestGrantUses(t *testing.T) {
	var gs Grants
	id := mustAdd(t, &gs, Grant{Scope: gitScope, Expires: t0.Add(time.Hour), MaxUses: 3}, t0)
	for i := 1; i <= 3; i++ {
		g, ok := gs.Match(gitScope, t0)
		if !ok {
			t.Fatalf("use %d refused", i)
		}
		left, limited := g.UsesLeft()
		if g.ID != id || g.Used != i || !limited || left != 3-i {
			t.Errorf("use %d: got %+v (left %d)", i, g, left)
		}
	}
	if _, ok := gs.Match(gitScope, t0); ok {
		t.Fatal("a 3-use grant covered a 4th signature")
	}
	if len(gs.List(t0)) != 0 {
		t.Error("used-up grant still listed")
	}

	// Unlimited uses until it expires.
	mustAdd(t, &gs, Grant{Scope: gitScope, Expires: t0.Add(time.Hour)}, t0)
	for i := range 20 {
		if _, ok := gs.Match(gitScope, t0); !ok {
			t.Fatalf("signature %d of a rebase refused", i+1)
		}
	}
	g := gs.List(t0)[0]
	if left, limited := g.UsesLeft(); limited || g.Used != 20 {
		t.Errorf("after 20 uses: %+v (left %d, limited %v)", g, left, limited)
	}
}

// TestGrantMatchReturnsCopy: what Match and List hand out cannot change
// the table.
func TestGrantMatchReturnsCopy(t *testing.T) {
	var gs Grants
	mustAdd(t, &gs, Grant{Scope: gitScope, Expires: t0.Add(time.Hour), MaxUses: 2}, t0)
	g, _ := gs.Match(gitScope, t0)
	g.Used, g.Expires, g.Exe = 0, t0.Add(1000*time.Hour), "/tmp/evil"
	gs.List(t0)[0].MaxUses = 100
	if _, ok := gs.Match(gitScope, t0); !ok {
		t.Fatal("second use refused")
	}
	if _, ok := gs.Match(gitScope, t0); ok {
		t.Fatal("editing a returned copy widened the grant")
	}
}

func TestGrantPicksSoonestExpiry(t *testing.T) {
	var gs Grants
	long := mustAdd(t, &gs, Grant{Scope: gitScope, Expires: t0.Add(time.Hour)}, t0)
	short := mustAdd(t, &gs, Grant{Scope: gitScope, Expires: t0.Add(time.Minute), MaxUses: 1}, t0)
	if g, _ := gs.Match(gitScope, t0); g.ID != short {
		t.Errorf("used grant %d, want the one expiring first (%d)", g.ID, short)
	}
	if g, _ := gs.Match(gitScope, t0); g.ID != long {
		t.Errorf("used grant %d, want %d once the short one is used up", g.ID, long)
	}
}

func TestGrantRevoke(t *testing.T) {
	var gs Grants
	a := mustAdd(t, &gs, Grant{Scope: gitScope, Expires: t0.Add(time.Hour)}, t0)
	b := mustAdd(t, &gs, Grant{Scope: gitScope, Expires: t0.Add(2 * time.Hour)}, t0)
	mustAdd(t, &gs, Grant{Scope: loginScope, Expires: t0.Add(time.Hour)}, t0)
	if !gs.Revoke(a) {
		t.Fatal("Revoke of a live grant = false")
	}
	if gs.Revoke(a) {
		t.Error("second Revoke = true")
	}
	if g, ok := gs.Match(gitScope, t0); !ok || g.ID != b {
		t.Errorf("after revoking %d: Match = %+v, %v; want grant %d", a, g, ok, b)
	}
	gs.Revoke(b)
	if _, ok := gs.Match(gitScope, t0); ok {
		t.Error("revoked grant still matches")
	}
	if n := gs.RevokeAll(); n != 1 {
		t.Errorf("RevokeAll = %d, want 1", n)
	}
	if _, ok := gs.Match(loginScope, t0); ok {
		t.Error("grant matches after RevokeAll")
	}

	// Drop on lock; IDs are not reused, so a stale revoke misses.
	old := mustAdd(t, &gs, Grant{Scope: gitScope, Expires: t0.Add(time.Hour)}, t0)
	if n := gs.Drop(); n != 1 {
		t.Errorf("Drop = %d, want 1", n)
	}
	if _, ok := gs.Match(gitScope, t0); ok {
		t.Error("grant matches after Drop")
	}
	fresh := mustAdd(t, &gs, Grant{Scope: gitScope, Expires: t0.Add(time.Hour)}, t0)
	if fresh <= old {
		t.Errorf("ID %d reused after Drop (was %d)", fresh, old)
	}
	if gs.Revoke(old) {
		t.Error("a stale ID revoked something")
	}
}

func TestGrantRequestOf(t *testing.T) {
	req := Request{KeyFingerprint: "SHA256:work", KeyComment: "work-laptop", Exe: "/usr/bin/ssh",
		Purpose: PurposeLogin, Host: "github.com", Forwarded: true}
	want := Scope{Key: "SHA256:work", Exe: "/usr/bin/ssh", Hash: gitHash, Purpose: PurposeLogin,
		Host: "github.com", Forwarded: true, RunBy: "/usr/bin/git", RunByHash: otherHash}
	if got := GrantRequestOf(req, gitHash, Program{"/usr/bin/git", otherHash}); got != want {
		t.Errorf("GrantRequestOf = %+v, want %+v", got, want)
	}
	if p := want.Program(); p != (Program{"/usr/bin/ssh", gitHash}) {
		t.Errorf("Program = %+v", p)
	}
}

// TestGrantConcurrentUses: a grant for N uses covers exactly N signatures
// however many clients race for it.
func TestGrantConcurrentUses(t *testing.T) {
	var gs Grants
	const uses = 50
	mustAdd(t, &gs, Grant{Scope: gitScope, Expires: t0.Add(time.Hour), MaxUses: uses}, t0)
	var got atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				if _, ok := gs.Match(gitScope, t0); ok {
					got.Add(1)
				}
				gs.List(t0)
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			s := loginScope
			s.Host = fmt.Sprintf("h%d.example", i)
			id, _ := gs.Add(Grant{Scope: s, Expires: t0.Add(time.Hour)}, t0)
			gs.Revoke(id)
		}
	})
	wg.Wait()
	if got.Load() != uses {
		t.Errorf("%d signatures covered by a %d-use grant", got.Load(), uses)
	}
}

func TestCooldown(t *testing.T) {
	git := Program{"/usr/bin/git", gitHash}
	evil := Program{"/usr/bin/git", otherHash}
	var c Cooldown
	step := func(p Program, o Outcome, at time.Duration, wantStart bool) {
		t.Helper()
		if got := c.Note(p, o, t0.Add(at)); got != wantStart {
			t.Fatalf("Note(%v, %v, +%v) = %v, want %v", p.Exe, o, at, got, wantStart)
		}
	}
	cooling := func(p Program, at time.Duration) (bool, time.Time) { return c.Cooling(p, t0.Add(at)) }

	step(evil, Denied, 0, false)
	step(evil, TimedOut, time.Second, false)
	if ok, _ := cooling(evil, 2*time.Second); ok {
		t.Fatal("cooling after 2 strikes")
	}
	step(evil, Denied, 2*time.Second, true) // third in a row: tell the person, once
	ok, until := cooling(evil, 3*time.Second)
	if !ok || !until.Equal(t0.Add(2*time.Second+DefaultCooldown)) {
		t.Fatalf("Cooling = %v, %v; want until +5m2s", ok, until.Sub(t0))
	}
	// Same path, other content: another program, not cooling.
	if ok, _ := cooling(git, 3*time.Second); ok {
		t.Fatal("a different program identity is cooling")
	}
	// Late answers to prompts opened before cooling neither extend it nor
	// tell the person again.
	step(evil, Denied, time.Minute, false)
	step(evil, TimedOut, time.Minute, false)
	if _, u := cooling(evil, 2*time.Minute); !u.Equal(until) {
		t.Errorf("cooling extended to %v", u.Sub(t0))
	}
	if ok, _ := cooling(evil, 2*time.Second+DefaultCooldown); ok {
		t.Error("still cooling at the end of the period")
	}
	// The streak starts again from zero afterwards.
	step(evil, Denied, 6*time.Minute, false)
	step(evil, Denied, 6*time.Minute, false)
	step(evil, Denied, 6*time.Minute, true)

	// An approval breaks the streak; a hang-up counts neither way.
	step(git, Denied, 0, false)
	step(git, TimedOut, 0, false)
	step(git, Approved, 0, false)
	step(git, Denied, 0, false)
	step(git, Abandoned, 0, false)
	step(git, Denied, 0, false)
	step(git, Denied, 0, true)

	// An approval of a prompt opened before cooling ends the cooling.
	step(git, Approved, time.Second, false)
	if ok, _ := cooling(git, 2*time.Second); ok {
		t.Error("still cooling after the person approved")
	}
}

func TestCooldownConfigured(t *testing.T) {
	p := Program{"/usr/bin/ssh", gitHash}
	c := Cooldown{Strikes: 1, Period: time.Minute}
	if !c.Note(p, TimedOut, t0) {
		t.Fatal("one strike did not start the cooldown")
	}
	if ok, until := c.Cooling(p, t0); !ok || !until.Equal(t0.Add(time.Minute)) {
		t.Errorf("Cooling = %v, %v", ok, until)
	}
}

func TestCooldownBounded(t *testing.T) {
	var c Cooldown
	cool := Program{"/usr/bin/cool", gitHash}
	for range 3 {
		c.Note(cool, Denied, t0)
	}
	for i := range 3 * maxCoolPrograms {
		c.Note(Program{"/tmp/p", fmt.Sprint(i)}, Denied, t0)
	}
	if n := len(c.m); n > maxCoolPrograms {
		t.Errorf("cooldown remembers %d programs", n)
	}
	if ok, _ := c.Cooling(cool, t0.Add(time.Second)); !ok {
		t.Error("forgetting partial streaks ended a cooling")
	}
}

func TestCooldownConcurrent(t *testing.T) {
	var c Cooldown
	p := Program{"/usr/bin/git", gitHash}
	var started atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				if c.Note(p, Denied, t0) {
					started.Add(1)
				}
				c.Cooling(p, t0)
			}
		})
	}
	wg.Wait()
	if started.Load() != 1 {
		t.Errorf("the person would be told %d times", started.Load())
	}
}

// BenchmarkGrantMatch: Match among n live grants, hitting one (a rebase
// signing under a grant) and missing (a program with no grant).
func BenchmarkGrantMatch(b *testing.B) {
	for _, n := range []int{1, 100, 10_000} {
		var gs Grants
		target := gitScope
		for i := range n {
			s := gitScope
			switch i % 4 { // spread over every indexed field
			case 0:
				s.Key = fmt.Sprintf("SHA256:k%d", i)
			case 1:
				s.Hash = fmt.Sprintf("%064x", i)
			case 2:
				s.Exe = fmt.Sprintf("/usr/bin/p%d", i)
			case 3:
				s.Purpose = fmt.Sprintf("namespace:n%d", i)
			}
			mustAdd(b, &gs, Grant{Scope: s, Expires: t0.Add(time.Hour)}, t0)
			if i == n/2 {
				target = s
			}
		}
		miss := target
		miss.Forwarded = true
		b.Run(fmt.Sprintf("hit/%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, ok := gs.Match(target, t0); !ok {
					b.Fatal("miss")
				}
			}
		})
		b.Run(fmt.Sprintf("miss/%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, ok := gs.Match(miss, t0); ok {
					b.Fatal("hit")
				}
			}
		})
	}
}
