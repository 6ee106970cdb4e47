package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Program is a program's identity: the real path of its executable and the
// hex SHA-256 of that executable's content (caller.Process.Exe and .Hash).
// The same path with other content is another program.
type Program struct {
	Exe  string
	Hash string
}

func (p Program) String() string {
	return fmt.Sprintf("%s (SHA-256 %.12s…)", p.Exe, p.Hash)
}

// Scope is exactly what a grant covers, and the facts of a request that are
// checked against it. Every field is compared for equality: there are no
// globs and no "any", so a grant can never cover more than the request the
// person saw.
type Scope struct {
	Key       string // key fingerprint, "SHA256:..."
	Exe       string // real path of the calling program's executable
	Hash      string // hex SHA-256 of that executable's content
	Purpose   string // login, git, file, namespace:NAME or unknown
	Host      string // verified destination name; required for logins
	Forwarded bool   // the request came through a forwarded agent
	// RunBy and RunByHash identify the program that ran the caller (see
	// caller.Info.Runner): the git behind the ssh-keygen that signs its
	// commits, or behind the ssh that fetches. Both are "" when nothing
	// ran it that vigil can see, and such a request gets no grant:
	// ssh-keygen and ssh will sign or log in for any program that runs
	// them, so "git may sign commits" must not become "anything that runs
	// ssh-keygen may sign as git", nor "ssh in a tmux window may log in"
	// become "any setsid ssh may log in".
	RunBy     string
	RunByHash string
}

// GrantRequest is what a grant is matched against: the verified facts of
// one request. It is a Scope; the name says which side it is on.
type GrantRequest = Scope

// GrantRequestOf gathers a grant's view of a policy request. hash is the
// content hash of the calling program (caller.Process.Hash); runBy is the
// program that ran it, the zero Program when there is none. A request
// whose program is unknown (req.Exe == "", as policyRequest leaves it for a
// deleted executable or another mount namespace) or unhashed matches no
// grant.
func GrantRequestOf(req Request, hash string, runBy Program) GrantRequest {
	return GrantRequest{
		Key:       req.KeyFingerprint,
		Exe:       req.Exe,
		Hash:      hash,
		Purpose:   req.Purpose,
		Host:      req.Host,
		Forwarded: req.Forwarded,
		RunBy:     runBy.Exe,
		RunByHash: runBy.Hash,
	}
}

// Program is the scope's program identity.
func (s Scope) Program() Program { return Program{Exe: s.Exe, Hash: s.Hash} }

// Validate reports why s cannot be granted, or nil. A grant must name one
// key, one known program run by one known program, and one recognised
// purpose, and a login grant one verified destination: an empty field would
// otherwise match every request that lacks that fact (an unknown program, a
// caller that leads its own session, an unverified host), and "unknown"
// data could be anything. The agent should not offer a grant
// for a request whose scope does not validate.
func (s Scope) Validate() error {
	if !isFingerprint(s.Key) {
		return fmt.Errorf("grant: key %q is not a SHA256 fingerprint", s.Key)
	}
	if !strings.HasPrefix(s.Exe, "/") {
		return errors.New("grant: the program is unknown (no executable path)")
	}
	if s.Hash == "" {
		return errors.New("grant: the program's content hash is unknown")
	}
	if !strings.HasPrefix(s.RunBy, "/") || s.RunByHash == "" {
		// setsid, or a parent that exited: nothing says who ran it.
		return errors.New("grant: the program that ran the caller is unknown")
	}
	if s.Purpose == "" || s.Purpose == PurposeAny {
		return errors.New("grant: no purpose: a grant covers exactly one")
	}
	if s.Purpose == PurposeUnknown {
		// "unknown" is whatever vigil could not recognise: not one purpose.
		return errors.New("grant: unrecognised data has no purpose a grant could be limited to")
	}
	if err := ValidatePurpose(s.Purpose); err != nil {
		return fmt.Errorf("grant: %w", err)
	}
	if s.Purpose == PurposeLogin && s.Host == "" {
		return errors.New("grant: a login grant needs a verified destination")
	}
	return nil
}

// Grant is a person's "yes, and don't ask again for a while" for one Scope.
type Grant struct {
	ID int // assigned by Add; never reused by the same Grants
	Scope
	Created time.Time // when Add was called
	Expires time.Time // the grant matches only strictly before this instant
	MaxUses int       // how many signatures it covers; 0: any number until it expires
	Used    int       // signatures it has covered so far
}

