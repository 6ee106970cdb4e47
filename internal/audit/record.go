package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Version is the record format written by this package.
const Version = 1

// MaxLine bounds the length of one stored record. Append's limits on every
// field keep real records far below it; readers reject longer lines.
const MaxLine = 256 << 10

// Record is one line of the log: the chain fields, then the event.
//
// Chain rules: Seq is 1 for the first record of a log and grows by one per
// record, across files. Prev is the hex SHA-256 of the previous record's
// line exactly as stored, without its newline; for Seq 1 it is
// Genesis(Log). PrevFile is set only on the first record of a file that
// continues the chain from another file, and names that file.
type Record struct {
	V        int    `json:"v"`
	Log      string `json:"log"`  // random id of the log: 32 hex digits
	Seq      uint64 `json:"seq"`  // from 1
	Prev     string `json:"prev"` // 64 hex digits
	PrevFile string `json:"prev_file,omitempty"`
	Event
}

// Hash is the chain hash of a stored line: the hex SHA-256 of its exact
// bytes, without the trailing newline.
func Hash(line []byte) string {
	h := sha256.Sum256(line)
	return hex.EncodeToString(h[:])
}

// Genesis is the Prev of a log's first record: the hex SHA-256 of the
// ASCII text "vigil audit genesis v1 " followed by the log id.
func Genesis(logID string) string {
	return Hash([]byte("vigil audit genesis v1 " + logID))
}

// line builds the stored line for an event already marshalled as JSON
// (an object that is never empty). The result is byte for byte what
// json.Marshal(Record) produces; building it by hand keeps the marshalling
// of the event outside the log's lock.
func line(logID string, seq uint64, prev, prevFile string, event []byte) []byte {
	b := make([]byte, 0, len(event)+200)
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, Version, 10)
	b = append(b, `,"log":"`...)
	b = append(b, logID...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"prev":"`...)
	b = append(b, prev...)
	b = append(b, '"')
	if prevFile != "" {
		b = append(b, `,"prev_file":"`...)
		b = append(b, prevFile...)
		b = append(b, '"')
	}
	b = append(b, ',')
	return append(b, event[1:]...)
}

// ParseRecord reads one stored line (without its newline). It is strict:
// one JSON object, no unknown fields, nothing after it, and every chain
// field and enumeration well formed. It does not check the chain.
func ParseRecord(b []byte) (Record, error) {
	var r Record
	if len(b) > MaxLine {
		return r, fmt.Errorf("record is %d bytes, more than %d", len(b), MaxLine)
	}
	if len(b) == 0 || b[0] != '{' {
		return r, errors.New("not a JSON object")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("bad record: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return Record{}, errors.New("bad record: data after the object")
	}
	if err := r.check(); err != nil {
		return Record{}, fmt.Errorf("bad record: %w", err)
	}
	if len(r.Caller.Chain) == 0 {
		r.Caller.Chain = nil // as Append stores it
	}
	return r, nil
}

func (r *Record) check() error {
	switch {
	case r.V != Version:
		return fmt.Errorf("version %d, want %d", r.V, Version)
	case !isHex(r.Log, 32):
		return errors.New("log id is not 32 hex digits")
	case r.Seq == 0:
		return errors.New("seq 0")
	case !isHex(r.Prev, 64):
		return errors.New("prev is not 64 hex digits")
	case r.PrevFile != "" && !validFileName(r.PrevFile):
		return fmt.Errorf("prev_file %q is not a log file name", clip(r.PrevFile, 64))
	case r.Time.IsZero():
		return errors.New("no time")
	case r.ID == "":
		return errors.New("no id")
	case !r.Kind.valid():
		return fmt.Errorf("unknown kind %q", clip(string(r.Kind), 64))
	case !r.Decision.valid():
		return fmt.Errorf("unknown decision %q", clip(string(r.Decision), 64))
	case !r.Origin.valid():
		return fmt.Errorf("unknown origin %q", clip(string(r.Origin), 64))
	}
	return nil
}

// isHex reports whether s is n lowercase hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Files are named audit-NNNNNN.jsonl, numbered from 1; the number has at
// least six digits and more when it needs them.
const (
	filePrefix = "audit-"
	fileSuffix = ".jsonl"
)

func fileName(n int) string { return fmt.Sprintf("%s%06d%s", filePrefix, n, fileSuffix) }

// fileNumber returns the number in a log file's name, or 0 if name is not
// one.
func fileNumber(name string) int {
	digits, ok := strings.CutPrefix(name, filePrefix)
	if !ok {
		return 0
	}
	if digits, ok = strings.CutSuffix(digits, fileSuffix); !ok || len(digits) < 6 || len(digits) > 12 {
		return 0
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || fileName(n) != name {
		return 0
	}
	return n
}

func validFileName(name string) bool { return fileNumber(name) != 0 }
