package approve

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// slowClock is a clock that moves 2s on every reading: every answer comes
// well after its dialog appeared.
func slowClock() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return t0.Add(time.Duration(n.Add(1)) * 2 * time.Second) }
}

// stoppedClock never moves: every answer is instant.
func stoppedClock() time.Time { return t0 }

// The agent's prompt text, as promptText builds it.
const gitPrompt = "Allow git to sign a git commit or tag?\n" +
	"  program: /usr/bin/git (pid 4242)\n" +
	"  who:     uid 1000, session 3, tty pts/1\n" +
	"  key:     work ED25519 SHA256:abc\n" +
	"  path:    local\n"

type fakeRun struct {
	args []string
	env  []string
	cmds []string // the Assuan lines sent, as sent
}

// fakePinentryFor returns a Pinentry running the test binary as a scripted
// pinentry, and a function that reads what each of its runs was sent.
func fakePinentryFor(t *testing.T, answers string, env ...string) (*Pinentry, func() []fakeRun) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "log")
	p := &Pinentry{
		Program:  exe,
		GrantFor: 5 * time.Minute,
		Env: append([]string{"VIGIL_FAKE_PINENTRY=1", "FAKE_LOG=" + log, "FAKE_ANSWERS=" + answers,
			"DISPLAY=:7", "WAYLAND_DISPLAY=wayland-1",
			// A -race test binary otherwise waits a second before exiting.
			"GORACE=atexit_sleep_ms=0"}, env...),
		now: slowClock(),
	}
	runs := func() []fakeRun {
		b, err := os.ReadFile(log)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var rs []fakeRun
		for l := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
			switch {
			case l == "":
			case strings.HasPrefix(l, "START"):
				rs = append(rs, fakeRun{args: strings.Fields(strings.TrimPrefix(l, "START"))})
			case strings.HasPrefix(l, "ENV "):
				rs[len(rs)-1].env = append(rs[len(rs)-1].env, strings.TrimPrefix(l, "ENV "))
			default:
				rs[len(rs)-1].cmds = append(rs[len(rs)-1].cmds, l)
			}
		}
		return rs
	}
	return p, runs
}

func withDeadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// assuanUnescape decodes %XX as pinentry does.
func assuanUnescape(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			if i+2 >= len(s) {
				t.Fatalf("dangling %% in %q", s)
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				t.Fatalf("bad escape in %q", s)
			}
			b.WriteByte(byte(v))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func command(t *testing.T, r fakeRun, name string) string {
	t.Helper()
	var found []string
	for _, c := range r.cmds {
		if v, ok := strings.CutPrefix(c, name+" "); ok {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s sent %d times in %q", name, len(found), r.cmds)
	}
	return found[0]
}

func TestPinentryAnswers(t *testing.T) {
	grant := Decision{Allow: true, GrantFor: 5 * time.Minute}
	tests := []struct {
		name    string
		answers string
		want    Decision
		wantErr bool
		dialogs int
	}{
		{"allow once", "ok", Decision{Allow: true}, false, 1},
		{"grant, confirmed", "notok ok", grant, false, 2},
		{"grant, then deny", "notok cancel", Decision{}, false, 2},
		{"grant, then window closed", "notok close", Decision{}, false, 2},
		{"deny", "cancel", Decision{}, false, 1},
		{"window closed", "close", Decision{}, false, 1},
		{"old pinentry's not confirmed, confirmed", "legacy ok", grant, false, 2},
		{"comments and blank lines before OK", "comment", Decision{Allow: true}, false, 1},
		// "Not confirmed" where no button says so: pinentry failed.
		{"not confirmed twice", "notok notok", Decision{}, true, 2},
		{"pinentry timeout", "timeout", Decision{}, true, 1},
		{"other error", "other", Decision{}, true, 1},
		{"OKAY is not OK", "okay", Decision{}, true, 1},
		{"yes is not OK", "yes", Decision{}, true, 1},
		{"overlong line", "long", Decision{}, true, 1},
		{"exits without answering", "exit", Decision{}, true, 1},
		{"grant, then exits", "notok exit", Decision{}, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, runs := fakePinentryFor(t, tt.answers)
			got, err := p.Decide(withDeadline(t, time.Minute), gitPrompt)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Decide = %+v, %v; want error %v", got, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Decide = %+v, want %+v", got, tt.want)
			}
			if n := len(runs()); n != tt.dialogs {
				t.Errorf("%d dialogs shown, want %d", n, tt.dialogs)
			}
		})
	}
}

