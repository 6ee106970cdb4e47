// Package ui is the terminal screen of "vigil watch": the requests waiting
// for a decision, with their facts, and the live grants, answered and
// revoked with single keys. It is the only package that imports the Charm
// libraries, so nothing else pulls them in.
package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/vigil-agent/vigil/internal/policy"
	"github.com/vigil-agent/vigil/internal/sanitize"
	"github.com/vigil-agent/vigil/internal/watch"
)

// ArmDelay is how long the approve keys stay inactive after a request
// comes to the top of the screen: a key pressed by reflex, meant for
// something else, must not approve what just appeared.
const ArmDelay = time.Second

// tick is how often the screen redraws on its own: the arming countdown
// and the grants' time left.
const tick = 200 * time.Millisecond

// Grant durations offered after "g", by key.
var grantChoices = []struct {
	key, label, wire string
}{
	{"1", "5 min", "5m0s"},
	{"2", "1 hour", "1h0m0s"},
	{"3", "until lock", watch.ForLock},
}

// Run shows the screen on the terminal (in, out) for the agent at the other
// end of conn, until the person quits or the agent goes away. agent names
// the agent's socket for the title line.
func Run(ctx context.Context, conn net.Conn, agent string, in io.Reader, out io.Writer) error {
	m := newModel(agent, time.Now)
	m.send = sender(conn)
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out))
	go func() {
		r := watch.NewReader(conn)
		for {
			msg, err := r.Read()
			if err != nil {
				p.Send(goneMsg{err})
				return
			}
			p.Send(msg)
		}
	}()
	final, err := p.Run()
	conn.Close()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		return err
	}
	if fm, ok := final.(*model); ok && fm.gone != nil {
		return fmt.Errorf("the agent closed the connection: %w", fm.gone)
	}
	return nil
}

// sender writes messages to the agent, one at a time.
func sender(conn net.Conn) func(watch.Message) tea.Cmd {
	var mu sync.Mutex
	return func(m watch.Message) tea.Cmd {
		return func() tea.Msg {
			mu.Lock()
			defer mu.Unlock()
			if err := watch.Write(conn, m); err != nil {
				return goneMsg{err}
			}
			return nil
		}
	}
}

type goneMsg struct{ err error }

type tickMsg time.Time

type prompt struct {
	id    uint64
	lines []string // sanitised
	grant bool
}

type model struct {
	agent   string
	send    func(watch.Message) tea.Cmd
	clock   func() time.Time
	now     time.Time // read from clock at each message
	prompts []prompt  // oldest first; the first is the one the keys answer
	armAt   time.Time // when the first prompt's approve keys become active
	choose  bool      // "g" pressed: choosing a duration
	grants  []policy.Grant
	sel     int // selected grant
	revoked int // the grant last asked to be revoked, until the table shows it gone
	status  string
	gone    error // the connection ended
	width   int
}

func newModel(agent string, clock func() time.Time) *model {
	return &model{agent: agent, clock: clock, now: clock(), send: func(watch.Message) tea.Cmd { return nil }}
}

func (m *model) Init() tea.Cmd { return tickCmd() }

func tickCmd() tea.Cmd {
	return tea.Tick(tick, func(t time.Time) tea.Msg { return tickMsg(t) })
}

func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m.now = m.clock()
	switch msg := msg.(type) {
	case tickMsg:
		return m, tickCmd()
	case tea.WindowSizeMsg:
		m.width = msg.Width
	case goneMsg:
		m.gone = msg.err
		return m, tea.Quit
	case watch.Message:
		m.receive(msg)
	case tea.KeyPressMsg:
		return m, m.key(msg.String())
	}
	return m, nil
}

// receive applies one message from the agent.
func (m *model) receive(msg watch.Message) {
	switch msg.Type {
	case watch.TypePrompt:
		lines := strings.Split(strings.TrimRight(msg.Text, "\n"), "\n")
		for i, l := range lines {
			// The agent escaped what callers control; escaping its
			// backslashes again would show \\x1b for \x1b.
			lines[i] = sanitize.Composed(l, 240)
		}
		m.prompts = append(m.prompts, prompt{id: msg.ID, lines: lines, grant: msg.Grant})
		if len(m.prompts) == 1 {
			m.armAt = m.now.Add(ArmDelay)
		}
	case watch.TypeWithdraw:
		for i, p := range m.prompts {
			if p.id == msg.ID {
				m.status = fmt.Sprintf("request %d was withdrawn: answered elsewhere, timed out, or its program hung up", p.id)
				m.remove(i)
				break
			}
		}
	case watch.TypeGrants:
		// The selection stays on the same grant, wherever the new table
		// puts it: r must revoke the grant the person chose.
		selID := 0
		if m.sel < len(m.grants) {
			selID = m.grants[m.sel].ID
		}
		m.grants = msg.Grants
		if i := slices.IndexFunc(m.grants, func(g policy.Grant) bool { return g.ID == selID }); i >= 0 {
			m.sel = i
		} else {
			m.sel = min(m.sel, max(len(m.grants)-1, 0))
		}
		if m.revoked != 0 && !slices.ContainsFunc(m.grants, func(g policy.Grant) bool { return g.ID == m.revoked }) {
			m.status = fmt.Sprintf("grant %d revoked", m.revoked)
			m.revoked = 0
		}
	case watch.TypeError:
		m.status = "agent: " + sanitize.Line(msg.Text, 200)
	}
}

