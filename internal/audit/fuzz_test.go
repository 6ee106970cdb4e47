package audit

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// seedLines returns real records of every kind, as stored.
func seedLines(f *testing.F) [][]byte {
	dir := logDir(f)
	l, err := Open(dir, Options{})
	if err != nil {
		f.Fatal(err)
	}
	for _, k := range Kinds() {
		if err := l.Append(fullEvent(k)); err != nil {
			f.Fatal(err)
		}
	}
	l.Close()
	return fileLines(f, filepath.Join(dir, fileName(1)))
}

// FuzzParseRecord: ParseRecord never panics, and what it accepts
// marshals to a record it accepts again, identically.
func FuzzParseRecord(f *testing.F) {
	for _, ln := range seedLines(f) {
		f.Add(ln)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("marshal %+v: %v", r, err)
		}
		r2, err := ParseRecord(out)
		if err != nil {
			t.Fatalf("ParseRecord(%s) accepted, but not its re-encoding %s: %v", b, out, err)
		}
		out2, err := json.Marshal(r2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) || !r.Time.Equal(r2.Time) || r.Seq != r2.Seq || r.Prev != r2.Prev {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
	})
}

// FuzzVerify: Verify never panics on a damaged file, and when it accepts
// one, Scan reads back exactly the records it counted.
func FuzzVerify(f *testing.F) {
	lines := seedLines(f)
	f.Add(bytes.Join(lines, []byte("\n")))
	f.Add(append(bytes.Join(lines, []byte("\n")), '\n'))
	f.Add(append(bytes.Join(lines[:3], []byte("\n")), []byte("\n{\"v\":1,")...))
	f.Add(bytes.Join([][]byte{lines[0], lines[2], lines[1]}, []byte("\n")))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, fileName(1)), data, 0o600); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(dir)
		if err != nil {
			if _, ok := err.(*VerifyError); !ok {
				t.Fatalf("Verify: %T %v", err, err)
			}
			return
		}
		n := 0
		for _, err := range Scan(dir, Filter{}) {
			if err == nil {
				n++
			}
		}
		if n != rep.Records {
			t.Fatalf("Verify counted %d records, Scan read %d", rep.Records, n)
		}
	})
}