// UsesLeft says how many more signatures the grant covers, and whether that
// number is limited at all.
func (g *Grant) UsesLeft() (left int, limited bool) {
	if g.MaxUses == 0 {
		return 0, false
	}
	return g.MaxUses - g.Used, true
}

func (g *Grant) live(now time.Time) bool {
	return now.Before(g.Expires) && (g.MaxUses == 0 || g.Used < g.MaxUses)
}

// Grants is the table of live grants. It is safe for concurrent use. It
// reads no clock: every method that needs the time is given it.
type Grants struct {
	mu      sync.Mutex
	byID    map[int]*Grant
	byScope map[Scope][]*Grant // every live-or-not-yet-pruned grant, by exact scope
	lastID  int
	sweep   int // Add prunes the whole table when it holds this many grants
}

// minSweep is the table size under which Add does not bother pruning.
const minSweep = 64

// Add records a grant and returns its ID. The grant's ID, Created and Used
// fields are set by Add. It refuses a scope that Validate rejects and a
// grant without an expiry ("until lock" is the unlock window's end, and
// Drop at lock ends it sooner).
func (t *Grants) Add(g Grant, now time.Time) (int, error) {
	if err := g.Scope.Validate(); err != nil {
		return 0, err
	}
	if g.Expires.IsZero() {
		return 0, errors.New("grant: no expiry")
	}
	if g.MaxUses < 0 {
		return 0, fmt.Errorf("grant: %d uses", g.MaxUses)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID == nil {
		t.byID = make(map[int]*Grant)
		t.byScope = make(map[Scope][]*Grant)
	}
	if len(t.byID) >= max(t.sweep, minSweep) {
		// Amortised: expired grants nobody asks about again are removed
		// here, and the next sweep waits until the table doubles.
		t.pruneLocked(now)
		t.sweep = 2 * len(t.byID)
	}
	t.lastID++
	g.ID, g.Created, g.Used = t.lastID, now, 0
	p := &g
	t.byID[g.ID] = p
	t.byScope[g.Scope] = append(t.byScope[g.Scope], p)
	return g.ID, nil
}

// Match finds a live grant whose scope is exactly req's, uses it once, and
// returns a copy of it as it is after this use. When several match, the one
// that expires first is used. A grant whose last use this was is removed;
// expired grants met on the way are pruned.
func (t *Grants) Match(req GrantRequest, now time.Time) (*Grant, bool) {
	if req.Exe == "" || req.Hash == "" || req.RunBy == "" || req.RunByHash == "" || req.Key == "" || req.Purpose == "" {
		return nil, false // an unknown fact matches nothing, whatever the table holds
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	bucket := t.byScope[req]
	if len(bucket) == 0 {
		return nil, false
	}
	var best *Grant
	for _, g := range bucket {
		if !g.live(now) {
			continue
		}
		if best == nil || g.Expires.Before(best.Expires) || (g.Expires.Equal(best.Expires) && g.ID < best.ID) {
			best = g
		}
	}
	if best != nil {
		best.Used++
	}
	out := cloneGrant(best)
	// Prune this bucket: expired grants, and the one just used up.
	kept := bucket[:0]
	for _, g := range bucket {
		if g.live(now) {
			kept = append(kept, g)
		} else {
			delete(t.byID, g.ID)
		}
	}
	switch {
	case len(kept) == len(bucket):
	case len(kept) == 0:
		delete(t.byScope, req)
	default:
		clear(bucket[len(kept):])
		t.byScope[req] = kept
	}
	return out, out != nil
}

func cloneGrant(g *Grant) *Grant {
	if g == nil {
		return nil
	}
	c := *g
	return &c
}

// List prunes what has expired and returns copies of the live grants, by ID.
func (t *Grants) List(now time.Time) []Grant {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(now)
	out := make([]Grant, 0, len(t.byID))
	for _, g := range t.byID {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Grant) int { return a.ID - b.ID })
	return out
}

// Len is the number of grants held, including expired ones not pruned yet.
func (t *Grants) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// Revoke ends one grant at once. It reports whether the grant was there.
func (t *Grants) Revoke(id int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.byID[id]
	if !ok {
		return false
	}
	t.removeLocked(g)
	return true
}

// RevokeAll ends every grant at once and says how many there were.
func (t *Grants) RevokeAll() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.byID)
	t.byID, t.byScope = nil, nil
	t.sweep = 0
	return n
}

