package audit

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind is what happened.
type Kind string

// The kinds of event. Sign, unlock and credential events carry a Decision;
// the others usually do not.
const (
	KindSign      Kind = "sign"       // a signature request and its outcome
	KindAdd       Kind = "add"        // a key was added
	KindRemove    Kind = "remove"     // a key was removed
	KindRemoveAll Kind = "remove_all" // all keys were removed
	KindLock      Kind = "lock"       // the agent was locked
	KindUnlock    Kind = "unlock"     // an unlock attempt (Failed for a wrong passphrase)
	KindGrantMade Kind = "grant_made" // a person granted repeated use (By.Grant names it)
	// KindGrantUsed is not written by this version: a signature a grant
	// allowed is its sign record, with By.Grant set. Readers accept it.
	KindGrantUsed      Kind = "grant_used"
	KindGrantRevoked   Kind = "grant_revoked"   // a grant ended before its time (lock, revoke)
	KindWindowEnded    Kind = "window_ended"    // the unlock window closed (Detail says why)
	KindConfigReloaded Kind = "config_reloaded" // the configuration was read again
	KindCredential     Kind = "credential"      // a cargo or git credential was released or refused
	KindPinsForgotten  Kind = "pins_forgotten"  // program pins were dropped, or a request to drop them refused
	// Written by the log itself.
	KindAuditGap       Kind = "audit_gap"       // events were not recorded, or may not be on disk
	KindAuditRecovered Kind = "audit_recovered" // the log was reopened after a damaged tail
)

var kinds = []Kind{KindSign, KindAdd, KindRemove, KindRemoveAll, KindLock, KindUnlock,
	KindGrantMade, KindGrantUsed, KindGrantRevoked, KindWindowEnded, KindConfigReloaded,
	KindCredential, KindPinsForgotten, KindAuditGap, KindAuditRecovered}

// Kinds lists every kind of event, in a stable order.
func Kinds() []Kind { return append([]Kind(nil), kinds...) }

