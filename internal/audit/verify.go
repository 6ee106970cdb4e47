package audit

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
)

// Problem names what is wrong with a log.
type Problem string

const (
	ProblemMalformed    Problem = "malformed"     // a line that is not a record (edited or corrupted)
	ProblemEdited       Problem = "edited"        // a record's bytes do not hash to what the next record says
	ProblemHashMismatch Problem = "hash mismatch" // the first record's prev is not the genesis value
	ProblemSeqGap       Problem = "sequence gap"  // records are missing: deleted
	ProblemReordered    Problem = "reordered"     // records or files are out of order, or repeated
	ProblemMissingFile  Problem = "missing file"  // a file in the middle of the chain was deleted
	ProblemWrongLog     Problem = "wrong log"     // a record from another log
)

// VerifyError is the first place where the chain is broken. File is a
// file name in the log's directory; Line counts from 1 and is 0 when the
// problem is a whole file.
type VerifyError struct {
	File    string
	Line    int
	Seq     uint64 // the record's seq, when it could be read
	Problem Problem
	Detail  string
}

func (e *VerifyError) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	return fmt.Sprintf("audit: %s: %s: %s", where, e.Problem, e.Detail)
}

// Truncation is a damaged end of a file: bytes after its last newline,
// which is what a crash in the middle of a write leaves. It is crash
// damage, not tampering: Verify reports it without failing.
type Truncation struct {
	File  string
	Line  int // the line the bytes would have been
	Bytes int
}

// Report is what Verify found.
type Report struct {
	Files   []string // the log's files, oldest first
	Records int      // whole records checked
	// FirstSeq is the seq of the oldest record present: 1 unless older
	// files were removed, in which case PrunedBefore names the file the
	// oldest record says came before it.
	FirstSeq     uint64
	PrunedBefore string
	Head         Head         // the last good record
	Truncated    []Truncation // crash damage: a file whose end is not a whole record
}

// Verify checks the chain across every file in dir, oldest first: each
// record parses, belongs to the same log, has the next seq, and carries the
// hash of the record before it; each file after the first starts with a
// record that names the file before it. It returns the report and, if the
// chain is broken, a *VerifyError for the first break. Damaged file ends
// (a crash) are listed in Report.Truncated and are not errors, provided the
// chain goes on from the last whole record.
//
// The chain shows edits, deletions and reordering anywhere except at its
// end: removing or rewriting the last records is seen only by comparing
// Report.Head with a head kept elsewhere (Log.Head).
func Verify(dir string) (Report, error) {
	var rep Report
	nums, err := listFiles(dir)
	if err != nil {
		return rep, fmt.Errorf("audit: %w", err)
	}
	for _, n := range nums {
		rep.Files = append(rep.Files, fileName(n))
	}
	anchor, err := readHead(dir)
	if err != nil {
		return rep, err
	}
	v := verifier{rep: &rep, dir: dir, files: rep.Files, anchor: anchor}
	for i := range rep.Files {
		if err := v.file(i); err != nil {
			return rep, err
		}
	}
	if anchor != nil && rep.Head.Seq < anchor.Seq {
		return rep, &VerifyError{File: rep.Head.File, Seq: rep.Head.Seq, Problem: ProblemSeqGap,
			Detail: fmt.Sprintf("the log ends at seq %d, but seq %d was written and synced (head file): records deleted at the end",
				rep.Head.Seq, anchor.Seq)}
	}
	return rep, nil
}

type verifier struct {
	rep   *Report
	dir   string
	files []string

	started  bool
	logID    string
	next     uint64 // expected seq
	prevHash string
	prevFile string // file and line of the previous record
	prevLine int
	anchor   *Head // the head file: the last record known synced
}

func (v *verifier) file(i int) error {
	name := v.files[i]
	data, err := readFile(filepath.Join(v.dir, name))
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	end := bytes.LastIndexByte(data, '\n') + 1
	lines := bytes.Split(data[:end], []byte("\n"))
	lines = lines[:len(lines)-1]
	for j, ln := range lines {
		if err := v.record(i, j == 0, ln, j+1); err != nil {
			return err
		}
	}
	if end < len(data) {
		v.rep.Truncated = append(v.rep.Truncated, Truncation{File: name, Line: len(lines) + 1, Bytes: len(data) - end})
	}
	return nil
}

