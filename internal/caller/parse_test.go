package caller

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// A real /proc/PID/stat line, with comm and starttime to be filled in.
const statFmt = "%d (%s) S 10313 10313 17164 34817 -1 4194304 102 0 0 0 0 0 0 0 20 0 1 0 %d 3133440 411 " +
	"18446744073709551615 93898128805888 93898128825769 140730540588416 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"

func TestParseStat(t *testing.T) {
	tests := []struct {
		name, in string
		want     procStat
		err      bool
	}{
		{name: "plain", in: fmt.Sprintf(statFmt, 42, "cat", 150005),
			want: procStat{pid: 42, state: 'S', ppid: 10313, session: 17164, tty: 34817, start: 150005}},
		{name: "comm with ') ' inside", in: fmt.Sprintf(statFmt, 42, "a) R 1 1 1 1", 7),
			want: procStat{pid: 42, state: 'S', ppid: 10313, session: 17164, tty: 34817, start: 7}},
		{name: "comm with newline", in: fmt.Sprintf(statFmt, 42, "x\ny", 7),
			want: procStat{pid: 42, state: 'S', ppid: 10313, session: 17164, tty: 34817, start: 7}},
		{name: "empty", in: "", err: true},
		{name: "no comm", in: "42 S 1 1 1", err: true},
		{name: "short", in: "42 (cat) S 1 1 1 0", err: true},
		{name: "bad ppid", in: strings.Replace(fmt.Sprintf(statFmt, 42, "cat", 1), " 10313 ", " x ", 1), err: true},
		{name: "negative ppid", in: strings.Replace(fmt.Sprintf(statFmt, 42, "cat", 1), " 10313 ", " -1 ", 1), err: true},
		{name: "double space", in: strings.Replace(fmt.Sprintf(statFmt, 42, "cat", 1), " S ", " S  ", 1), err: true},
		{name: "bad pid", in: fmt.Sprintf(statFmt, 0, "cat", 1), err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.in))
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if !tt.err && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(fmt.Sprintf(statFmt, 42, "cat", 150005)))
	f.Add([]byte(fmt.Sprintf(statFmt, 1, ") ) (", 0)))
	f.Add([]byte("42 (x) Z 0 0 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStat(b)
		if err == nil && (s.pid <= 0 || s.ppid < 0 || s.session < 0) {
			t.Errorf("accepted %q as %+v", b, s)
		}
	})
}

// FuzzStatComm checks that whatever a process names itself, the fields after
// its name are read correctly.
func FuzzStatComm(f *testing.F) {
	f.Add("cat", uint64(150005))
	f.Add("a) R 1 2 3 4 5", uint64(1))
	f.Add(")(", uint64(0))
	f.Fuzz(func(t *testing.T, comm string, start uint64) {
		if len(comm) > 64 {
			return
		}
		s, err := parseStat([]byte(fmt.Sprintf(statFmt, 42, comm, start)))
		want := procStat{pid: 42, state: 'S', ppid: 10313, session: 17164, tty: 34817, start: start}
		if err != nil || s != want {
			t.Errorf("comm %q: got %+v, %v; want %+v", comm, s, err, want)
		}
	})
}

func TestParseCmdline(t *testing.T) {
	many := strings.Repeat("a\x00", maxArgs+5)
	tests := []struct {
		name      string
		in        string
		truncated bool
		want      []string
	}{
		{"empty", "", false, nil},
		{"plain", "git\x00push\x00origin\x00", false, []string{"git", "push", "origin"}},
		{"no final NUL (setproctitle)", "sshd: user [priv]", false, []string{"sshd: user [priv]"}},
		{"empty argument", "a\x00\x00b\x00", false, []string{"a", "", "b"}},
		{"control characters", "a\x1b[2J\x00b\u202e\x00", false, []string{`a\x1b[2J`, `b\u202e`}},
		{"truncated", "git\x00commit\x00-m\x00half", true, []string{"git", "commit", "-m", "…"}},
		{"too many", many, false, append(strings.Split(strings.Repeat("a ", maxArgs), " ")[:maxArgs], "…")},
		{"long argument", strings.Repeat("x", 300), false, []string{strings.Repeat("x", maxArgRunes) + "…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseCmdline([]byte(tt.in), tt.truncated)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseCmdline(f *testing.F) {
	f.Add([]byte("git\x00push\x00origin\x00"), false)
	f.Add([]byte("ssh\x00-o\x00SendEnv=GIT_PROTOCOL\x00git@github.com\x00git-receive-pack 'a/b.git'\x00"), false)
	f.Add([]byte("a\x1b]0;x\x07\x00\xff\xfe\x00"), true)
	f.Fuzz(func(t *testing.T, b []byte, truncated bool) {
		args := parseCmdline(b, truncated)
		if len(args) > maxArgs+1 {
			t.Fatalf("%d arguments", len(args))
		}
		for _, a := range args {
			if !utf8.ValidString(a) || utf8.RuneCountInString(a) > maxArgRunes+1 {
				t.Fatalf("argument %q", a)
			}
			for _, r := range a {
				if r < 0x20 || r == 0x7f || r == '\u202e' {
					t.Fatalf("argument %q keeps a control character", a)
				}
			}
		}
	})
}
