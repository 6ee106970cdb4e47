package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Entry is a record read back, with where it was found.
type Entry struct {
	Record
	File string // file name in the log's directory
	Line int    // from 1
	Raw  []byte // the line as stored, without its newline
}

// Filter selects records. Empty fields match everything.
type Filter struct {
	Since      time.Time // records at or after this time
	Key        string    // key fingerprint or its start, with or without "SHA256:" (see keyPrefix)
	Program    string    // substring of the caller's executable path
	DeniedOnly bool      // only requests that were not carried out (Decision.Refused)
}

// Match reports whether r passes the filter.
func (f Filter) Match(r *Record) bool {
	switch {
	case !f.Since.IsZero() && r.Time.Before(f.Since):
		return false
	case f.Key != "" && !strings.HasPrefix(r.Key, keyPrefix(f.Key)):
		return false
	case f.Program != "" && !strings.Contains(r.Caller.Exe, f.Program):
		return false
	case f.DeniedOnly && !r.Decision.Refused():
		return false
	}
	return true
}

// keyPrefix is the start of the fingerprints that key matches: key as
// typed, or copied from the table (which cuts a fingerprint short and ends
// it with "…"), with "SHA256:" put in front when it is missing.
func keyPrefix(key string) string {
	key = strings.TrimSuffix(key, "…")
	if !strings.HasPrefix(key, "SHA256:") {
		key = "SHA256:" + key
	}
	return key
}

// ErrTruncatedTail marks a file whose end is not a whole record: a crash
// during a write. Scan and Follow yield it (wrapped, with the file and
// line) and go on.
var ErrTruncatedTail = errors.New("truncated tail: the end of the file is not a whole record (a crash during a write)")

// Scan yields the records in dir that match f, oldest first. A line that
// cannot be read yields an error naming its file and line, and the scan
// goes on; the caller may stop at any point. Scan does not check the
// chain: that is Verify's job.
func Scan(dir string, f Filter) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		nums, err := listFiles(dir)
		if err != nil {
			yield(Entry{}, fmt.Errorf("audit: %w", err))
			return
		}
		for _, n := range nums {
			if !scanFile(dir, fileName(n), f, yield) {
				return
			}
		}
	}
}

// scanFile yields the matching records of one file; false means stop.
func scanFile(dir, name string, f Filter, yield func(Entry, error) bool) bool {
	fh, err := openRead(filepath.Join(dir, name))
	if err != nil {
		return yield(Entry{}, fmt.Errorf("audit: %w", err))
	}
	defer fh.Close()
	r := bufio.NewReader(fh)
	for lineNo := 1; ; lineNo++ {
		ln, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(ln) > 0 {
				return yield(Entry{}, fmt.Errorf("audit: %s:%d: %w", name, lineNo, ErrTruncatedTail))
			}
			return true
		}
		if err != nil {
			return yield(Entry{}, fmt.Errorf("audit: %s: %w", name, err))
		}
		if !yieldLine(name, lineNo, ln[:len(ln)-1], f, yield) {
			return false
		}
	}
}

func yieldLine(name string, lineNo int, ln []byte, f Filter, yield func(Entry, error) bool) bool {
	rec, err := ParseRecord(ln)
	if err != nil {
		return yield(Entry{}, fmt.Errorf("audit: %s:%d: %w", name, lineNo, err))
	}
	if !f.Match(&rec) {
		return true
	}
	return yield(Entry{Record: rec, File: name, Line: lineNo, Raw: ln}, nil)
}

// followPoll is how often Follow looks for new records.
var followPoll = 100 * time.Millisecond

// Follow yields the records in dir that match f, oldest first, like Scan,
// and then every new one as it is appended, across rotations, until ctx is
// done. It looks for new records every 100ms. Use Filter.Since to skip the
// past.
func Follow(ctx context.Context, dir string, f Filter) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		t := time.NewTicker(followPoll)
		defer t.Stop()
		fl := follower{dir: dir, f: f, yield: yield}
		defer fl.close()
		for {
			if !fl.step() {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}
}

type follower struct {
	dir     string
	f       Filter
	yield   func(Entry, error) bool
	num     int // current file number; 0 before the first
	fh      *os.File
	lineNo  int
	partial []byte
}

func (fl *follower) close() {
	if fl.fh != nil {
		fl.fh.Close()
	}
}

// step reads everything new, moving through newer files; false means stop.
func (fl *follower) step() bool {
	for {
		// List first: a newer file exists only once the writer is done
		// with the older ones, so reading the current file to its end
		// after listing gets all of it.
		nums, err := listFiles(fl.dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // not there yet: wait
			return fl.yield(Entry{}, fmt.Errorf("audit: %w", err))
		}
		next := 0
		for _, n := range nums {
			if n > fl.num {
				next = n
				break
			}
		}
		if fl.fh != nil && !fl.drain() {
			return false
		}
		if next == 0 {
			return true
		}
		if fl.fh != nil {
			fl.fh.Close()
			fl.fh = nil
			if len(fl.partial) > 0 {
				err := fmt.Errorf("audit: %s:%d: %w", fileName(fl.num), fl.lineNo+1, ErrTruncatedTail)
				if !fl.yield(Entry{}, err) {
					return false
				}
			}
		}
		fl.num, fl.lineNo, fl.partial = next, 0, nil
		fh, err := openRead(filepath.Join(fl.dir, fileName(next)))
		if err != nil {
			if !fl.yield(Entry{}, fmt.Errorf("audit: %w", err)) {
				return false
			}
			continue // skip the file
		}
		fl.fh = fh
	}
}

// drain yields the whole lines added to the current file since last time.
func (fl *follower) drain() bool {
	buf := make([]byte, 64<<10)
	for {
		n, err := fl.fh.Read(buf)
		fl.partial = append(fl.partial, buf[:n]...)
		for {
			i := bytes.IndexByte(fl.partial, '\n')
			if i < 0 {
				break
			}
			ln := bytes.Clone(fl.partial[:i])
			fl.partial = fl.partial[i+1:]
			fl.lineNo++
			if !yieldLine(fileName(fl.num), fl.lineNo, ln, fl.f, fl.yield) {
				return false
			}
		}
		if err == io.EOF || n == 0 {
			return true
		}
		if err != nil {
			return fl.yield(Entry{}, fmt.Errorf("audit: %s: %w", fileName(fl.num), err))
		}
	}
}