func (v *verifier) record(fileIdx int, firstInFile bool, ln []byte, lineNo int) error {
	name := v.files[fileIdx]
	fail := func(p Problem, seq uint64, format string, args ...any) error {
		return &VerifyError{File: name, Line: lineNo, Seq: seq, Problem: p, Detail: fmt.Sprintf(format, args...)}
	}
	r, err := ParseRecord(ln)
	if err != nil {
		if bytes.IndexByte(ln, 0) >= 0 {
			return fail(ProblemMalformed, 0, "zero bytes in the middle of the log (crash damage or tampering)")
		}
		return fail(ProblemMalformed, 0, "%v", err)
	}
	if !v.started {
		v.started = true
		v.logID = r.Log
		v.rep.FirstSeq = r.Seq
		switch {
		case r.Seq == 1 && r.Prev != Genesis(r.Log):
			return fail(ProblemHashMismatch, r.Seq, "the first record's prev is not the genesis value of log %s", r.Log)
		case r.Seq == 1 && r.PrevFile != "":
			return fail(ProblemHashMismatch, r.Seq, "the first record names a previous file %s", r.PrevFile)
		case r.Seq == 1:
		case r.PrevFile == "" || !firstInFile:
			return fail(ProblemSeqGap, r.Seq, "the log starts at seq %d: records 1 to %d are missing", r.Seq, r.Seq-1)
		case fileIdx > 0:
			// An earlier file is there but holds no record.
			return fail(ProblemMissingFile, r.Seq, "records 1 to %d are missing", r.Seq-1)
		default:
			// Older files were removed: visible in the report, and the
			// chain is checked from here on.
			v.rep.PrunedBefore = r.PrevFile
		}
	} else {
		if r.Log != v.logID {
			return fail(ProblemWrongLog, r.Seq, "record of log %s in log %s", r.Log, v.logID)
		}
		if firstInFile {
			want := v.files[fileIdx-1]
			switch {
			case r.PrevFile == "":
				return fail(ProblemReordered, r.Seq, "the first record of this file does not name the file before it (%s)", want)
			case r.PrevFile != want && !slices.Contains(v.files, r.PrevFile) && fileNumber(r.PrevFile) > fileNumber(want):
				return &VerifyError{File: r.PrevFile, Seq: r.Seq, Problem: ProblemMissingFile,
					Detail: fmt.Sprintf("%s:%d says it comes after %s, which is not there: records %d to %d are missing",
						name, lineNo, r.PrevFile, v.next, r.Seq-1)}
			case r.PrevFile != want:
				return fail(ProblemReordered, r.Seq, "this file says it comes after %s, but it comes after %s", r.PrevFile, want)
			}
		} else if r.PrevFile != "" {
			return fail(ProblemReordered, r.Seq, "a record in the middle of a file says it starts one (after %s)", r.PrevFile)
		}
		if r.Seq != v.next {
			switch {
			case r.Seq < v.next:
				return fail(ProblemReordered, r.Seq, "seq %d after seq %d", r.Seq, v.next-1)
			case v.seqLater(fileIdx, lineNo, v.next):
				return fail(ProblemReordered, r.Seq, "seq %d where seq %d should be; it comes later", r.Seq, v.next)
			case r.Seq == v.next+1:
				return fail(ProblemSeqGap, r.Seq, "record %d is missing (deleted)", v.next)
			default:
				return fail(ProblemSeqGap, r.Seq, "records %d to %d are missing (deleted)", v.next, r.Seq-1)
			}
		}
		if r.Prev != v.prevHash {
			return &VerifyError{File: v.prevFile, Line: v.prevLine, Seq: r.Seq - 1, Problem: ProblemEdited,
				Detail: fmt.Sprintf("its hash does not match the prev of seq %d (%s:%d)", r.Seq, name, lineNo)}
		}
	}
	if v.anchor != nil && r.Seq == v.anchor.Seq && Hash(ln) != v.anchor.Hash {
		return fail(ProblemEdited, r.Seq, "its hash does not match the head file written when it was synced")
	}
	v.rep.Records++
	v.next = r.Seq + 1
	v.prevHash = Hash(ln)
	v.prevFile, v.prevLine = name, lineNo
	v.rep.Head = Head{File: name, Seq: r.Seq, Hash: v.prevHash}
	return nil
}

// seqLater reports whether a record with the given seq appears after
// lineNo of file fileIdx: the difference between records moved and
// records deleted. Only an anomaly pays for this scan.
func (v *verifier) seqLater(fileIdx, lineNo int, seq uint64) bool {
	for i := fileIdx; i < len(v.files); i++ {
		data, err := readFile(filepath.Join(v.dir, v.files[i]))
		if err != nil {
			return false
		}
		for j, ln := range bytes.Split(data, []byte("\n")) {
			if i == fileIdx && j < lineNo {
				continue
			}
			if r, err := ParseRecord(ln); err == nil && r.Seq == seq && r.Log == v.logID {
				return true
			}
		}
	}
	return false
}
