package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestEveryKindRoundTrips(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, dir, Options{})
	var want []Event
	for _, k := range Kinds() {
		e := fullEvent(k)
		mustAppend(t, l, e)
		want = append(want, e)
	}
	// Time and ID are filled in when missing.
	mustAppend(t, l, Event{Kind: KindLock})
	got := entries(t, dir, Filter{})
	if len(got) != len(want)+1 {
		t.Fatalf("read %d records, want %d", len(got), len(want)+1)
	}
	for i, e := range want {
		if !reflect.DeepEqual(got[i].Event, e) {
			t.Errorf("kind %s:\n got %+v\nwant %+v", e.Kind, got[i].Event, e)
		}
		if got[i].Seq != uint64(i+1) || got[i].File != fileName(1) || got[i].Line != i+1 {
			t.Errorf("kind %s: seq %d at %s:%d", e.Kind, got[i].Seq, got[i].File, got[i].Line)
		}
	}
	last := got[len(got)-1]
	if last.Time.IsZero() || !isHex(last.ID, 32) {
		t.Errorf("time %v, id %q: want filled in", last.Time, last.ID)
	}
	mustVerify(t, dir)
}

func TestLineIsMarshalledRecord(t *testing.T) {
	for _, prevFile := range []string{"", fileName(7)} {
		e, err := fullEvent(KindSign).prepare(time.Now)
		if err != nil {
			t.Fatal(err)
		}
		body, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		logID := strings.Repeat("1", 32)
		got := line(logID, 99, Genesis(logID), prevFile, body)
		want, err := json.Marshal(Record{V: Version, Log: logID, Seq: 99, Prev: Genesis(logID), PrevFile: prevFile, Event: e})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("line:\n%s\nwant\n%s", got, want)
		}
	}
}

