package caller

import (
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	bash := Process{PID: 7, Exe: "/usr/bin/bash", Argv: []string{"-bash"}, Terminal: true, SessionLeader: true}
	gitPush := Process{PID: 40, Exe: "/usr/bin/git", Argv: []string{"git", "-C", "repo", "-c", "a=b", "push", "origin"}}
	gitCommit := Process{PID: 40, Exe: "/usr/bin/git", Argv: []string{"git", "commit", "-S", "-m", "x"}}
	ssh := Process{PID: 42, Exe: "/usr/bin/ssh", Argv: []string{"ssh", "git@github.com", "git-receive-pack 'a/b'"}}
	keygen := Process{PID: 43, Exe: "/usr/bin/ssh-keygen", Argv: []string{"ssh-keygen", "-Y", "sign", "-n", "git", "-f", "k"}}
	tests := []struct {
		name          string
		chain         []Process
		otherMnt, pid bool
		want          string
	}{
		{"unknown", nil, false, false, "unknown program (pid 99)"},
		{"unreadable caller", []Process{{PID: 99}}, false, false, "unknown program (pid 99)"},
		{"alone", []Process{ssh}, false, false, "ssh"},
		{"git push over ssh", []Process{ssh, gitPush, bash}, false, false, "git push over ssh"},
		{"git through sh -c", []Process{ssh, {PID: 41, Exe: "/usr/bin/dash", Argv: []string{"sh", "-c", "ssh -i k \"$@\""}}, gitPush},
			false, false, "git push over ssh"},
		{"git without subcommand", []Process{ssh, {PID: 40, Exe: "/usr/bin/git", Argv: []string{"git", "-c", "x=y"}}},
			false, false, "git over ssh"},
		{"odd subcommand is not shown", []Process{ssh, {PID: 40, Exe: "/usr/bin/git", Argv: []string{"git", "pu\\x1bsh"}}},
			false, false, "git over ssh"},
		{"commit signing", []Process{keygen, gitCommit, bash}, false, false, "git commit signing with ssh-keygen"},
		{"ssh-keygen not signing", []Process{{PID: 43, Exe: "/usr/bin/ssh-keygen", Argv: []string{"ssh-keygen", "-l"}}, gitCommit},
			false, false, "ssh-keygen, run by git"},
		{"ssh from a terminal shell", []Process{ssh, bash}, false, false, "ssh, run by bash in a terminal"},
		{"ssh from a script", []Process{ssh, {PID: 7, Exe: "/usr/bin/bash"}}, false, false, "ssh, run by bash"},
		{"renamed: calls itself git, runs python3", []Process{
			{PID: 50, Exe: "/tmp/x/python3", Argv: []string{"git", "push"}}, bash},
			false, false, "python3 (/tmp/x/python3), run by bash in a terminal"},
		{"git outside the system directories", []Process{ssh, {PID: 40, Exe: "/home/u/bin/git", Argv: []string{"git", "push"}}},
			false, false, "git push (/home/u/bin/git) over ssh"},
		{"deleted", []Process{{PID: 42, Exe: "/usr/bin/ssh", Deleted: true}}, false, false,
			"ssh [executable deleted since it started]"},
		{"replaced", []Process{{PID: 42, Exe: "/usr/bin/ssh", Deleted: true, Replaced: true}, bash}, false, false,
			"ssh [executable replaced since it started], run by bash in a terminal"},
		{"unknown parent", []Process{ssh, {PID: 3}}, false, false, "ssh, run by unknown program (pid 3)"},
		{"container", []Process{ssh, bash}, true, true,
			"ssh, run by bash in a terminal; in another mount and pid namespace (a container?)"},
		{"mount namespace only", []Process{ssh}, true, false, "ssh; in another mount namespace (a container?)"},
		{"pid namespace only", []Process{ssh}, false, true, "ssh; in another pid namespace"},
		{"control characters in the path", []Process{{PID: 5, Exe: "/tmp/\x1b[2Jx/evil\u202egit"}}, false, false,
			`evil\u202egit (/tmp/\x1b[2Jx/evil\u202egit)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarize(99, tt.chain, tt.otherMnt, tt.pid); got != tt.want {
				t.Errorf("summarize() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRunner: the program a grant is bound to besides the caller is the git
// that ran it, even through "sh -c", and otherwise its parent.
func TestRunner(t *testing.T) {
	bash := Process{PID: 7, Exe: "/usr/bin/bash", Hash: "b", Terminal: true, SessionLeader: true}
	git := Process{PID: 40, Exe: "/usr/bin/git", Hash: "g", Argv: []string{"git", "commit", "-S"}}
	sh := Process{PID: 41, Exe: "/usr/bin/dash", Hash: "d", Argv: []string{"sh", "-c", "ssh -i k \"$@\""}}
	ssh := Process{PID: 42, Exe: "/usr/bin/ssh", Hash: "s"}
	tests := []struct {
		name  string
		chain []Process
		want  Process
	}{
		{"git's helper", []Process{ssh, git, bash}, git},
		{"git through sh -c", []Process{ssh, sh, git, bash}, git},
		{"a shell's child", []Process{ssh, bash}, bash},
		{"sh -c without git", []Process{ssh, sh, bash}, sh},
		{"no parent in view", []Process{ssh}, Process{}},
		// setsid ssh: the chain stops at the session leader, and no grant
		// is offered for a runner that is the zero Process.
		{"leads its session", []Process{{PID: 42, Exe: "/usr/bin/ssh", Hash: "s", SessionLeader: true}}, Process{}},
		{"unreadable parent", []Process{ssh, {PID: 3}}, Process{}},
		{"unknown caller", nil, Process{}},
	}
	for _, tt := range tests {
		i := &Info{PID: 42, Chain: tt.chain}
		if got := i.Runner(); got.Exe != tt.want.Exe || got.Hash != tt.want.Hash || got.PID != tt.want.PID {
			t.Errorf("%s: Runner() = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestInfoBuiltByHand(t *testing.T) {
	i := &Info{PID: 42, Chain: []Process{{PID: 42, Exe: "/usr/bin/ssh"}, {PID: 7, Exe: "/usr/bin/bash", Terminal: true}}}
	if got, want := i.String(), "/usr/bin/ssh (pid 42) ← /usr/bin/bash (pid 7)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := i.Summary(), "ssh, run by bash in a terminal"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if l := i.Lineage(); len(l) != 2 {
		t.Errorf("Lineage() = %v", l)
	}
	if (&Info{}).String() != "unknown program (pid 0)" {
		t.Errorf("zero Info: %q", (&Info{}).String())
	}
}

func TestProcessString(t *testing.T) {
	tests := []struct {
		p    Process
		want string
	}{
		{Process{PID: 3}, "unknown program (pid 3)"},
		{Process{PID: 3, Exe: "/usr/bin/ssh"}, "/usr/bin/ssh (pid 3)"},
		{Process{PID: 3, Exe: "/a/b\nc"}, `/a/b\x0ac (pid 3)`},
		{Process{PID: 3, Exe: "/a", Deleted: true}, "/a (pid 3) [executable deleted since it started]"},
		{Process{PID: 3, Exe: "/a", Deleted: true, Replaced: true}, "/a (pid 3) [executable replaced since it started]"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
	if got := (Process{Argv: []string{"git", "push", strings.Repeat("x", 400)}}).Command(); len([]rune(got)) > 301 {
		t.Errorf("Command() is %d runes", len([]rune(got)))
	}
}
