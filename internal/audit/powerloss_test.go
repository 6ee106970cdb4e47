package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// copyLog copies the log files of src into a new directory.
func copyLog(t *testing.T, src string) string {
	t.Helper()
	dst := logDir(t)
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	nums, err := listFiles(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nums {
		data, err := os.ReadFile(filepath.Join(src, fileName(n)))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, fileName(n)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestPowerLoss cuts the end of the log at many points, and zero-fills
// it, as a power loss can leave unsynced data: Verify reports at most a
// truncated tail, never a broken chain, and the log goes on.
func TestPowerLoss(t *testing.T) {
	src := logDir(t)
	l := openLog(t, src, Options{MaxFileSize: 2 << 10})
	for i := range 12 {
		mustAppend(t, l, sign(i, Allowed, "/usr/bin/ssh"))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	nums, _ := listFiles(src)
	last := fileName(nums[len(nums)-1])
	data, err := os.ReadFile(filepath.Join(src, last))
	if err != nil {
		t.Fatal(err)
	}
	// Cut points: around the newlines, and some bytes in between.
	cuts := map[int]bool{0: true}
	for i, c := range data {
		if c == '\n' {
			cuts[i], cuts[i+1] = true, true
		}
		if i%401 == 0 {
			cuts[i] = true
		}
	}
	for cut := range cuts {
		for _, zero := range []bool{false, true} {
			dir := copyLog(t, src)
			damaged := bytes.Clone(data[:cut])
			if zero {
				damaged = append(damaged, make([]byte, len(data)-cut)...)
			}
			if err := os.WriteFile(filepath.Join(dir, last), damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(dir)
			if err != nil {
				t.Fatalf("cut at %d (zeroed %v): %v", cut, zero, err)
			}
			wantTail := bytes.LastIndexByte(damaged, '\n')+1 < len(damaged)
			if got := len(rep.Truncated) == 1 && rep.Truncated[0].File == last; got != wantTail || len(rep.Truncated) > 1 {
				t.Fatalf("cut at %d (zeroed %v): truncated %+v", cut, zero, rep.Truncated)
			}
			l, err := Open(dir, Options{})
			if err != nil {
				t.Fatalf("cut at %d: reopen: %v", cut, err)
			}
			mustAppend(t, l, sign(99, Denied, "/bin/after"))
			l.Close()
			rep2, err := Verify(dir)
			if err != nil {
				t.Fatalf("cut at %d (zeroed %v): after reopening: %v", cut, zero, err)
			}
			want := rep.Records + 1
			if wantTail {
				want++ // the audit_recovered record
			}
			if rep2.Records != want {
				t.Fatalf("cut at %d (zeroed %v): %d records after reopening, want %d", cut, zero, rep2.Records, want)
			}
		}
	}
}

// A crash between creating the next file and writing to it leaves an
// empty newest file, which the log takes up.
func TestEmptyNewestFile(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, dir, Options{})
	for i := range 3 {
		mustAppend(t, l, sign(i, Allowed, "/bin/x"))
	}
	l.Close()
	if err := os.WriteFile(filepath.Join(dir, fileName(2)), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, Options{})
	mustAppend(t, l, sign(3, Allowed, "/bin/x"))
	l.Close()
	rep := mustVerify(t, dir)
	if rep.Records != 4 || rep.Head.File != fileName(2) || len(rep.Files) != 2 {
		t.Errorf("report %+v", rep)
	}
}

// Open records damage it finds even when it cannot write at first.
func TestRecoveryNoteWaitsForSpace(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, dir, Options{})
	mustAppend(t, l, sign(1, Allowed, "/bin/x"))
	l.Close()
	f, err := os.OpenFile(filepath.Join(dir, fileName(1)), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"v":`)
	f.Close()

	var full atomic.Bool
	full.Store(true)
	l = openLog(t, dir, Options{testOnlyWrap: func(f file) file {
		return &hookFile{file: f, beforeWrite: func(p []byte) (int, error) {
			if full.Load() {
				return 3, os.ErrDeadlineExceeded // any error will do
			}
			return 0, nil
		}}
	}})
	full.Store(false)
	mustAppend(t, l, sign(2, Allowed, "/bin/x"))
	l.Close()
	mustVerify(t, dir)
	var kinds []Kind
	for e, err := range Scan(dir, Filter{}) {
		if err != nil && !errors.Is(err, ErrTruncatedTail) {
			t.Fatal(err)
		}
		if err == nil {
			kinds = append(kinds, e.Kind)
		}
	}
	if len(kinds) != 4 || kinds[1] != KindAuditRecovered || kinds[2] != KindAuditGap || kinds[3] != KindSign {
		t.Errorf("kinds %v", kinds)
	}
}