// remove drops prompt i; a new first prompt starts its arming delay.
func (m *model) remove(i int) {
	m.prompts = append(m.prompts[:i:i], m.prompts[i+1:]...)
	if i == 0 {
		m.choose = false
		m.armAt = m.now.Add(ArmDelay)
	}
}

func (m *model) armed() bool { return !m.now.Before(m.armAt) }

func (m *model) key(k string) tea.Cmd {
	switch k {
	case "q", "ctrl+c":
		return tea.Quit
	case "up", "k":
		m.sel = max(m.sel-1, 0)
		return nil
	case "down", "j":
		m.sel = min(m.sel+1, max(len(m.grants)-1, 0))
		return nil
	case "r":
		if len(m.grants) == 0 {
			m.status = "no grant to revoke"
			return nil
		}
		g := m.grants[m.sel]
		m.status, m.revoked = fmt.Sprintf("revoking grant %d", g.ID), g.ID
		return m.send(watch.Message{Type: watch.TypeRevoke, GrantID: g.ID})
	}
	if len(m.prompts) == 0 {
		return nil
	}
	p := m.prompts[0]
	if m.choose {
		if k == "esc" {
			m.choose = false
			return nil
		}
		for _, c := range grantChoices {
			if k == c.key {
				return m.answer(watch.Message{Type: watch.TypeAnswer, ID: p.id, Answer: watch.AnswerGrant, For: c.wire},
					fmt.Sprintf("request %d: granted for %s", p.id, c.label))
			}
		}
		return nil
	}
	switch k {
	case "d":
		// Denying is always safe: no delay.
		return m.answer(watch.Message{Type: watch.TypeAnswer, ID: p.id, Answer: watch.AnswerDeny},
			fmt.Sprintf("request %d: denied", p.id))
	case "a", "g":
		if !m.armed() {
			m.status = "wait: the allow keys are inactive for a second after a request appears"
			return nil
		}
		if k == "a" {
			return m.answer(watch.Message{Type: watch.TypeAnswer, ID: p.id, Answer: watch.AnswerOnce},
				fmt.Sprintf("request %d: allowed once", p.id))
		}
		if !p.grant {
			m.status = "this request can only be allowed once: its program, purpose or host cannot be pinned for a grant"
			return nil
		}
		m.choose = true
	}
	return nil
}

func (m *model) answer(msg watch.Message, status string) tea.Cmd {
	m.status = status
	m.remove(0)
	return m.send(msg)
}

func (m *model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "vigil watch"
	return v
}

func (m *model) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vigil watch: %s\n\n", sanitize.Line(m.agent, 200))
	if len(m.prompts) == 0 {
		b.WriteString("No request is waiting for a decision.\n")
	} else {
		p := m.prompts[0]
		fmt.Fprintf(&b, "REQUEST %d", p.id)
		if n := len(m.prompts) - 1; n > 0 {
			fmt.Fprintf(&b, "   (%d more waiting)", n)
		}
		b.WriteString("\n")
		for _, l := range p.lines {
			b.WriteString(l + "\n")
		}
		b.WriteString("\n")
		switch {
		case m.choose:
			b.WriteString("Grant for:")
			for _, c := range grantChoices {
				fmt.Fprintf(&b, "  [%s] %s", c.key, c.label)
			}
			b.WriteString("  [esc] back\n")
			b.WriteString("(the same program, key, purpose, host and path; anything else still asks)\n")
		case !m.armed():
			left := m.armAt.Sub(m.now).Round(100 * time.Millisecond)
			fmt.Fprintf(&b, "Allow keys inactive for %v (against a reflex press)   [d] deny\n", left)
		case p.grant:
			b.WriteString("[a] allow once   [g] grant for a while   [d] deny\n")
		default:
			b.WriteString("[a] allow once   [d] deny   (no grant: this request cannot be pinned)\n")
		}
	}
	b.WriteString("\nGRANTS\n")
	if len(m.grants) == 0 {
		b.WriteString("  none\n")
	}
	for i, g := range m.grants {
		cursor := " "
		if i == m.sel {
			cursor = ">"
		}
		b.WriteString(cursor + " " + grantLine(g, m.now) + "\n")
	}
	if len(m.grants) > 0 {
		b.WriteString("  [up/down] select   [r] revoke the selected grant\n")
	}
	if m.status != "" {
		b.WriteString("\n" + m.status + "\n")
	}
	b.WriteString("\n[q] quit\n")
	return b.String()
}

// grantLine describes one grant: its number, what it covers and how long.
func grantLine(g policy.Grant, now time.Time) string {
	what := sanitize.Line(g.Purpose, 64)
	if g.Host != "" {
		what += " " + sanitize.Line(g.Host, 128)
	}
	where := "local"
	if g.Forwarded {
		where = "forwarded"
	}
	until := "until lock"
	if !policy.AtLock(g.Expires, now) {
		until = fmt.Sprintf("%v left", max(g.Expires.Sub(now), 0).Round(time.Second))
	}
	uses := fmt.Sprintf("used %d", g.Used)
	if left, limited := g.UsesLeft(); limited {
		uses += fmt.Sprintf(", %d left", left)
	}
	prog := sanitize.Line(g.Exe, 128)
	if g.RunBy != "" {
		prog += " (run by " + sanitize.Line(g.RunBy, 128) + ")"
	}
	return fmt.Sprintf("%d  %s  %s  %s  %s  %s  %s", g.ID, prog, g.Key, what, where, until, uses)
}