func TestPrepare(t *testing.T) {
	long := strings.Repeat("é", 5000)
	tests := []struct {
		name    string
		e       Event
		wantErr string
		check   func(Event) error
	}{
		{name: "unknown kind", e: Event{Kind: "sing"}, wantErr: `unknown event kind "sing"`},
		{name: "unknown decision", e: Event{Kind: KindSign, Decision: "maybe"}, wantErr: `unknown decision "maybe"`},
		{name: "unknown origin", e: Event{Kind: KindSign, Origin: "moon"}, wantErr: `unknown origin "moon"`},
		{name: "long strings are cut", e: Event{Kind: KindSign, Intent: Intent{User: long}, Caller: Caller{Process: Process{Exe: "/" + long}}},
			check: func(e Event) error {
				if len(e.Intent.User) > maxText || !strings.HasSuffix(e.Intent.User, "…") {
					return fmt.Errorf("user is %d bytes", len(e.Intent.User))
				}
				if len(e.Caller.Exe) > maxPath {
					return fmt.Errorf("exe is %d bytes", len(e.Caller.Exe))
				}
				return nil
			}},
		{name: "invalid utf-8", e: Event{Kind: KindSign, Intent: Intent{Host: "a\xffb"}},
			check: func(e Event) error {
				if e.Intent.Host != "a\uFFFDb" {
					return fmt.Errorf("host %q", e.Intent.Host)
				}
				return nil
			}},
		{name: "long chain is cut", e: Event{Kind: KindSign, Caller: Caller{Chain: make([]Process, 40)}},
			check: func(e Event) error {
				if len(e.Caller.Chain) != maxChain {
					return fmt.Errorf("chain of %d", len(e.Caller.Chain))
				}
				return nil
			}},
		{name: "time in UTC", e: Event{Kind: KindSign, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))},
			check: func(e Event) error {
				if e.Time.Location() != time.UTC || e.Time.Hour() != 23 {
					return fmt.Errorf("time %v", e.Time)
				}
				return nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := tt.e.prepare(time.Now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.check(e); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestAppendRejectsBadEvent(t *testing.T) {
	l := openLog(t, logDir(t), Options{OnFailure: Continue})
	err := l.Append(Event{Kind: "nope"})
	var ae *AppendError
	if !errors.As(err, &ae) || ae.Refuse() || ShouldRefuse(err) {
		t.Fatalf("err = %#v, want *AppendError with Continue", err)
	}
}

func TestParseRecord(t *testing.T) {
	good := func() map[string]any {
		return map[string]any{"v": 1, "log": strings.Repeat("a", 32), "seq": 1, "prev": strings.Repeat("b", 64),
			"time": "2026-01-02T03:04:05Z", "id": "x", "kind": "sign"}
	}
	tests := []struct {
		name    string
		edit    func(m map[string]any)
		raw     string
		wantErr string
	}{
		{name: "good", edit: func(map[string]any) {}},
		{name: "prev_file", edit: func(m map[string]any) { m["prev_file"] = fileName(3) }},
		{name: "version", edit: func(m map[string]any) { m["v"] = 2 }, wantErr: "version 2"},
		{name: "unknown field", edit: func(m map[string]any) { m["secret"] = "x" }, wantErr: "unknown field"},
		{name: "seq 0", edit: func(m map[string]any) { m["seq"] = 0 }, wantErr: "seq 0"},
		{name: "negative seq", edit: func(m map[string]any) { m["seq"] = -1 }, wantErr: "bad record"},
		{name: "short log", edit: func(m map[string]any) { m["log"] = "abc" }, wantErr: "log id"},
		{name: "upper-case prev", edit: func(m map[string]any) { m["prev"] = strings.Repeat("B", 64) }, wantErr: "prev"},
		{name: "prev_file path", edit: func(m map[string]any) { m["prev_file"] = "../x" }, wantErr: "prev_file"},
		{name: "no time", edit: func(m map[string]any) { delete(m, "time") }, wantErr: "no time"},
		{name: "no id", edit: func(m map[string]any) { delete(m, "id") }, wantErr: "no id"},
		{name: "unknown kind", edit: func(m map[string]any) { m["kind"] = "x" }, wantErr: "unknown kind"},
		{name: "bad decision", edit: func(m map[string]any) { m["decision"] = "x" }, wantErr: "unknown decision"},
		{name: "bad origin", edit: func(m map[string]any) { m["origin"] = "x" }, wantErr: "unknown origin"},
		{name: "empty", raw: "", wantErr: "not a JSON object"},
		{name: "array", raw: "[]", wantErr: "not a JSON object"},
		{name: "two objects", raw: `{"v":1}{"v":1}`, wantErr: "bad record"},
		{name: "zeros", raw: "\x00\x00\x00", wantErr: "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.raw)
			if tt.edit != nil {
				m := good()
				tt.edit(m)
				var err error
				if b, err = json.Marshal(m); err != nil {
					t.Fatal(err)
				}
			}
			_, err := ParseRecord(b)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ParseRecord(%s): %v", b, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("ParseRecord(%s) = %v, want error containing %q", b, err, tt.wantErr)
			}
		})
	}
}

func TestFileNames(t *testing.T) {
	tests := []struct {
		name string
		want int
	}{
		{"audit-000001.jsonl", 1},
		{"audit-123456.jsonl", 123456},
		{"audit-1234567.jsonl", 1234567},
		{"audit-000000.jsonl", 0},
		{"audit-00001.jsonl", 0},
		{"audit-0000001.jsonl", 0},
		{"audit-+00001.jsonl", 0},
		{"audit-000001.jsonl.tmp", 0},
		{"x-000001.jsonl", 0},
	}
	for _, tt := range tests {
		if got := fileNumber(tt.name); got != tt.want {
			t.Errorf("fileNumber(%q) = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestRotationKeepsChain(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, dir, Options{MaxFileSize: 4 << 10})
	for i := range 100 {
		mustAppend(t, l, sign(i, Allowed, "/usr/bin/ssh"))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, dir)
	if len(rep.Files) < 3 || rep.Records != 100 || rep.Head.Seq != 100 || len(rep.Truncated) != 0 {
		t.Fatalf("report %+v: want 100 records over 3 or more files", rep)
	}
	for i := 1; i < len(rep.Files); i++ {
		prev := fileLines(t, filepath.Join(dir, rep.Files[i-1]))
		first, err := ParseRecord(fileLines(t, filepath.Join(dir, rep.Files[i]))[0])
		if err != nil {
			t.Fatal(err)
		}
		if first.PrevFile != rep.Files[i-1] || first.Prev != Hash(prev[len(prev)-1]) {
			t.Errorf("%s starts with prev_file %q prev %s: want %s and the hash of its last line",
				rep.Files[i], first.PrevFile, first.Prev, rep.Files[i-1])
		}
		fi, err := os.Stat(filepath.Join(dir, rep.Files[i-1]))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 4<<10 {
			t.Errorf("%s is %d bytes, more than the maximum", rep.Files[i-1], fi.Size())
		}
	}
}

func TestConcurrentAppend(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, dir, Options{MaxFileSize: 64 << 10, GroupSize: 8})
	const workers, each = 8, 250
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := l.Append(sign(w*each+i, Allowed, fmt.Sprintf("/bin/worker%d", w))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	unsynced := l.seq - l.synced
	l.mu.Unlock()
	if unsynced != 0 {
		t.Errorf("%d records unsynced after Sync", unsynced)
	}
	rep := mustVerify(t, dir)
	if rep.Records != workers*each || len(rep.Files) < 2 {
		t.Fatalf("report %+v: want %d records in several files", rep, workers*each)
	}
	ids := map[string]bool{}
	for _, e := range entries(t, dir, Filter{}) {
		ids[e.ID] = true
	}
	if len(ids) != workers*each {
		t.Errorf("%d distinct ids, want %d", len(ids), workers*each)
	}
}

// Appends wait for the disk rather than let more than two groups be
// unsynced: that bounds what a power loss can take.
func TestUnsyncedIsBounded(t *testing.T) {
	var syncs atomic.Int64
	slow := make(chan struct{})
	opts := Options{GroupSize: 4, GroupWait: time.Hour, testOnlyWrap: func(f file) file {
		return &hookFile{file: f, beforeSync: func() error { <-slow; syncs.Add(1); return nil }}
	}}
	l := openLog(t, logDir(t), opts)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 40 {
			if err := l.Append(sign(i, Allowed, "/bin/x")); err != nil {
				t.Error(err)
				return
			}
			l.mu.Lock()
			unsynced := l.seq - l.synced
			l.mu.Unlock()
			if unsynced > 8 {
				t.Errorf("%d records unsynced, want at most 8", unsynced)
			}
		}
	}()
	// Let fsyncs through one at a time until the appender is done.
	for {
		select {
		case slow <- struct{}{}:
			continue
		case <-done:
		}
		break
	}
	close(slow)
	if n := syncs.Load(); n < 4 {
		t.Errorf("%d fsyncs for 40 records in groups of 4", n)
	}
}

func TestSyncAndHead(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, dir, Options{GroupWait: time.Hour, GroupSize: 1000})
	if h := l.Head(); h.Seq != 0 || h.Hash != Genesis(l.ID()) {
		t.Errorf("empty head %+v", h)
	}
	mustAppend(t, l, sign(1, Allowed, "/bin/x"))
	// Written to the OS before Append returns, before any fsync.
	if lines := fileLines(t, filepath.Join(dir, fileName(1))); len(lines) != 1 {
		t.Fatalf("%d lines in the file after Append", len(lines))
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	synced := l.synced
	l.mu.Unlock()
	if synced != 1 {
		t.Errorf("synced = %d after Sync, want 1", synced)
	}
	rep := mustVerify(t, dir)
	if h := l.Head(); h != rep.Head {
		t.Errorf("Head %+v, Verify says %+v", h, rep.Head)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(sign(2, Allowed, "/bin/x")); !errors.Is(err, ErrClosed) || !ShouldRefuse(err) {
		t.Errorf("Append after Close = %v", err)
	}
}

func TestReopenContinuesChain(t *testing.T) {
	dir := logDir(t)
	var id string
	for round := range 3 {
		l := openLog(t, dir, Options{MaxFileSize: 2 << 10})
		if round == 0 {
			id = l.ID()
		} else if l.ID() != id {
			t.Fatalf("log id changed from %s to %s", id, l.ID())
		}
		for i := range 10 {
			mustAppend(t, l, sign(i, Denied, "/bin/x"))
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if rep := mustVerify(t, dir); rep.Records != 30 || len(rep.Truncated) != 0 {
		t.Errorf("report %+v", rep)
	}
}

func TestReopenAfterTruncatedTail(t *testing.T) {
	for _, tail := range []string{`{"v":1,"log":"ab`, "\x00\x00\x00\x00"} {
		dir := logDir(t)
		l := openLog(t, dir, Options{})
		for i := range 5 {
			mustAppend(t, l, sign(i, Allowed, "/bin/x"))
		}
		l.Close()
		f, err := os.OpenFile(filepath.Join(dir, fileName(1)), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(tail)
		f.Close()

		rep, err := Verify(dir)
		if err != nil {
			t.Fatalf("Verify with a truncated tail: %v", err)
		}
		want := []Truncation{{File: fileName(1), Line: 6, Bytes: len(tail)}}
		if !reflect.DeepEqual(rep.Truncated, want) {
			t.Errorf("Truncated = %+v, want %+v", rep.Truncated, want)
		}
		var scanErr error
		for _, err := range Scan(dir, Filter{}) {
			if err != nil {
				scanErr = err
			}
		}
		if !errors.Is(scanErr, ErrTruncatedTail) {
			t.Errorf("Scan error = %v, want ErrTruncatedTail", scanErr)
		}

		l = openLog(t, dir, Options{})
		mustAppend(t, l, sign(9, Allowed, "/bin/x"))
		l.Close()
		rep = mustVerify(t, dir)
		if rep.Records != 7 || len(rep.Files) != 2 || !reflect.DeepEqual(rep.Truncated, want) {
			t.Errorf("after reopening: %+v", rep)
		}
		first, err := ParseRecord(fileLines(t, filepath.Join(dir, fileName(2)))[0])
		if err != nil {
			t.Fatal(err)
		}
		if first.Kind != KindAuditRecovered || first.Seq != 6 || !strings.Contains(first.Detail, fileName(1)) {
			t.Errorf("first record after the crash: %+v", first)
		}
	}
}

func TestOpenRefusesLoosePermissions(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		wantErr string
	}{
		{name: "dir readable by others", setup: func(t *testing.T, dir string) { chmod(t, dir, 0o755) }, wantErr: "has mode 0755"},
		{name: "dir writable by group", setup: func(t *testing.T, dir string) { chmod(t, dir, 0o720) }, wantErr: "has mode 0720"},
		{name: "file readable by others", setup: func(t *testing.T, dir string) { chmod(t, filepath.Join(dir, fileName(1)), 0o644) },
			wantErr: "has mode 0644"},
		{name: "file is a symlink", setup: func(t *testing.T, dir string) {
			p := filepath.Join(dir, fileName(2))
			if err := os.Symlink(filepath.Join(dir, fileName(1)), p); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "not a regular file"},
		{name: "dir owned by another user", setup: func(t *testing.T, dir string) { chown(t, dir) }, wantErr: "is owned by uid"},
		{name: "file owned by another user", setup: func(t *testing.T, dir string) { chown(t, filepath.Join(dir, fileName(1))) },
			wantErr: "is owned by uid"},
		{name: "dir is a file", setup: func(t *testing.T, dir string) {
			os.RemoveAll(dir)
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := logDir(t)
			l := openLog(t, dir, Options{})
			mustAppend(t, l, sign(1, Allowed, "/bin/x"))
			l.Close()
			tt.setup(t, dir)
			_, err := Open(dir, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Open = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "vigil", "audit")
	l := openLog(t, dir, Options{})
	mustAppend(t, l, sign(1, Allowed, "/bin/x"))
	for _, c := range []struct {
		path string
		want os.FileMode
	}{{dir, 0o700}, {filepath.Join(dir, fileName(1)), 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != c.want {
			t.Errorf("%s has mode %04o, want %04o", c.path, fi.Mode().Perm(), c.want)
		}
	}
}

func chmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}

// chown gives p to another user: as root, nobody; as anyone else, the
// test cannot and checks the message on a path it does not own instead.
func chown(t *testing.T, p string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("chown needs root (uid %d)", os.Geteuid())
	}
	if err := os.Lchown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
}

// hookFile injects failures into a log file.
type hookFile struct {
	file
	beforeWrite func(p []byte) (int, error) // nil: write normally
	beforeSync  func() error
}

func (h *hookFile) Write(p []byte) (int, error) {
	if h.beforeWrite != nil {
		if n, err := h.beforeWrite(p); err != nil {
			// Let part of the record reach the file, as a full disk does.
			m, _ := h.file.Write(p[:n])
			return m, err
		}
	}
	return h.file.Write(p)
}

func (h *hookFile) Sync() error {
	if h.beforeSync != nil {
		if err := h.beforeSync(); err != nil {
			return err
		}
	}
	return h.file.Sync()
}

func TestAppendFailureAndRecovery(t *testing.T) {
	for _, policy := range []FailurePolicy{Refuse, Continue} {
		t.Run(policy.String(), func(t *testing.T) {
			var failWrite, failSync atomic.Bool
			// No background fsync: the test decides when one happens.
			opts := Options{OnFailure: policy, GroupSize: 1000, GroupWait: time.Hour, testOnlyWrap: func(f file) file {
				return &hookFile{file: f,
					beforeWrite: func(p []byte) (int, error) {
						if failWrite.Load() {
							return len(p) / 2, syscall.ENOSPC
						}
						return 0, nil
					},
					beforeSync: func() error {
						if failSync.Load() {
							return syscall.EIO
						}
						return nil
					}}
			}}
			dir := logDir(t)
			l := openLog(t, dir, opts)
			for i := range 3 {
				mustAppend(t, l, sign(i, Allowed, "/bin/x"))
			}

			failWrite.Store(true)
			for i := range 3 {
				err := l.Append(sign(10+i, Allowed, "/bin/x"))
				var ae *AppendError
				if !errors.As(err, &ae) || !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("Append on a full disk = %v", err)
				}
				if ae.Policy != policy || ae.Refuse() != (policy == Refuse) || ShouldRefuse(err) != (policy == Refuse) {
					t.Fatalf("policy %v: error says policy %v", policy, ae.Policy)
				}
			}
			// Space is back.
			failWrite.Store(false)
			mustAppend(t, l, sign(20, Allowed, "/bin/x"))

			// An fsync that fails fails the next Append, then recovers.
			failSync.Store(true)
			if err := l.Sync(); !errors.Is(err, syscall.EIO) {
				t.Fatalf("Sync = %v, want EIO", err)
			}
			if err := l.Append(sign(21, Allowed, "/bin/x")); !errors.Is(err, syscall.EIO) {
				t.Fatalf("Append after a failed fsync = %v, want EIO", err)
			}
			failSync.Store(false)
			mustAppend(t, l, sign(22, Allowed, "/bin/x"))
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			if rep := mustVerify(t, dir); len(rep.Truncated) != 0 {
				t.Errorf("truncated: %+v", rep.Truncated)
			}
			var kinds []string
			var gaps []string
			for _, e := range entries(t, dir, Filter{}) {
				kinds = append(kinds, string(e.Kind))
				if e.Kind == KindAuditGap {
					gaps = append(gaps, e.Detail)
				}
			}
			want := "sign sign sign audit_gap sign audit_gap sign"
			if got := strings.Join(kinds, " "); got != want {
				t.Errorf("kinds: %s\nwant:  %s", got, want)
			}
			if len(gaps) != 2 || !strings.HasPrefix(gaps[0], "3 events not recorded") ||
				!strings.Contains(gaps[0], "no space left on device") || !strings.HasPrefix(gaps[1], "1 events not recorded") {
				t.Errorf("gap details: %q", gaps)
			}
		})
	}
}

func TestParseFailurePolicy(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want FailurePolicy
		err  bool
	}{{"refuse", Refuse, false}, {"continue", Continue, false}, {"", Refuse, true}, {"Refuse", Refuse, true}} {
		got, err := ParseFailurePolicy(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseFailurePolicy(%q) = %v, %v", tt.in, got, err)
		}
	}
	if ShouldRefuse(nil) || !ShouldRefuse(errors.New("x")) {
		t.Error("ShouldRefuse: nil must not refuse, a foreign error must")
	}
}
