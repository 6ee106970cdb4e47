package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir) // never returns: the parent kills it
	}
	followPoll = 2 * time.Millisecond
	os.Exit(m.Run())
}

// fullEvent is an event of kind k with every field set.
func fullEvent(k Kind) Event {
	return Event{
		Time:     time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC),
		ID:       "ev-" + string(k),
		Kind:     k,
		Decision: Denied,
		Caller: Caller{
			Process: Process{PID: 4242, Exe: "/usr/bin/ssh", SHA256: strings.Repeat("ab", 32)},
			Chain: []Process{
				{PID: 4000, Exe: "/usr/bin/bash", SHA256: strings.Repeat("cd", 32)},
				{PID: 1, Exe: "/usr/lib/systemd/systemd", SHA256: strings.Repeat("ef", 32)},
			},
		},
		Key:        "SHA256:" + strings.Repeat("K", 43),
		Intent:     Intent{Purpose: "login", Namespace: "git", User: "git", Host: "github.com", Resource: "crate foo 0.2.0"},
		Origin:     Forwarded,
		By:         By{Rule: "3", Grant: "g-77", Approver: "askpass /usr/bin/ssh-askpass"},
		Latency:    1234567 * time.Nanosecond,
		DataSHA256: DataHash([]byte("signed bytes")),
		Detail:     "because <reasons> & \"quotes\"\nand a newline",
	}
}

// sign is a small sign event for bulk appends.
func sign(i int, d Decision, exe string) Event {
	return Event{
		Kind:     KindSign,
		Decision: d,
		Caller:   Caller{Process: Process{PID: 100 + i, Exe: exe, SHA256: strings.Repeat("0", 64)}},
		Key:      "SHA256:test",
		Intent:   Intent{Purpose: "login", User: "git", Host: "example.org"},
		Origin:   Local,
		By:       By{Rule: "1"},
	}
}

func openLog(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mustAppend(t testing.TB, l *Log, e Event) {
	t.Helper()
	if err := l.Append(e); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

// entries reads back every record, failing on any error.
func entries(t testing.TB, dir string, f Filter) []Entry {
	t.Helper()
	var out []Entry
	for e, err := range Scan(dir, f) {
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		out = append(out, e)
	}
	return out
}

func mustVerify(t testing.TB, dir string) Report {
	t.Helper()
	rep, err := Verify(dir)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

// fileLines returns the lines of a log file, without newlines.
func fileLines(t testing.TB, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	if len(data) == 0 {
		return nil
	}
	return lines
}

func writeLines(t testing.TB, path string, lines [][]byte) {
	t.Helper()
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\n')
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func logDir(t testing.TB) string {
	return filepath.Join(t.TempDir(), "audit")
}