func (k Kind) valid() bool {
	for _, v := range kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Decision is the outcome of a request. A credential that was released is
// Allowed, one that was refused is Denied.
type Decision string

const (
	Allowed   Decision = "allowed"
	Denied    Decision = "denied"    // by a rule, by a person, or because no one could be asked
	TimedOut  Decision = "timed_out" // the prompt expired
	Cancelled Decision = "cancelled" // the client hung up before a decision
	Failed    Decision = "failed"    // the request could not be carried out (a wrong unlock passphrase)
)

func (d Decision) valid() bool {
	switch d {
	case "", Allowed, Denied, TimedOut, Cancelled, Failed:
		return true
	}
	return false
}

// Refused reports whether the request was not carried out: every decision
// except Allowed and none.
func (d Decision) Refused() bool { return d != "" && d != Allowed }

// Origin says whether a request came from this machine or through a
// forwarded agent connection.
type Origin string

const (
	Local     Origin = "local"
	Forwarded Origin = "forwarded"
)

func (o Origin) valid() bool { return o == "" || o == Local || o == Forwarded }

// Process identifies one program: the real path of its executable and the
// hex SHA-256 of the executable's content, as internal/caller reads them.
type Process struct {
	PID    int    `json:"pid,omitempty"`
	Exe    string `json:"exe,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// Caller is who asked: the program on the other end of the socket and its
// ancestors, nearest first. Command lines are never recorded: they can
// hold secrets.
type Caller struct {
	Process
	Chain []Process `json:"chain,omitempty"`
}

// IsZero reports whether nothing is known about the caller (the record
// then has no "caller" field).
func (c Caller) IsZero() bool { return c.Process == Process{} && len(c.Chain) == 0 }

// Intent is what a request was for, as far as vigil could verify it.
type Intent struct {
	Purpose   string `json:"purpose,omitempty"`   // login | git | file | namespace:NAME | unknown | cargo | git-credential ...
	Namespace string `json:"namespace,omitempty"` // SSHSIG namespace
	User      string `json:"user,omitempty"`      // user name of a login
	Host      string `json:"host,omitempty"`      // verified destination; empty when not verified
	Resource  string `json:"resource,omitempty"`  // what else it is about: "crate foo 0.2.0", a repository URL
}

// By says who or what made the decision. Several can be set: a grant made
// by an approver, for example.
type By struct {
	Rule     string `json:"rule,omitempty"`     // the rule's id (its number in the configuration)
	Grant    string `json:"grant,omitempty"`    // the grant's id
	Approver string `json:"approver,omitempty"` // which way a person was asked ("askpass /usr/bin/ssh-askpass")
}

// Event is one thing that happened. Time and ID are filled in by Append
// when left empty. It never holds a secret or the signed bytes: DataSHA256
// is the place for a digest of them (see DataHash).
type Event struct {
	Time       time.Time     `json:"time"`
	ID         string        `json:"id"`
	Kind       Kind          `json:"kind"`
	Decision   Decision      `json:"decision,omitempty"`
	Caller     Caller        `json:"caller,omitzero"`
	Key        string        `json:"key,omitempty"` // "SHA256:..." fingerprint
	Intent     Intent        `json:"intent,omitzero"`
	Origin     Origin        `json:"origin,omitempty"`
	By         By            `json:"by,omitzero"`
	Latency    time.Duration `json:"latency_ns,omitempty"` // from request to decision
	DataSHA256 string        `json:"data_sha256,omitempty"`
	Detail     string        `json:"detail,omitempty"` // why, in words: never a secret
}

// DataHash returns the hex SHA-256 of the bytes that were (or would have
// been) signed, for Event.DataSHA256.
func DataHash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// newID returns 16 random bytes in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b[:])
}

// Bounds on what an event may hold, so that a caller who controls a string
// (a user name, a namespace) cannot make a record too large to write and
// so keep its request out of the log. Longer strings are cut and end in "…".
const (
	maxShort = 256  // ids, fingerprints, hashes, purposes
	maxText  = 1024 // user, host, resource, detail, approver
	maxPath  = 4096 // executable paths
	maxChain = 16
)

// clip cuts s to at most max bytes, on a rune boundary, marking the cut.
// Invalid UTF-8 becomes U+FFFD, as JSON would store it.
func clip(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= max {
		return s
	}
	const mark = "…"
	cut := max - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

func (p Process) clipped() Process {
	p.Exe = clip(p.Exe, maxPath)
	p.SHA256 = clip(p.SHA256, maxShort)
	return p
}

// prepare fills in Time and ID, bounds every string, and checks the
// enumerations. It does not modify the caller's slices.
func (e Event) prepare(now func() time.Time) (Event, error) {
	if !e.Kind.valid() {
		return e, fmt.Errorf("unknown event kind %q", clip(string(e.Kind), maxShort))
	}
	if !e.Decision.valid() {
		return e, fmt.Errorf("unknown decision %q", clip(string(e.Decision), maxShort))
	}
	if !e.Origin.valid() {
		return e, fmt.Errorf("unknown origin %q", clip(string(e.Origin), maxShort))
	}
	if e.Time.IsZero() {
		e.Time = now()
	}
	e.Time = e.Time.UTC().Round(0)
	if e.ID == "" {
		e.ID = newID()
	}
	e.ID = clip(e.ID, maxShort)
	e.Caller.Process = e.Caller.Process.clipped()
	if len(e.Caller.Chain) == 0 {
		e.Caller.Chain = nil
	} else {
		chain := e.Caller.Chain[:min(len(e.Caller.Chain), maxChain)]
		e.Caller.Chain = make([]Process, len(chain))
		for i, p := range chain {
			e.Caller.Chain[i] = p.clipped()
		}
	}
	e.Key = clip(e.Key, maxShort)
	e.Intent.Purpose = clip(e.Intent.Purpose, maxShort)
	e.Intent.Namespace = clip(e.Intent.Namespace, maxText)
	e.Intent.User = clip(e.Intent.User, maxText)
	e.Intent.Host = clip(e.Intent.Host, maxText)
	e.Intent.Resource = clip(e.Intent.Resource, maxText)
	e.By.Rule = clip(e.By.Rule, maxShort)
	e.By.Grant = clip(e.By.Grant, maxShort)
	e.By.Approver = clip(e.By.Approver, maxText)
	e.DataSHA256 = clip(e.DataSHA256, maxShort)
	e.Detail = clip(e.Detail, maxText)
	return e, nil
}

// program is the last element of the caller's executable path.
func (e *Event) program() string {
	exe := e.Caller.Exe
	if exe == "" {
		return ""
	}
	return exe[strings.LastIndexByte(exe, '/')+1:]
}