// Drop ends every grant: call it on every lock and when the unlock window
// ends. IDs keep counting up, so a stale "revoke ID" never hits a new grant.
func (t *Grants) Drop() int { return t.RevokeAll() }

func (t *Grants) removeLocked(g *Grant) {
	delete(t.byID, g.ID)
	bucket := t.byScope[g.Scope]
	i := slices.Index(bucket, g)
	if i < 0 {
		return
	}
	bucket = slices.Delete(bucket, i, i+1)
	if len(bucket) == 0 {
		delete(t.byScope, g.Scope)
	} else {
		t.byScope[g.Scope] = bucket
	}
}

func (t *Grants) pruneLocked(now time.Time) {
	for _, g := range t.byID {
		if !g.live(now) {
			t.removeLocked(g)
		}
	}
}

// Outcome is how one prompt ended, as far as the cooldown cares.
type Outcome int

const (
	Approved  Outcome = iota // the person said yes (once or a grant)
	Denied                   // the person said no
	TimedOut                 // nobody answered before the prompt's timeout
	Abandoned                // the client hung up first: counts neither way
)

// UntilLock is the duration a grant "until lock" is made for. Grants are
// dropped at every lock and when the unlock window ends, so this only has
// to outlast any window.
const UntilLock = 100 * 365 * 24 * time.Hour

// AtLock reports whether a grant expiring at expires was made "until
// lock", as seen at now: its expiry is too far away to be a real one.
func AtLock(expires, now time.Time) bool { return expires.Sub(now) > UntilLock/2 }

// Cooldown stops a program from prompting over and over: after Strikes
// prompts in a row for one program identity end denied or unanswered, that
// program's requests are refused without a prompt for Period. It is safe for
// concurrent use and reads no clock. The zero value uses the defaults.
type Cooldown struct {
	Strikes int           // prompts in a row; 0: 3
	Period  time.Duration // how long requests are refused; 0: 5 minutes

	mu sync.Mutex
	m  map[Program]*cooling
}

type cooling struct {
	strikes int
	until   time.Time // zero: not cooling
}

// Cooldown defaults, and how many programs it remembers before forgetting
// the ones that are not cooling.
const (
	DefaultStrikes  = 3
	DefaultCooldown = 5 * time.Minute
	maxCoolPrograms = 4096
)

func (c *Cooldown) strikes() int {
	if c.Strikes > 0 {
		return c.Strikes
	}
	return DefaultStrikes
}

func (c *Cooldown) period() time.Duration {
	if c.Period > 0 {
		return c.Period
	}
	return DefaultCooldown
}

// Note records how a prompt for program ended. It returns true exactly
// once per cooling period: when this outcome starts it. That is the moment
// to tell the person ("X was refused 3 times; its requests are refused
// without asking until HH:MM"). An approval ends the streak, and any
// cooling that a prompt opened earlier was still waiting out.
func (c *Cooldown) Note(p Program, o Outcome, now time.Time) (started bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[p]
	switch o {
	case Approved:
		delete(c.m, p)
		return false
	case Denied, TimedOut:
	default:
		return false
	}
	if e != nil && !e.until.IsZero() {
		if now.Before(e.until) {
			return false // already cooling: answers to older prompts don't extend it
		}
		e.strikes, e.until = 0, time.Time{}
	}
	if e == nil {
		if c.m == nil {
			c.m = make(map[Program]*cooling)
		}
		if len(c.m) >= maxCoolPrograms {
			c.forgetLocked(now)
		}
		e = &cooling{}
		c.m[p] = e
	}
	e.strikes++
	if e.strikes < c.strikes() {
		return false
	}
	e.until = now.Add(c.period())
	return true
}

// Cooling reports whether program's requests are to be refused without a
// prompt at now, and until when.
func (c *Cooldown) Cooling(p Program, now time.Time) (bool, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[p]
	if e == nil || e.until.IsZero() {
		return false, time.Time{}
	}
	if !now.Before(e.until) {
		delete(c.m, p) // served its time: the next streak starts from zero
		return false, time.Time{}
	}
	return true, e.until
}

// forgetLocked bounds the table: programs that are not cooling lose their
// partial streaks, and finished coolings are removed.
func (c *Cooldown) forgetLocked(now time.Time) {
	for p, e := range c.m {
		if e.until.IsZero() || !now.Before(e.until) {
			delete(c.m, p)
		}
	}
}
