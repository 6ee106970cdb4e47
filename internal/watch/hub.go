package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"runtime"
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
	// Program is the executable a watcher must run: vigil's own, by path
	// and content hash. Another program of the same user (a script that
	// dials the socket and answers its own requests) is refused. Zero: no
	// check (tests).
	Program caller.Process
	// ArmDelay is how long after a prompt reaches a watcher an answer
	// that allows it is refused, against a reflex key press and a script
	// answering at once; a denial counts at any time. 0: DefaultArmDelay;
	// negative: none (tests).
	ArmDelay time.Duration
	// Now is the clock for ArmDelay. Default time.Now.
	Now func() time.Time
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
	name string // "vigil watch (pid N)", for the audit record
	// shown says when each prompt was sent to this watcher, for ArmDelay.
	// Guarded by Hub.mu.
	shown map[uint64]time.Time
}

// DefaultArmDelay is ArmDelay's default.
const DefaultArmDelay = time.Second

type pending struct {
	msg  Message // the prompt as sent
	done chan result
}

type result struct {
	allow    bool
	grantFor time.Duration
	by       string // the watcher that answered
	err      error
}

func (h *Hub) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

func (h *Hub) armDelay() time.Duration {
	if h.ArmDelay == 0 {
		return DefaultArmDelay
	}
	return max(h.ArmDelay, 0)
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
	ok, d, _, err := h.ConfirmGrantBy(ctx, text, offerGrant)
	return ok, d, err
}

// ConfirmGrantBy is ConfirmGrant that also names the watcher that answered.
func (h *Hub) ConfirmGrantBy(ctx context.Context, text string, offerGrant bool) (bool, time.Duration, string, error) {
	h.mu.Lock()
	if len(h.watchers) == 0 {
		h.mu.Unlock()
		return false, 0, "", ErrNoWatcher
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
	return r.allow, r.grantFor, r.by, r.err
}

// GrantsChanged sends the grant table to every watcher; give it to the
// agent as its OnGrantsChanged hook, which it calls without holding its
// own locks.
func (h *Hub) GrantsChanged() {
	if h.Grants == nil {
		return
	}
	// Read under h.mu, so that tables reach the watchers in the order they
	// were read and a watcher registering meanwhile misses none.
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.watchers) == 0 {
		return // nobody to show it to: spare the copy on each grant use
	}
	h.broadcastLocked(Message{Type: TypeGrants, Grants: h.Grants.Grants()})
}

func (h *Hub) broadcastLocked(m Message) {
	for w := range h.watchers {
		h.sendLocked(w, m)
	}
}

// sendLocked queues m for w, or drops w if it is not keeping up.
func (h *Hub) sendLocked(w *watcher, m Message) {
	switch m.Type {
	case TypePrompt:
		w.shown[m.ID] = h.now()
	case TypeWithdraw:
		delete(w.shown, m.ID)
	}
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
	if why := h.refuse(who); why != "" {
		h.log().Warn("control connection refused: "+why, "uid", who.UID, "pid", who.PID, "program", who.Program().String())
		c.Close()
		return
	}
	var once sync.Once
	w := &watcher{out: make(chan Message, outQueue), drop: func() { once.Do(func() { c.Close() }) },
		name: fmt.Sprintf("vigil watch (pid %d)", who.PID), shown: map[uint64]time.Time{}}
	stop := context.AfterFunc(ctx, w.drop)
	defer stop()
	defer w.drop()
	h.log().Info("vigil watch connected", "pid", who.PID, "program", who.Program().String())

	h.mu.Lock()
	if h.watchers == nil {
		h.watchers = make(map[*watcher]struct{})
	}
	// The others are told: a second watcher the person did not start is
	// one more way their prompts could be answered.
	for other := range h.watchers {
		h.sendLocked(other, Message{Type: TypeError, Text: fmt.Sprintf("another vigil watch connected: %s, %s", w.name, who.Program().String())})
	}
	h.watchers[w] = struct{}{}
	var table []policy.Grant
	if h.Grants != nil {
		table = h.Grants.Grants()
	}
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
		if reply := h.handle(w, m); reply != "" {
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

// refuse says why a peer may not watch, or "". Only the agent's own user
// may (not even root, whose prompts these are not; on Windows the pipe's
// access list says so), and only through vigil's own executable: any
// program of the user can dial the socket, and one that is not vigil watch
// could answer its own requests.
func (h *Hub) refuse(who *caller.Info) string {
	if runtime.GOOS != "windows" && who.UID != uint32(os.Geteuid()) {
		return "peer is another user"
	}
	if h.Program.Exe == "" {
		return ""
	}
	p := who.Program()
	switch {
	case p.Exe == "" || p.Hash == "":
		return "the program that connected cannot be identified"
	case p.Deleted || p.Replaced || who.OtherMountNS:
		return "the program that connected is not the file at its path"
	case p.Exe != h.Program.Exe || p.Hash != h.Program.Hash:
		return "only vigil watch, run from vigil's own executable (" + h.Program.Exe + "), may answer prompts"
	}
	return ""
}

// handle acts on one message from watcher w and returns an error to show
// it, or "".
func (h *Hub) handle(w *watcher, m Message) string {
	switch m.Type {
	case TypeAnswer:
		h.mu.Lock()
		defer h.mu.Unlock()
		p := h.prompts[m.ID]
		if p == nil {
			return fmt.Sprintf("request %d is no longer waiting", m.ID)
		}
		if shown, ok := w.shown[m.ID]; m.Answer != AnswerDeny && (!ok || h.now().Sub(shown) < h.armDelay()) {
			h.log().Warn("vigil watch answered a request within a second of seeing it: ignored", "id", m.ID, "watcher", w.name)
			return fmt.Sprintf("request %d: an answer within %v of the request appearing is not taken; answer again", m.ID, h.armDelay())
		}
		r := result{allow: m.Answer != AnswerDeny, by: w.name}
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
