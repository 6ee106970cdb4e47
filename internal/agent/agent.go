// Package agent serves the OpenSSH agent protocol on one connection at a
// time, and puts a decision in front of every signature.
//
// The framing and dispatch are vigil's own (rather than x/crypto's
// ServeAgent) so that every request carries a context: a sign request that
// waits for a person is cancelled when its client hangs up, and frames are
// capped at 256 KiB as OpenSSH's agent does. Key parsing for add requests is
// still x/crypto's; see add.go.
package agent

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/keystore"
	"github.com/vigil-agent/vigil/internal/knownhosts"
	"github.com/vigil-agent/vigil/internal/pins"
	"github.com/vigil-agent/vigil/internal/policy"
)

// Approver asks a person whether to allow one signature. It returns true
// only for an explicit yes. An error means nobody could be asked, and the
// request is refused. When ctx ends, the approver must stop asking at once
// and return ctx's error; its late answer would be ignored anyway.
type Approver interface {
	Confirm(ctx context.Context, prompt string) (bool, error)
}

// GrantingApprover can also answer "yes, and don't ask again for a while"
// (pinentry's "Allow for 5 min"). offerGrant is false when the request
// cannot be scoped exactly (unknown program, unrecognised data, a login to
// an unverified host): then only "once" may be offered.
type GrantingApprover interface {
	Approver
	ConfirmGrant(ctx context.Context, prompt string, offerGrant bool) (allow bool, grantFor time.Duration, err error)
}

// Notifier shows a short notice on the user's desktop. Notify must return
// at once: a notice is never worth delaying a signature for.
type Notifier interface {
	Notify(summary, body string)
}

// NamingApprover is an approver that also says which of its ways asked
// (approve.Chain: "vigil watch (pid 42)", "askpass /usr/bin/ssh-askpass"),
// for the audit record.
type NamingApprover interface {
	GrantingApprover
	ConfirmGrantBy(ctx context.Context, prompt string, offerGrant bool) (allow bool, grantFor time.Duration, by string, err error)
}

// Config is what an Agent needs. Keys is required.
type Config struct {
	// Keys hold the private keys in memory. New has the store tell the
	// agent of each key whose lifetime ends, for the audit log.
	Keys *keystore.Store
	// Approver asks before each signature. Nil means there is no way to ask,
	// and every signature is refused (fail closed).
	Approver Approver
	// PromptTimeout bounds how long a request waits for its turn to be shown,
	// and then how long its prompt stays open. Default 60s.
	PromptTimeout time.Duration
	// GrantUses caps how many signatures a grant a person makes covers;
	// 0: any number until it expires.
	GrantUses int
	// DefaultLifetime applies to keys added without a lifetime (ssh-agent -t).
	DefaultLifetime time.Duration
	// Rules decide before anyone is asked; see package policy. SetRules
	// replaces them while serving.
	Rules []policy.Rule
	// Offers say which keys are listed to which verified destinations;
	// OfferNone hides keys no offer names. See policy.Offered.
	Offers    []policy.Offer
	OfferNone bool
	// KnownHostsFiles name verified host keys for prompts and host rules:
	// the user's default known_hosts files (see knownhosts.DefaultFiles).
	KnownHostsFiles []string
	// Audit, if set, records every decision; see AuditLog.
	Audit AuditLog
	// Store is vigil's encrypted key store, whose keys are listed always and
	// loaded into Keys for an unlock window; nil: none.
	Store KeyStore
	// OnUnlock, if set, is called with the key store's passphrase after
	// the store unlocked (vigil unlock, or on demand), for whatever else
	// the window opens, such as registry tokens. It must not keep the
	// passphrase. OnLock is called when the window ends or vigil lock runs.
	OnUnlock func(passphrase []byte)
	OnLock   func()
	// OnGrantsChanged, if set, is called after a grant is made, used,
	// revoked or dropped, so that a watcher can show the table again. It
	// must not block.
	OnGrantsChanged func()
	// Window limits how long private keys stay in memory.
	Window WindowLimits
	// CooldownStrikes prompts in a row for one program that end in a
	// denial or a timeout make its requests refused without a prompt for
	// CooldownPeriod. Zero values: 3 and 5 minutes.
	CooldownStrikes int
	CooldownPeriod  time.Duration
	// Pins keeps the content hash each program named by an allow rule
	// had when the rule first matched it (see checkPin); nil: in memory,
	// for as long as the Agent lives.
	Pins *pins.Store
	// Notifier, if set, is told of each signature a person or a grant
	// allowed, each one refused, and each prompt put to a person.
	Notifier Notifier
	// Now is the clock for the unlock window (tests); nil: time.Now.
	Now func() time.Time
	// Extensions serve vigil's own messages (SSH_AGENTC_EXTENSION with
	// these names) from local callers; see Extension.
	Extensions map[string]Extension
	Log        *slog.Logger
}

// Agent holds what all connections share. Its methods are safe for
// concurrent use; each connection is served by its own ServeConn call.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	prompts  promptQueue
	shared   sharedPrompts
	rules    atomic.Pointer[policy.RuleSet]
	offers   atomic.Pointer[offerSet]
	hosts    knownhosts.Cache
	window   window
	store    storeCache
	grants   policy.Grants
	cooldown policy.Cooldown

	// Unlock attempts are serialised and rate limited across all
	// connections, so opening many connections does not speed up guessing.
	unlockMu    sync.Mutex
	unlockFails int
	unlockAfter time.Time
	unlockDelay func(fails int) time.Duration
}

