package watch

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/policy"
)

func TestParse(t *testing.T) {
	tests := []struct {
		line string
		want Message
		err  string
	}{
		{line: `{"type":"prompt","id":1,"text":"Allow?","grant":true}`, want: Message{Type: TypePrompt, ID: 1, Text: "Allow?", Grant: true}},
		{line: `{"type":"withdraw","id":1}`, want: Message{Type: TypeWithdraw, ID: 1}},
		{line: `{"type":"grants"}`, want: Message{Type: TypeGrants}},
		{line: `{"type":"answer","id":2,"answer":"once"}`, want: Message{Type: TypeAnswer, ID: 2, Answer: AnswerOnce}},
		{line: `{"type":"answer","id":2,"answer":"grant","for":"5m"}`, want: Message{Type: TypeAnswer, ID: 2, Answer: AnswerGrant, For: "5m"}},
		{line: `{"type":"answer","id":2,"answer":"grant","for":"lock"}`, want: Message{Type: TypeAnswer, ID: 2, Answer: AnswerGrant, For: ForLock}},
		{line: `{"type":"revoke","grant_id":3}`, want: Message{Type: TypeRevoke, GrantID: 3}},
		{line: `{"type":"error","text":"no grant 3"}`, want: Message{Type: TypeError, Text: "no grant 3"}},
		{line: `{"type":"answer","id":2,"answer":"grant"}`, err: "grant duration"},
		{line: `{"type":"answer","id":2,"answer":"grant","for":"-5m"}`, err: "grant duration"},
		{line: `{"type":"answer","id":2,"answer":"grant","for":"1000000h"}`, err: "grant duration"},
		{line: `{"type":"answer","id":2,"answer":"once","for":"5m"}`, err: "takes no duration"},
		{line: `{"type":"answer","id":2,"answer":"yes"}`, err: "want once, grant or deny"},
		{line: `{"type":"answer","answer":"once"}`, err: "without id"},
		{line: `{"type":"revoke"}`, err: "without a grant id"},
		{line: `{"type":"revoke","grant_id":-1}`, err: "without a grant id"},
		{line: `{"type":"prompt","id":1}`, err: "without id or text"},
		{line: `{"type":"grants","grants":[{"ID":1,"Exe":"ssh"}]}`, err: "without id or program"},
		{line: `{"type":"sign"}`, err: "unknown message type"},
		{line: `{"type":"answer","id":2,"answer":"once","extra":1}`, err: "unknown field"},
		{line: `{"type":"withdraw","id":1} {"type":"withdraw","id":2}`, err: "more than one value"},
		{line: `not json`, err: "malformed"},
		{line: ``, err: "malformed"},
	}
	for _, tt := range tests {
		got, err := Parse([]byte(tt.line))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%s) = %+v, %v; want error %q", tt.line, got, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%s): %v", tt.line, err)
			continue
		}
		if got.Type != tt.want.Type || got.ID != tt.want.ID || got.Text != tt.want.Text || got.Grant != tt.want.Grant ||
			got.Answer != tt.want.Answer || got.For != tt.want.For || got.GrantID != tt.want.GrantID {
			t.Errorf("Parse(%s) = %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

func TestGrantFor(t *testing.T) {
	for _, tt := range []struct {
		for_ string
		want time.Duration
	}{{"5m0s", 5 * time.Minute}, {"1h", time.Hour}, {ForLock, policy.UntilLock}} {
		got, err := Message{For: tt.for_}.GrantFor()
		if err != nil || got != tt.want {
			t.Errorf("GrantFor(%q) = %v, %v; want %v", tt.for_, got, err, tt.want)
		}
	}
}

// TestRoundTrip: what Write sends, Read returns, including a grant table.
func TestRoundTrip(t *testing.T) {
	exp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	msgs := []Message{
		{Type: TypePrompt, ID: 7, Text: "Allow ssh to log in?\n  program: /usr/bin/ssh\n", Grant: true},
		{Type: TypeGrants, Grants: []policy.Grant{{ID: 3, Scope: policy.Scope{Key: "SHA256:x", Exe: "/usr/bin/git", Purpose: "git"}, Expires: exp}}},
		{Type: TypeGrants},
		{Type: TypeAnswer, ID: 7, Answer: AnswerGrant, For: ForLock},
	}
	var buf bytes.Buffer
	for _, m := range msgs {
		if err := Write(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(&buf)
	for _, want := range msgs {
		got, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != want.Type || got.Text != want.Text || len(got.Grants) != len(want.Grants) {
			t.Errorf("read %+v, want %+v", got, want)
		}
		if len(want.Grants) > 0 && (got.Grants[0].Exe != "/usr/bin/git" || !got.Grants[0].Expires.Equal(exp)) {
			t.Errorf("grant read back as %+v", got.Grants[0])
		}
	}
	if _, err := r.Read(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last message: %v, want EOF", err)
	}
}

func TestReadLimits(t *testing.T) {
	long := `{"type":"error","text":"` + strings.Repeat("x", MaxLine) + `"}` + "\n"
	if _, err := NewReader(strings.NewReader(long)).Read(); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("a line over MaxLine: %v, want too long", err)
	}
	if _, err := NewReader(strings.NewReader(`{"type":"withdraw","id":1}`)).Read(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a line without its newline: %v, want unexpected EOF", err)
	}
	if err := Write(io.Discard, Message{Type: TypeAnswer, ID: 1, Answer: "maybe"}); err == nil {
		t.Error("Write sent a malformed message")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"type":"prompt","id":1,"text":"Allow?","grant":true}`,
		`{"type":"answer","id":2,"answer":"grant","for":"5m"}`,
		`{"type":"answer","id":2,"answer":"grant","for":"lock"}`,
		`{"type":"grants","grants":[{"ID":1,"Exe":"/usr/bin/ssh","Expires":"2026-01-02T03:04:05Z"}]}`,
		`{"type":"revoke","grant_id":3}`,
		`{"type":"withdraw","id":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := Parse(line)
		if err != nil {
			return
		}
		// Whatever parses is well formed, and survives a round trip.
		var buf bytes.Buffer
		if err := Write(&buf, m); err != nil {
			t.Fatalf("parsed %q, but Write refuses it: %v", line, err)
		}
		back, err := NewReader(&buf).Read()
		if err != nil {
			t.Fatalf("parsed %q, wrote %q, which does not read back: %v", line, buf.String(), err)
		}
		if back.Type != m.Type || back.ID != m.ID || back.Answer != m.Answer || back.For != m.For || back.GrantID != m.GrantID || back.Text != m.Text {
			t.Fatalf("round trip changed %+v into %+v", m, back)
		}
		if m.Type == TypeAnswer && m.Answer == AnswerGrant {
			if d, err := m.GrantFor(); err != nil || d <= 0 {
				t.Fatalf("accepted grant duration %q: %v, %v", m.For, d, err)
			}
		}
	})
}