// TestPinentryTimeoutIsDeadline: pinentry's own timeout, set a second
// before vigil's, is reported as vigil's deadline.
func TestPinentryTimeoutIsDeadline(t *testing.T) {
	p, _ := fakePinentryFor(t, "timeout")
	ctx := withDeadline(t, 1500*time.Millisecond)
	if _, err := p.Decide(ctx, gitPrompt); err != context.DeadlineExceeded || ctx.Err() == nil {
		t.Errorf("pinentry's timeout near the deadline: %v (ctx %v), want the context's error", err, ctx.Err())
	}
	// Long before the deadline (a pinentry with its own idea of time),
	// it is still a deadline, and a refusal.
	p, _ = fakePinentryFor(t, "timeout")
	ctx = withDeadline(t, time.Minute)
	if d, err := p.Decide(ctx, gitPrompt); !errors.Is(err, context.DeadlineExceeded) || d.Allow || ctx.Err() != nil {
		t.Errorf("pinentry's early timeout: %+v, %v (ctx %v)", d, err, ctx.Err())
	}
}

// TestPinentryProtocol: what the person is shown, command by command.
func TestPinentryProtocol(t *testing.T) {
	p, runs := fakePinentryFor(t, "notok ok", "GPG_TTY=/dev/pts/9", "TERM=screen", "LANG=C.UTF-8")
	if _, err := p.Decide(withDeadline(t, time.Minute), gitPrompt); err != nil {
		t.Fatal(err)
	}
	rs := runs()
	if len(rs) != 2 {
		t.Fatalf("%d runs, want 2", len(rs))
	}
	first := rs[0]
	want := []string{
		"SETTITLE Allow git to sign a git commit or tag?",
		"SETDESC Allow git to sign a git commit or tag?%0A%0Aprogram: /usr/bin/git (pid 4242)%0A" +
			"who:     uid 1000, session 3, tty pts/1%0Akey:     work ED25519 SHA256:abc%0Apath:    local%0A%0A" +
			"Allow for 5 min: the same program, started by the same git or parent program, may use this key for the same purpose, destination and path " +
			"without asking, for 5 min. A grant for a program run by git covers anything that gets that git to run it (such as GIT_SSH_COMMAND). " +
			"Anything else still asks.",
		"SETOK Allow _once",
		"SETCANCEL _Deny",
		"SETNOTOK Allow for _5 min",
		"SETTIMEOUT 59",
		"OPTION display=:7",
		"OPTION ttyname=/dev/pts/9",
		"OPTION ttytype=screen",
		"OPTION lc-ctype=C.UTF-8",
		"CONFIRM",
	}
	if !slices.Equal(first.cmds, want) {
		t.Errorf("first dialog sent\n%s\nwant\n%s", strings.Join(first.cmds, "\n"), strings.Join(want, "\n"))
	}
	// The grant is confirmed in a dialog without a not-OK button.
	second := rs[1]
	if got := command(t, second, "SETOK"); got != "Allow for _5 min" {
		t.Errorf("second dialog's OK = %q", got)
	}
	if got := command(t, second, "SETCANCEL"); got != "_Deny" {
		t.Errorf("second dialog's cancel = %q", got)
	}
	for _, c := range second.cmds {
		if strings.HasPrefix(c, "SETNOTOK") {
			t.Errorf("second dialog has a not-OK button: %q", c)
		}
	}
	desc := assuanUnescape(t, command(t, second, "SETDESC"))
	for _, s := range []string{"For 5 min, this same program", "Allow git to sign a git commit or tag?", "key:     work ED25519 SHA256:abc"} {
		if !strings.Contains(desc, s) {
			t.Errorf("second dialog's description lacks %q:\n%s", s, desc)
		}
	}
	// Only the configured environment reaches pinentry; none of ours.
	wantEnv := append([]string{}, p.Env...)
	for _, r := range rs {
		if !slices.Equal(r.env, wantEnv) {
			t.Errorf("pinentry's environment = %q, want %q", r.env, wantEnv)
		}
		if len(r.args) != 0 {
			t.Errorf("pinentry's arguments = %q", r.args)
		}
	}
}

