package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-agent/vigil/internal/sanitize"
)

// Table writes records for a person, one aligned line each, under a header:
// TIME, PROGRAM, PURPOSE, HOST, KEY, DECISION. Everything a caller could
// influence is sanitised. It writes line by line, so it suits Follow.
type Table struct {
	w       io.Writer
	loc     *time.Location
	started bool
}

// NewTable returns a Table writing to w, with times shown in loc (UTC if
// nil).
func NewTable(w io.Writer, loc *time.Location) *Table {
	if loc == nil {
		loc = time.UTC
	}
	return &Table{w: w, loc: loc}
}

var columns = []struct {
	name  string
	width int // 0: the rest of the line
}{{"TIME", 19}, {"PROGRAM", 16}, {"PURPOSE", 18}, {"HOST", 28}, {"KEY", 22}, {"DECISION", 0}}

// Header writes the header, unless it was written already. Without it, a
// table with no record (no match, an empty log) prints nothing at all,
// which reads as a command that failed silently.
func (t *Table) Header() error {
	var b strings.Builder
	t.header(&b)
	_, err := io.WriteString(t.w, b.String())
	return err
}

func (t *Table) header(b *strings.Builder) {
	if t.started {
		return
	}
	t.started = true
	cells := make([]string, len(columns))
	for i, c := range columns {
		cells[i] = c.name
	}
	row(b, cells)
}

// Write writes one record, after the header if it is the first.
func (t *Table) Write(r *Record) error {
	var b strings.Builder
	t.header(&b)
	row(&b, []string{
		r.Time.In(t.loc).Format(time.DateTime),
		r.program(),
		r.purpose(),
		r.host(),
		r.Key,
		r.outcome(),
	})
	_, err := io.WriteString(t.w, b.String())
	return err
}

func row(b *strings.Builder, cells []string) {
	for i, c := range columns {
		s := cells[i]
		if s == "" {
			s = "-"
		}
		if c.width == 0 {
			b.WriteString(sanitize.Line(s, 300))
			break
		}
		if t := sanitize.Line(s, 0); utf8.RuneCountInString(t) <= c.width {
			s = t
		} else {
			s = sanitize.Line(s, c.width-1) // and "…"
		}
		b.WriteString(s)
		b.WriteString(strings.Repeat(" ", c.width+1-utf8.RuneCountInString(s)))
	}
	b.WriteByte('\n')
}

func (e *Event) purpose() string {
	var p string
	switch e.Kind {
	case KindSign:
		p = e.Intent.Purpose
		if p == "" {
			p = "sign"
		}
	case KindCredential:
		p = "credential"
		if e.Intent.Purpose != "" {
			p = e.Intent.Purpose + " credential"
		}
	default:
		p = strings.ReplaceAll(string(e.Kind), "_", " ")
	}
	if e.Origin == Forwarded {
		p += " (fwd)"
	}
	return p
}

func (e *Event) host() string {
	switch {
	case e.Intent.Host != "" && e.Intent.User != "":
		return e.Intent.User + "@" + e.Intent.Host
	case e.Intent.Host != "":
		return e.Intent.Host
	}
	return e.Intent.Resource
}

func (e *Event) outcome() string {
	if e.Decision == "" {
		return e.Detail
	}
	var by []string
	if e.By.Rule != "" {
		by = append(by, "rule "+e.By.Rule)
	}
	if e.By.Grant != "" {
		by = append(by, "grant "+e.By.Grant)
	}
	if e.By.Approver != "" {
		by = append(by, e.By.Approver)
	}
	if len(by) == 0 {
		return string(e.Decision)
	}
	return fmt.Sprintf("%s (%s)", e.Decision, strings.Join(by, ", "))
}

// WriteJSON writes e as one line of JSON: the record exactly as stored, so
// that the output can be checked against the log. With forPerson (a
// terminal), what a terminal would act on but JSON lets through as it is
// (DEL, C1 controls, bidirectional overrides) is written as \u escapes
// instead: the same JSON value, not the same bytes.
func WriteJSON(w io.Writer, e Entry, forPerson bool) error {
	b := e.Raw
	if b == nil {
		var err error
		if b, err = json.Marshal(e.Record); err != nil {
			return err
		}
	}
	if forPerson {
		b = sanitize.JSON(b)
	}
	_, err := w.Write(append(b[:len(b):len(b)], '\n'))
	return err
}
