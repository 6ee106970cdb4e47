package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// tamperLog writes 30 records over three files of ten, and returns the
// directory.
func tamperLog(t *testing.T) string {
	t.Helper()
	dir := logDir(t)
	l := openLog(t, dir, Options{})
	for i := range 30 {
		if i == 10 || i == 20 {
			// Rotate by hand at fixed points, so that tests know where
			// every record is.
			l.mu.Lock()
			if err := l.rotate(); err != nil {
				t.Fatal(err)
			}
			l.mu.Unlock()
		}
		mustAppend(t, l, sign(i, Denied, "/usr/bin/ssh"))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestVerify(t *testing.T) {
	f1, f2, f3 := fileName(1), fileName(2), fileName(3)
	edit := func(name string, fn func(lines [][]byte) [][]byte) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, name)
			writeLines(t, p, fn(fileLines(t, p)))
		}
	}
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   *VerifyError // nil: verifies
	}{
		{name: "untouched", tamper: func(*testing.T, string) {}},
		{name: "edited record", tamper: edit(f2, func(l [][]byte) [][]byte {
			l[4] = bytes.Replace(l[4], []byte(`"denied"`), []byte(`"allowed"`), 1)
			return l
		}), want: &VerifyError{File: f2, Line: 5, Seq: 15, Problem: ProblemEdited}},
		{name: "edited last record of a file", tamper: edit(f1, func(l [][]byte) [][]byte {
			l[9] = bytes.Replace(l[9], []byte(`/usr/bin/ssh`), []byte(`/usr/bin/git`), 1)
			return l
		}), want: &VerifyError{File: f1, Line: 10, Seq: 10, Problem: ProblemEdited}},
		{name: "whitespace added", tamper: edit(f1, func(l [][]byte) [][]byte {
			l[2] = append(l[2], ' ')
			return l
		}), want: &VerifyError{File: f1, Line: 3, Seq: 3, Problem: ProblemEdited}},
		{name: "deleted record", tamper: edit(f2, func(l [][]byte) [][]byte {
			return append(l[:3:3], l[4:]...)
		}), want: &VerifyError{File: f2, Line: 4, Seq: 15, Problem: ProblemSeqGap}},
		{name: "deleted first record", tamper: edit(f1, func(l [][]byte) [][]byte { return l[1:] }),
			want: &VerifyError{File: f1, Line: 1, Seq: 2, Problem: ProblemSeqGap}},
		{name: "deleted records, renumbered", tamper: edit(f2, func(l [][]byte) [][]byte {
			l = append(l[:3:3], l[5:]...)
			for i := 3; i < len(l); i++ {
				l[i] = bytes.Replace(l[i], []byte(`"seq":`+strconv.Itoa(13+i)), []byte(`"seq":`+strconv.Itoa(11+i)), 1)
			}
			return l
		}), want: &VerifyError{File: f2, Line: 3, Seq: 13, Problem: ProblemEdited}},
		{name: "reordered records", tamper: edit(f3, func(l [][]byte) [][]byte {
			l[5], l[6] = l[6], l[5]
			return l
		}), want: &VerifyError{File: f3, Line: 6, Seq: 27, Problem: ProblemReordered}},
		{name: "duplicated record", tamper: edit(f3, func(l [][]byte) [][]byte {
			return append(l[:6:6], l[5:]...)
		}), want: &VerifyError{File: f3, Line: 7, Seq: 26, Problem: ProblemReordered}},
		{name: "deleted middle file", tamper: func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, f2)); err != nil {
				t.Fatal(err)
			}
		}, want: &VerifyError{File: f2, Seq: 21, Problem: ProblemMissingFile}},
		{name: "files swapped", tamper: func(t *testing.T, dir string) {
			for _, mv := range [][2]string{{f2, "tmp"}, {f3, f2}, {"tmp", f3}} {
				if err := os.Rename(filepath.Join(dir, mv[0]), filepath.Join(dir, mv[1])); err != nil {
					t.Fatal(err)
				}
			}
		}, want: &VerifyError{File: f2, Line: 1, Seq: 21, Problem: ProblemReordered}},
		{name: "record of another log", tamper: func(t *testing.T, dir string) {
			other := tamperLog(t)
			foreign := fileLines(t, filepath.Join(other, f1))[3]
			edit(f1, func(l [][]byte) [][]byte { l[3] = foreign; return l })(t, dir)
		}, want: &VerifyError{File: f1, Line: 4, Seq: 4, Problem: ProblemWrongLog}},
		{name: "garbage line", tamper: edit(f1, func(l [][]byte) [][]byte {
			l[2] = []byte("not json")
			return l
		}), want: &VerifyError{File: f1, Line: 3, Problem: ProblemMalformed}},
		{name: "zeroed block in the middle", tamper: edit(f1, func(l [][]byte) [][]byte {
			l[2] = make([]byte, 40)
			return l
		}), want: &VerifyError{File: f1, Line: 3, Problem: ProblemMalformed}},
		{name: "new genesis", tamper: edit(f1, func(l [][]byte) [][]byte {
			r, _ := ParseRecord(l[0])
			l[0] = bytes.Replace(l[0], []byte(r.Prev), []byte(strings.Repeat("0", 64)), 1)
			return l
		}), want: &VerifyError{File: f1, Line: 1, Seq: 1, Problem: ProblemHashMismatch}},
		// Removing the oldest files is pruning, shown in the report.
		{name: "oldest file removed", tamper: func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, f1)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tamperLog(t)
			tt.tamper(t, dir)
			_, err := Verify(dir)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			ve, ok := err.(*VerifyError)
			if !ok {
				t.Fatalf("Verify = %v, want %s at %s:%d", err, tt.want.Problem, tt.want.File, tt.want.Line)
			}
			got := *ve
			got.Detail = ""
			if got != *tt.want {
				t.Errorf("Verify = %v\n got %+v\nwant %+v", err, got, *tt.want)
			}
		})
	}
}