func TestPinentryOnceOnly(t *testing.T) {
	p, runs := fakePinentryFor(t, "ok")
	p.GrantFor = 0
	got, err := p.Decide(withDeadline(t, time.Minute), gitPrompt)
	if err != nil || got != (Decision{Allow: true}) {
		t.Fatalf("Decide = %+v, %v", got, err)
	}
	r := runs()[0]
	for _, c := range r.cmds {
		if strings.HasPrefix(c, "SETNOTOK") {
			t.Errorf("no grant configured, but a not-OK button: %q", c)
		}
	}
	if desc := command(t, r, "SETDESC"); strings.Contains(desc, "Allow for") {
		t.Errorf("no grant configured, but the description offers one: %q", desc)
	}

	// "Not confirmed" without a not-OK button is a failure, not a grant.
	p, _ = fakePinentryFor(t, "notok")
	p.GrantFor = 0
	if got, err := p.Decide(withDeadline(t, time.Minute), gitPrompt); !errors.Is(err, ErrNoDialog) || got.Allow {
		t.Errorf("Decide = %+v, %v; want ErrNoDialog", got, err)
	}
}

// TestPinentryEscaping: caller-controlled newlines and '%' cannot add an
// Assuan command, and control and bidi characters are shown as escapes.
func TestPinentryEscaping(t *testing.T) {
	text := "Allow evil%0ACONFIRM to sign?\r\nGETPIN\n" +
		"  program: /tmp/\u202egit.exe (pid 1)\n" +
		"  key:     100% \x1b[2Jcomment\x00 \\x1b SHA256:abc\n" +
		"  host:    \xff\u200bgithub.com\n" +
		"BYE\n"
	p, runs := fakePinentryFor(t, "ok")
	if _, err := p.Decide(withDeadline(t, time.Minute), text); err != nil {
		t.Fatal(err)
	}
	r := runs()[0]
	var names []string
	for _, c := range r.cmds {
		name, _, _ := strings.Cut(c, " ")
		names = append(names, name)
		for _, bad := range []string{"\x1b", "\x00", "\r", "\u202e", "\u200b", "\xff"} {
			if strings.Contains(c, bad) {
				t.Errorf("raw %q reached pinentry in %q", bad, c)
			}
		}
	}
	if want := []string{"SETTITLE", "SETDESC", "SETOK", "SETCANCEL", "SETNOTOK", "SETTIMEOUT", "OPTION", "CONFIRM"}; !slices.Equal(names, want) {
		t.Errorf("commands sent: %q, want %q", names, want)
	}
	if got, want := command(t, r, "SETTITLE"), "Allow evil%250ACONFIRM to sign?"; got != want {
		t.Errorf("SETTITLE %q, want %q", got, want)
	}
	desc := assuanUnescape(t, command(t, r, "SETDESC"))
	lines := strings.Split(desc, "\n")
	want := []string{
		"Allow evil%0ACONFIRM to sign?",
		"",
		"GETPIN",
		"program: /tmp/\\u202egit.exe (pid 1)",
		"key:     100% \\x1b[2Jcomment\\x00 \\x1b SHA256:abc",
		"host:    \\xff\\u200bgithub.com",
		"BYE",
	}
	if !slices.Equal(lines[:len(want)], want) {
		t.Errorf("description lines\n%q\nwant\n%q", lines[:len(want)], want)
	}
}

// TestPinentryLongPrompt: a description longer than an Assuan line is cut
// to fit, so pinentry does not reject the line (and the prompt with it).
func TestPinentryLongPrompt(t *testing.T) {
	text := "Allow " + strings.Repeat("%", 400) + " to sign?\n"
	for i := range 40 {
		text += "  parent" + strconv.Itoa(i) + ": " + strings.Repeat("/x%", 30) + "\n"
	}
	p, runs := fakePinentryFor(t, "ok")
	if _, err := p.Decide(withDeadline(t, time.Minute), text); err != nil {
		t.Fatal(err)
	}
	for _, c := range runs()[0].cmds {
		if len(c) > assuanMaxLine {
			t.Errorf("%d-byte line sent: %.40q…", len(c), c)
		}
	}
	r := runs()[0]
	title := assuanUnescape(t, command(t, r, "SETTITLE"))
	if !strings.HasPrefix(title, "Allow %%%") || !strings.HasSuffix(title, "…") {
		t.Errorf("title %q", title)
	}
	desc := assuanUnescape(t, command(t, r, "SETDESC"))
	if !strings.HasSuffix(desc, "…") || !strings.Contains(desc, "parent0: /x%") {
		t.Errorf("description not cut as expected: %q", desc)
	}
	if !utf8Valid(desc) {
		t.Error("cut in the middle of a character")
	}
}

