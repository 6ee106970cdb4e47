// Package watch is vigil's control socket: the agent hands each prompt to
// the "vigil watch" terminals connected to it, shows them the live grants,
// and takes their answers and revocations.
//
// The protocol is one JSON object per line, in both directions:
//
//	agent to watcher:
//	  {"type":"prompt","id":7,"text":"Allow ssh-keygen to sign a file?\n  program: ...","grant":true}
//	  {"type":"withdraw","id":7}          answered elsewhere, timed out, or the client hung up
//	  {"type":"grants","grants":[...]}    the whole table of live grants, after each change
//	  {"type":"error","text":"no grant 3"}
//	watcher to agent:
//	  {"type":"answer","id":7,"answer":"once"}
//	  {"type":"answer","id":7,"answer":"grant","for":"5m0s"}   or "for":"lock"
//	  {"type":"answer","id":7,"answer":"deny"}
//	  {"type":"revoke","grant_id":3}
//
// Lines are at most MaxLine bytes; unknown fields and types are errors.
package watch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"time"

	"github.com/vigil-agent/vigil/internal/policy"
)

// MaxLine bounds one message. A prompt is a few hundred bytes; a table of
// many grants is the longest message.
const MaxLine = 1 << 20

// Message types.
const (
	TypePrompt   = "prompt"
	TypeWithdraw = "withdraw"
	TypeGrants   = "grants"
	TypeError    = "error"
	TypeAnswer   = "answer"
	TypeRevoke   = "revoke"
)

// Answers to a prompt.
const (
	AnswerOnce  = "once"
	AnswerGrant = "grant"
	AnswerDeny  = "deny"
)

// ForLock is the grant duration "until lock": the grant ends when the
// unlock window does, or at vigil lock.
const ForLock = "lock"

// Message is one line of the protocol. Which fields are set depends on Type.
type Message struct {
	Type    string         `json:"type"`
	ID      uint64         `json:"id,omitempty"`       // prompt, withdraw, answer
	Text    string         `json:"text,omitempty"`     // prompt, error
	Grant   bool           `json:"grant,omitempty"`    // prompt: a grant may be offered
	Answer  string         `json:"answer,omitempty"`   // answer
	For     string         `json:"for,omitempty"`      // answer "grant": a Go duration, or ForLock
	Grants  []policy.Grant `json:"grants,omitempty"`   // grants
	GrantID int            `json:"grant_id,omitempty"` // revoke
}

// GrantFor is how long an answer "grant" grants: policy.UntilLock for ForLock.
func (m Message) GrantFor() (time.Duration, error) {
	if m.For == ForLock {
		return policy.UntilLock, nil
	}
	d, err := time.ParseDuration(m.For)
	if err != nil || d <= 0 || d > policy.UntilLock {
		return 0, fmt.Errorf("watch: grant duration %q: want a positive duration or %q", m.For, ForLock)
	}
	return d, nil
}

// Parse reads one message (without its newline) and checks that it is
// well formed for its type.
func Parse(line []byte) (Message, error) {
	var m Message
	if len(line) > MaxLine {
		return m, errors.New("watch: message too long")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Message{}, fmt.Errorf("watch: malformed message: %w", err)
	}
	if dec.More() {
		return Message{}, errors.New("watch: malformed message: more than one value on a line")
	}
	if err := m.check(); err != nil {
		return Message{}, err
	}
	return m, nil
}

func (m Message) check() error {
	switch m.Type {
	case TypePrompt:
		if m.ID == 0 || m.Text == "" {
			return errors.New("watch: prompt without id or text")
		}
	case TypeWithdraw:
		if m.ID == 0 {
			return errors.New("watch: withdraw without id")
		}
	case TypeGrants:
		for _, g := range m.Grants {
			if g.ID <= 0 || !filepath.IsAbs(g.Exe) {
				return fmt.Errorf("watch: grant %d without id or program", g.ID)
			}
		}
	case TypeError:
		if m.Text == "" {
			return errors.New("watch: error without text")
		}
	case TypeAnswer:
		if m.ID == 0 {
			return errors.New("watch: answer without id")
		}
		switch m.Answer {
		case AnswerOnce, AnswerDeny:
			if m.For != "" {
				return fmt.Errorf("watch: answer %q takes no duration", m.Answer)
			}
		case AnswerGrant:
			if _, err := m.GrantFor(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("watch: answer %q: want once, grant or deny", m.Answer)
		}
	case TypeRevoke:
		if m.GrantID <= 0 || m.GrantID > math.MaxInt32 {
			return errors.New("watch: revoke without a grant id")
		}
	default:
		return fmt.Errorf("watch: unknown message type %q", m.Type)
	}
	return nil
}

// Reader reads messages, one per line.
type Reader struct{ br *bufio.Reader }

// NewReader reads messages from r.
func NewReader(r io.Reader) *Reader { return &Reader{bufio.NewReaderSize(r, 4096)} }

// Read returns the next message. A line longer than MaxLine is an error,
// and nothing more should be read from the connection.
func (r *Reader) Read() (Message, error) {
	var line []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(line)+len(chunk) > MaxLine+1 {
			return Message{}, errors.New("watch: message too long")
		}
		line = append(line, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return Message{}, io.ErrUnexpectedEOF
		}
		return Message{}, err
	}
	return Parse(bytes.TrimSuffix(line, []byte("\n")))
}

// Write writes one message and its newline.
func Write(w io.Writer, m Message) error {
	if err := m.check(); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