func TestVerifyReport(t *testing.T) {
	dir := tamperLog(t)
	rep := mustVerify(t, dir)
	head := fileLines(t, filepath.Join(dir, fileName(3)))
	want := Report{
		Files:    []string{fileName(1), fileName(2), fileName(3)},
		Records:  30,
		FirstSeq: 1,
		Head:     Head{File: fileName(3), Seq: 30, Hash: Hash(head[len(head)-1])},
	}
	if !reflect.DeepEqual(rep, want) {
		t.Errorf("report\n got %+v\nwant %+v", rep, want)
	}

	if err := os.Remove(filepath.Join(dir, fileName(1))); err != nil {
		t.Fatal(err)
	}
	rep = mustVerify(t, dir)
	if rep.FirstSeq != 11 || rep.PrunedBefore != fileName(1) || rep.Records != 20 {
		t.Errorf("after pruning: %+v", rep)
	}
}

func TestVerifyEmpty(t *testing.T) {
	dir := logDir(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, dir); rep.Records != 0 || len(rep.Files) != 0 {
		t.Errorf("empty dir: %+v", rep)
	}
	openLog(t, dir, Options{}).Close()
	if rep := mustVerify(t, dir); rep.Records != 0 || len(rep.Files) != 1 {
		t.Errorf("empty log: %+v", rep)
	}
}

// TestHeadAnchorsTheEnd: the last record has no successor to vouch for it;
// the head file written at sync does, so an edited or deleted last record
// is caught.
func TestHeadAnchorsTheEnd(t *testing.T) {
	for _, tamper := range []string{"edit last", "delete last"} {
		t.Run(tamper, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "audit")
			l, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range []Decision{Allowed, Denied} {
				if err := l.Append(Event{Kind: KindSign, Decision: d, Key: "SHA256:x"}); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(dir); err != nil {
				t.Fatalf("intact log: %v", err)
			}
			path := filepath.Join(dir, fileName(1))
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := bytes.SplitAfter(b, []byte("\n"))
			switch tamper {
			case "edit last":
				b = bytes.Replace(b, []byte(`"decision":"denied"`), []byte(`"decision":"allowed"`), 1)
			case "delete last":
				b = bytes.Join(lines[:1], nil)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = Verify(dir)
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("Verify after %s = %v, want a *VerifyError", tamper, err)
			}
			t.Log(err)
		})
	}
}