// TestPinentryLongParents: a long line is shortened so that the facts
// after it (the forwarded path, the note that the program changed) still
// show.
func TestPinentryLongParents(t *testing.T) {
	var parents []string
	for i := range 6 {
		parents = append(parents, "/usr/lib/"+strings.Repeat("very-long-directory-name/", 4)+"prog"+strconv.Itoa(i)+" (pid 99999)")
	}
	text := "Allow ssh to log in as git to github.com?\n" +
		"  program: /usr/bin/ssh (pid 4242) " + strings.Repeat("-o SomeOption=yes ", 10) + "\n" +
		"  parents: " + strings.Join(parents, " ← ") + "\n" +
		"  who:     uid 1000, " + strings.Repeat("session 3, ", 20) + "\n" +
		"  host:    github.com (verified)\n" +
		"  key:     work ED25519 SHA256:abc\n" +
		"  FORWARDED from build.example (verified): the request comes from another host\n" +
		"  NOTE:    /usr/bin/ssh changed since rule 2 first allowed it\n"
	p, runs := fakePinentryFor(t, "ok")
	if _, err := p.Decide(withDeadline(t, time.Minute), text); err != nil {
		t.Fatal(err)
	}
	r := runs()[0]
	raw := command(t, r, "SETDESC")
	if len("SETDESC "+raw) > assuanMaxLine {
		t.Errorf("SETDESC line is %d bytes", len("SETDESC "+raw))
	}
	desc := assuanUnescape(t, raw)
	for _, want := range []string{"program: /usr/bin/ssh", "parents: /usr/lib/", "host:    github.com (verified)",
		"key:     work ED25519 SHA256:abc", "FORWARDED from build.example (verified)", "NOTE:    /usr/bin/ssh changed"} {
		if !strings.Contains(desc, want) {
			t.Errorf("description lacks %q:\n%s", want, desc)
		}
	}
	if strings.Contains(desc, "prog5") || strings.Contains(desc, "Allow for 5 min:") {
		t.Errorf("nothing was shortened or left out:\n%s", desc)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\ufffd") == s }

// TestPinentryReflex: an OK that comes within a second of the dialog
// appearing is not taken; the dialog is shown again, saying why.
func TestPinentryReflex(t *testing.T) {
	t.Run("always instant", func(t *testing.T) {
		p, runs := fakePinentryFor(t, "ok ok ok ok")
		p.now = stoppedClock
		got, err := p.Decide(withDeadline(t, time.Minute), gitPrompt)
		if err == nil || got.Allow {
			t.Fatalf("Decide = %+v, %v; want a refusal with an error", got, err)
		}
		rs := runs()
		if len(rs) != maxReflexes {
			t.Fatalf("%d dialogs, want %d", len(rs), maxReflexes)
		}
		if d := command(t, rs[0], "SETDESC"); strings.Contains(d, "shown again") {
			t.Errorf("first dialog says it is shown again: %q", d)
		}
		if d := assuanUnescape(t, command(t, rs[1], "SETDESC")); !strings.HasPrefix(d, "(Answered within a second") {
			t.Errorf("second dialog does not say why: %q", d)
		}
	})
	t.Run("instant, then read", func(t *testing.T) {
		p, runs := fakePinentryFor(t, "ok ok")
		var n atomic.Int64
		p.now = func() time.Time {
			// Dialog 1: start and answer at t0; dialog 2: 3s apart.
			if n.Add(1) <= 2 {
				return t0
			}
			return t0.Add(time.Duration(n.Load()) * 3 * time.Second)
		}
		got, err := p.Decide(withDeadline(t, time.Minute), gitPrompt)
		if err != nil || got != (Decision{Allow: true}) {
			t.Fatalf("Decide = %+v, %v", got, err)
		}
		if len(runs()) != 2 {
			t.Errorf("%d dialogs, want 2", len(runs()))
		}
	})
	t.Run("instant deny counts", func(t *testing.T) {
		p, runs := fakePinentryFor(t, "cancel")
		p.now = stoppedClock
		if got, err := p.Decide(withDeadline(t, time.Minute), gitPrompt); err != nil || got.Allow {
			t.Fatalf("Decide = %+v, %v", got, err)
		}
		if len(runs()) != 1 {
			t.Errorf("%d dialogs for a quick deny, want 1", len(runs()))
		}
	})
	// pinentry-tty with no terminal answers every CONFIRM "not confirmed"
	// at once: that must never become a grant.
	t.Run("instant not confirmed", func(t *testing.T) {
		p, _ := fakePinentryFor(t, "notok notok notok notok notok notok")
		p.now = stoppedClock
		if got, err := p.Decide(withDeadline(t, time.Minute), gitPrompt); err == nil || got.Allow {
			t.Fatalf("Decide = %+v, %v; want an error", got, err)
		}
	})
}

func TestPinentryTimeoutFromDeadline(t *testing.T) {
	for _, tt := range []struct {
		ctx  func(*testing.T) context.Context
		want string
	}{
		{func(t *testing.T) context.Context { return withDeadline(t, 30*time.Second) }, "SETTIMEOUT 29"},
		{func(t *testing.T) context.Context { return withDeadline(t, 2500*time.Millisecond) }, "SETTIMEOUT 2"},
		{func(*testing.T) context.Context { return context.Background() }, "SETTIMEOUT 59"},
	} {
		p, runs := fakePinentryFor(t, "ok")
		if _, err := p.Decide(tt.ctx(t), gitPrompt); err != nil {
			t.Fatal(err)
		}
		if cmds := runs()[0].cmds; !slices.Contains(cmds, tt.want) {
			t.Errorf("sent %q, want %q", cmds, tt.want)
		}
	}
}

func TestPinentryStartFailures(t *testing.T) {
	p := &Pinentry{Program: filepath.Join(t.TempDir(), "nope")}
	if got, err := p.Decide(context.Background(), gitPrompt); err == nil || got.Allow {
		t.Errorf("missing program: %+v, %v", got, err)
	}
	if got, err := (&Pinentry{}).Decide(context.Background(), gitPrompt); err == nil || got.Allow {
		t.Errorf("no program: %+v, %v", got, err)
	}
	for _, greeting := range []string{"garbage", "silent-exit"} {
		p, _ := fakePinentryFor(t, "ok", "FAKE_GREETING="+greeting)
		if got, err := p.Decide(withDeadline(t, time.Minute), gitPrompt); err == nil || got.Allow {
			t.Errorf("greeting %s: %+v, %v; want an error", greeting, got, err)
		}
	}
	// A context that has already ended starts nothing.
	p, runs := fakePinentryFor(t, "ok")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, err := p.Decide(ctx, gitPrompt); !errors.Is(err, context.Canceled) || got.Allow {
		t.Errorf("cancelled context: %+v, %v", got, err)
	}
	if n := len(runs()); n != 0 {
		t.Errorf("%d pinentry runs after cancel", n)
	}
}

func TestDurationLabel(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Minute:         "5 min",
		time.Hour:               "1 hour",
		3 * time.Hour:           "3 hours",
		90 * time.Minute:        "90 min",
		90 * time.Second:        "90 s",
		1500 * time.Millisecond: "2 s",
	} {
		if got := durationLabel(d); got != want {
			t.Errorf("durationLabel(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestAssuanResponse(t *testing.T) {
	for _, line := range []string{
		"OK", "OK Pleased to meet you", "ERR 83886179 Operation cancelled", "ERR 1", "D abc",
		"# comment", "", "INQUIRE QUALITY x", "END", "ASSUAN_Not_Confirmed",
	} {
		if !assuanResponse([]byte(line)) {
			t.Errorf("assuanResponse(%q) = false", line)
		}
	}
	for _, line := range []string{"OKAY", "OK\x00", "Ok", "ERR", "ERR x1 y", "ERR  1", "yes"} {
		if assuanResponse([]byte(line)) {
			t.Errorf("assuanResponse(%q) = true", line)
		}
	}
}

func TestAskpassDecide(t *testing.T) {
	for _, tt := range []struct {
		body string
		want Decision
	}{
		{"echo yes", Decision{Allow: true}},
		{"exit 1", Decision{}},
	} {
		a := &Askpass{Program: script(t, tt.body)}
		got, err := a.Decide(context.Background(), "Allow?")
		if err != nil || got != tt.want {
			t.Errorf("%s: Decide = %+v, %v; want %+v", tt.body, got, err, tt.want)
		}
	}
	a := &Askpass{Program: filepath.Join(t.TempDir(), "nope")}
	if got, err := a.Decide(context.Background(), "Allow?"); err == nil || got.Allow {
		t.Errorf("missing program: Decide = %+v, %v", got, err)
	}
}