// New returns an Agent.
func New(cfg Config) *Agent {
	if cfg.PromptTimeout <= 0 {
		cfg.PromptTimeout = 60 * time.Second
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Pins == nil {
		cfg.Pins = pins.Memory()
	}
	a := &Agent{cfg: cfg, log: log, unlockDelay: unlockDelay}
	a.cooldown.Strikes, a.cooldown.Period = cfg.CooldownStrikes, cfg.CooldownPeriod
	a.window = window{limits: cfg.Window, now: cfg.Now, end: a.endWindow}
	if cfg.Keys != nil {
		cfg.Keys.OnExpire(a.keyExpired)
	}
	a.SetRules(cfg.Rules)
	a.SetOffers(cfg.Offers, cfg.OfferNone)
	return a
}

type offerSet struct {
	offers []policy.Offer
	none   bool
}

// SetOffers replaces the offers (on SIGHUP, with the rules).
func (a *Agent) SetOffers(offers []policy.Offer, none bool) {
	a.offers.Store(&offerSet{offers: slices.Clone(offers), none: none})
}

// SetRules replaces the policy rules; requests already deciding keep the
// rules they started with.
func (a *Agent) SetRules(rules []policy.Rule) {
	a.rules.Store(policy.NewRuleSet(rules))
}

// unlockDelay is how long to refuse further unlock attempts after fails
// consecutive wrong passphrases: 200 ms, doubling, at most 10 s.
func unlockDelay(fails int) time.Duration {
	d := 200 * time.Millisecond << min(fails-1, 6)
	return min(d, 10*time.Second)
}

// conn is the state of one client connection.
type conn struct {
	who   *caller.Info
	binds []sessionBind
	// fwd latches once any session-bind says the connection is a forwarded
	// agent, and is never cleared: later binds are the remote host's hops.
	fwd bool
	// offered, on a bound connection, is what the last list showed the
	// server: fingerprints of the keys offered, and how many were hidden.
	offered []string
	hidden  int
}

// forwarded reports whether the connection carries a forwarded agent.
func (c *conn) forwarded() bool { return c.fwd }

// ServeConn serves requests on nc until the client hangs up or ctx ends.
// who describes the peer; ServeConn does not close it.
func (a *Agent) ServeConn(ctx context.Context, nc net.Conn, who *caller.Info) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer nc.Close()
	// Closing the connection is what unblocks the reader on shutdown.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()

	r := &frameReader{br: bufio.NewReaderSize(nc, 4096), hangUp: cancel, log: a.log, who: who}
	c := &conn{who: who}
	for {
		f, err := r.next()
		if err != nil {
			break
		}
		rc := &requestCtx{Context: ctx, r: r}
		reply := a.handle(rc, c, f)
		rc.finish()
		if err := writeFrame(nc, reply); err != nil {
			break
		}
	}
	cancel()
	r.wait()
}

// frameReader reads one connection's requests. It reads in line, in the
// goroutine that serves them, until a request has to wait (for a person,
// for the unlock delay); from then on a goroutine reads ahead, so that a
// client that hangs up while its request waits is noticed at once and the
// wait is cancelled. A request answered at once thus costs one goroutine
// switch fewer: on a virtual machine, where waking a thread is dear, that
// is a good part of a fast request's cost.
type frameReader struct {
	br     *bufio.Reader // buffered: a request costs one read system call, not two
	hangUp context.CancelFunc
	log    *slog.Logger
	who    *caller.Info

	mu    sync.Mutex
	ahead chan []byte   // nil until reading ahead; closed when the reader ends
	done  chan struct{} // closed when the reader goroutine has returned
}

// next returns the next request.
func (r *frameReader) next() ([]byte, error) {
	r.mu.Lock()
	ahead := r.ahead
	r.mu.Unlock()
	if ahead == nil {
		f, err := readFrame(r.br)
		if err != nil {
			r.closing(err)
		}
		return f, err
	}
	f, ok := <-ahead
	if !ok {
		return nil, errClosed
	}
	return f, nil
}

func (r *frameReader) closing(err error) {
	if !errors.Is(err, errClosed) {
		r.log.Debug("closing connection", "caller", r.who.String(), "err", err)
	}
}

// readAhead starts the reader goroutine, unless it runs already. It is
// called only while a request is being handled, never while next reads in
// line. ctx is the connection's: the reader stops when it ends, and ends
// it (through hangUp) when the client hangs up.
func (r *frameReader) readAhead(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ahead != nil {
		return
	}
	ahead, done := make(chan []byte, 4), make(chan struct{})
	r.ahead, r.done = ahead, done
	go func() {
		defer close(done)
		defer close(ahead)
		defer r.hangUp()
		for {
			f, err := readFrame(r.br)
			if err != nil {
				r.closing(err)
				return
			}
			select {
			case ahead <- f:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// wait returns once the reader goroutine, if one was started, has
// returned. The connection must be closed or its context ended first.
func (r *frameReader) wait() {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done != nil {
		<-done
	}
}

// requestCtx is the context of one request. Whatever waits selects on its
// Done channel, so asking for that channel is what starts reading ahead
// (see frameReader): the wait then ends when the client hangs up. Once the
// request is answered, Done no longer starts anything.
type requestCtx struct {
	context.Context // the connection's
	r               *frameReader

	mu       sync.Mutex
	answered bool
}

func (c *requestCtx) Done() <-chan struct{} {
	c.mu.Lock()
	if !c.answered {
		c.r.readAhead(c.Context)
	}
	c.mu.Unlock()
	return c.Context.Done()
}

func (c *requestCtx) finish() {
	c.mu.Lock()
	c.answered = true
	c.mu.Unlock()
}
