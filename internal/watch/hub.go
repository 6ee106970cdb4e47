package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/policy"
)

// GrantTable is the agent's table of live grants, as a watcher sees it;
// *agent.Agent implements it.
type GrantTable interface {
	Grants() []policy.Grant
	RevokeGrant(id int, by string) bool
}

// Errors a prompt can end with when nobody answered it.
var (
	ErrNoWatcher   = errors.New("watch: no vigil watch is connected")
	ErrWatcherGone = errors.New("watch: every vigil watch disconnected before answering")
)

// outQueue is how many messages may wait for a slow watcher before it is
// dropped: a watcher that does not read must not hold up the agent.
const outQueue = 64

// Hub hands each prompt to every connected watcher and takes the first
// answer. It implements the agent's GrantingApprover, and serves the
// control socket as a daemon.Handler. Set Grants before serving.
type Hub struct {
	Grants GrantTable
	Log    *slog.Logger
	// NotAsked, when set, says why this hub gets no prompts (vigil's
	// approver list leaves "tui" out): each watcher is told on connecting,
	// rather than waiting for prompts that never come.
	NotAsked string

	mu       sync.Mutex
	watchers map[*watcher]struct{}
	prompts  map[uint64]*pending
	lastID   uint64
}

type watcher struct {
	out  chan Message
	drop func() // closes the connection; idempotent
}

type pending struct {
	msg  Message // the prompt as sent
	done chan result
}

type result struct {
	allow    bool
	grantFor time.Duration
	err      error
}

func (h *Hub) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// String names the approver for the audit log.
func (h *Hub) String() string { return "vigil watch" }

// Unreachable says why no prompt can be shown now, or "".
func (h *Hub) Unreachable() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.watchers) == 0 {
		return "no vigil watch is connected"
	}
	return ""
}

// Confirm asks for a yes or no, without offering a grant.
func (h *Hub) Confirm(ctx context.Context, text string) (bool, error) {
	ok, _, err := h.ConfirmGrant(ctx, text, false)
	return ok, err
}

// ConfirmGrant shows text on every connected watcher and waits for the
// first answer. When ctx ends, the prompt is withdrawn from every screen.
// With no watcher connected, or when the last one disconnects before
// answering, it fails: nobody can be asked.
func (h *Hub) ConfirmGrant(ctx context.Context, text string, offerGrant bool) (bool, time.Duration, error) {
	h.mu.Lock()
	if len(h.watchers) == 0 {
		h.mu.Unlock()
		return false, 0, ErrNoWatcher
	}
	if h.prompts == nil {
		h.prompts = make(map[uint64]*pending)
	}
	h.lastID++
	p := &pending{msg: Message{Type: TypePrompt, ID: h.lastID, Text: text, Grant: offerGrant}, done: make(chan result, 1)}
	h.prompts[p.msg.ID] = p
	h.broadcastLocked(p.msg)
	h.mu.Unlock()

	var r result
	select {
	case r = <-p.done:
	case <-ctx.Done():
		r.err = ctx.Err()
	}
	h.mu.Lock()
	delete(h.prompts, p.msg.ID)
	h.broadcastLocked(Message{Type: TypeWithdraw, ID: p.msg.ID})
	h.mu.Unlock()
	return r.allow, r.grantFor, r.err
}

// GrantsChanged sends the grant table to every watcher; give it to the
// agent as its OnGrantsChanged hook.
func (h *Hub) GrantsChanged() {
	if h.Grants == nil {
		return
	}
	// Read outside h.mu: the table has its own lock.
	m := Message{Type: TypeGrants, Grants: h.Grants.Grants()}
	h.mu.Lock()
	h.broadcastLocked(m)
	h.mu.Unlock()
}

func (h *Hub) broadcastLocked(m Message) {
	for w := range h.watchers {
		h.sendLocked(w, m)
	}
}

// sendLocked queues m for w, or drops w if it is not keeping up.
func (h *Hub) sendLocked(w *watcher, m Message) {
	select {
	case w.out <- m:
	default:
		h.log().Warn("vigil watch is not reading its messages: disconnecting it")
		w.drop()
	}
}

// ServeConn serves one watcher until it disconnects or ctx ends. Only the
// agent's own user may watch: not even root, whose prompts these are not.
func (h *Hub) ServeConn(ctx context.Context, c net.Conn, who *caller.Info) {
	if who.UID != uint32(os.Geteuid()) {
		h.log().Warn("control connection refused: peer is another user", "uid", who.UID, "pid", who.PID)
		c.Close()
		return
	}
	var once sync.Once
	w := &watcher{out: make(chan Message, outQueue), drop: func() { once.Do(func() { c.Close() }) }}
	stop := context.AfterFunc(ctx, w.drop)
	defer stop()
	defer w.drop()
	h.log().Info("vigil watch connected", "pid", who.PID, "program", who.Program().String())

	var table []policy.Grant
	if h.Grants != nil {
		table = h.Grants.Grants()
	}
	h.mu.Lock()
	if h.watchers == nil {
		h.watchers = make(map[*watcher]struct{})
	}
	h.watchers[w] = struct{}{}
	h.sendLocked(w, Message{Type: TypeGrants, Grants: table})
	if h.NotAsked != "" {
		h.sendLocked(w, Message{Type: TypeError, Text: h.NotAsked})
	}
	for _, id := range slices.Sorted(maps.Keys(h.prompts)) {
		h.sendLocked(w, h.prompts[id].msg)
	}
	h.mu.Unlock()

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for m := range w.out {
			if err := Write(c, m); err != nil {
				w.drop()
				// Keep draining, so that senders never block.
			}
		}
	}()

	r := NewReader(c)
	for {
		m, err := r.Read()
		if err != nil {
			break
		}
		if reply := h.handle(m); reply != "" {
			h.mu.Lock()
			h.sendLocked(w, Message{Type: TypeError, Text: reply})
			h.mu.Unlock()
		}
	}

	h.mu.Lock()
	delete(h.watchers, w)
	close(w.out)
	if len(h.watchers) == 0 {
		// Nobody is left to answer: no prompt may wait for its timeout
		// on a screen that is not there.
		for id, p := range h.prompts {
			delete(h.prompts, id)
			p.done <- result{err: ErrWatcherGone}
		}
	}
	h.mu.Unlock()
	<-writerDone
	h.log().Info("vigil watch disconnected", "pid", who.PID)
}

// handle acts on one message from a watcher and returns an error to show
// it, or "".
func (h *Hub) handle(m Message) string {
	switch m.Type {
	case TypeAnswer:
		h.mu.Lock()
		defer h.mu.Unlock()
		p := h.prompts[m.ID]
		if p == nil {
			return fmt.Sprintf("request %d is no longer waiting", m.ID)
		}
		r := result{allow: m.Answer != AnswerDeny}
		if m.Answer == AnswerGrant {
			if !p.msg.Grant {
				return fmt.Sprintf("request %d cannot be granted: allow it once or deny it", m.ID)
			}
			r.grantFor, _ = m.GrantFor() // checked by Parse
		}
		// The first answer wins: the prompt leaves the table now.
		delete(h.prompts, m.ID)
		p.done <- r
	case TypeRevoke:
		if h.Grants == nil || !h.Grants.RevokeGrant(m.GrantID, "vigil watch") {
			return fmt.Sprintf("no grant %d", m.GrantID)
		}
	default:
		return fmt.Sprintf("vigil watch does not send %q", m.Type)
	}
	return ""
}
