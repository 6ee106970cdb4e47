package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestTable(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	recs := []Record{
		{Event: Event{Time: t0, Kind: KindSign, Decision: Allowed, Caller: Caller{Process: Process{Exe: "/usr/bin/ssh"}},
			Intent: Intent{Purpose: "login", User: "git", Host: "github.com"}, Key: "SHA256:abc", By: By{Rule: "3"}}},
		{Event: Event{Time: t0, Kind: KindSign, Decision: Denied, Caller: Caller{Process: Process{Exe: "/tmp/\x1b[31mevil"}},
			Intent: Intent{Purpose: "namespace:file", Host: "gro.buhtig\u202e"}, Origin: Forwarded,
			Key: "SHA256:" + strings.Repeat("x", 43), By: By{Approver: "askpass"}}},
		{Event: Event{Time: t0, Kind: KindCredential, Decision: Allowed, Intent: Intent{Purpose: "cargo", Resource: "crate foo 0.2.0"},
			By: By{Grant: "g1", Approver: "askpass"}}},
		{Event: Event{Time: t0, Kind: KindAuditGap, Detail: "2 events not recorded"}},
	}
	var b bytes.Buffer
	tab := NewTable(&b, time.FixedZone("X", 2*3600))
	for i := range recs {
		if err := tab.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	want := `TIME                PROGRAM          PURPOSE            HOST                         KEY                    DECISION
2026-05-01 14:00:00 ssh              login              git@github.com               SHA256:abc             allowed (rule 3)
2026-05-01 14:00:00 \x1b[31mevil     namespace:file (f… gro.buhtig\u202e             SHA256:xxxxxxxxxxxxxx… denied (askpass)
2026-05-01 14:00:00 -                cargo credential   crate foo 0.2.0              -                      allowed (grant g1, askpass)
2026-05-01 14:00:00 -                audit gap          -                            -                      2 events not recorded
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, dir, Options{})
	mustAppend(t, l, fullEvent(KindSign))
	e := entries(t, dir, Filter{})[0]
	var b bytes.Buffer
	if err := WriteJSON(&b, e, false); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(e.Raw)+"\n" || Hash(e.Raw) != l.Head().Hash {
		t.Errorf("WriteJSON wrote %q", got)
	}
	// Without the stored bytes, the record is marshalled: the same line.
	b.Reset()
	e2 := e
	e2.Raw = nil
	if err := WriteJSON(&b, e2, false); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(e.Raw)+"\n" {
		t.Errorf("WriteJSON without Raw wrote\n%s\nwant\n%s", got, e.Raw)
	}
}

// TestWriteJSONForPerson: the log holds what the caller sent; JSON for a
// terminal escapes what JSON itself lets through, and still decodes to it.
func TestWriteJSONForPerson(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, dir, Options{})
	ev := fullEvent(KindSign)
	ev.Intent.Namespace = "ns\u202eelif\u0085\x7f"
	mustAppend(t, l, ev)
	e := entries(t, dir, Filter{})[0]
	if !bytes.Contains(e.Raw, []byte(ev.Intent.Namespace)) {
		t.Fatalf("the log holds %s, not the namespace as sent", e.Raw)
	}
	var b bytes.Buffer
	if err := WriteJSON(&b, e, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"namespace":"ns\u202eelif\u0085\u007f"`) {
		t.Errorf("for a person, WriteJSON wrote %s", b.String())
	}
	var r Record
	if err := json.Unmarshal(b.Bytes(), &r); err != nil || r.Intent.Namespace != ev.Intent.Namespace {
		t.Errorf("it decodes to %q, %v", r.Intent.Namespace, err)
	}
}
