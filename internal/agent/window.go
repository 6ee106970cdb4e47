package agent

import (
	"fmt"
	"sync"
	"time"

	"github.com/vigil-agent/vigil/internal/words"
)

// WindowLimits bound how long private keys stay in memory after an unlock
// (or after the first key is added with ssh-add): an idle timeout that each
// signature restarts, an absolute cap nothing extends, and a number of
// signatures. Zero means no limit.
type WindowLimits struct {
	Idle          time.Duration
	MaxLifetime   time.Duration
	MaxSignatures int
}

// window is the unlock window: open while private keys are in memory.
type window struct {
	limits WindowLimits
	now    func() time.Time
	end    func(reason string) // wipes the keys; called without mu held

	mu         sync.Mutex
	open       bool
	opened     time.Time
	lastUse    time.Time
	signatures int
	timer      *time.Timer
	generation int // tells a stale timer from the current one
}

// openNow opens the window if it is closed. An open window is left as it
// is: adding a key does not extend it.
func (w *window) openNow() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.open {
		return
	}
	now := w.now()
	w.open, w.opened, w.lastUse, w.signatures = true, now, now, 0
	w.armLocked(now)
}

// used records a signature. It returns false if the window was already
// over by its limits: the signature must not be made.
func (w *window) used() bool {
	w.mu.Lock()
	now := w.now()
	if !w.open {
		w.mu.Unlock()
		return true // nothing loaded by an unlock: nothing to limit
	}
	if reason := w.expiredLocked(now); reason != "" {
		w.mu.Unlock()
		w.close(reason)
		return false
	}
	w.signatures++
	w.lastUse = now
	w.armLocked(now)
	w.mu.Unlock()
	return true
}

// spent ends the window if the signature just made was the last one it
// allows. It is called after signing, so that the last signature is made
// before the keys are wiped.
func (w *window) spent() {
	w.mu.Lock()
	n := w.signatures
	over := w.open && w.limits.MaxSignatures > 0 && n >= w.limits.MaxSignatures
	w.mu.Unlock()
	if over {
		w.close(words.Count(n, "signature") + " made, the limit")
	}
}

// expiredLocked says why the window is over at now, or "".
func (w *window) expiredLocked(now time.Time) string {
	switch {
	case w.limits.MaxLifetime > 0 && !now.Before(w.opened.Add(w.limits.MaxLifetime)):
		return fmt.Sprintf("open for %v, the maximum", w.limits.MaxLifetime)
	case w.limits.Idle > 0 && !now.Before(w.lastUse.Add(w.limits.Idle)):
		return fmt.Sprintf("idle for %v", w.limits.Idle)
	case w.limits.MaxSignatures > 0 && w.signatures >= w.limits.MaxSignatures:
		return words.Count(w.signatures, "signature") + " made, the limit"
	}
	return ""
}

// armLocked sets the timer for the nearest time limit.
func (w *window) armLocked(now time.Time) {
	if w.timer != nil {
		w.timer.Stop()
	}
	var due time.Time
	if w.limits.Idle > 0 {
		due = w.lastUse.Add(w.limits.Idle)
	}
	if w.limits.MaxLifetime > 0 {
		if abs := w.opened.Add(w.limits.MaxLifetime); due.IsZero() || abs.Before(due) {
			due = abs
		}
	}
	if due.IsZero() {
		return
	}
	w.generation++
	gen := w.generation
	w.timer = time.AfterFunc(due.Sub(now), func() { w.check(gen) })
}

func (w *window) check(gen int) {
	w.mu.Lock()
	if !w.open || gen != w.generation {
		w.mu.Unlock()
		return
	}
	reason := w.expiredLocked(w.now())
	if reason == "" {
		w.armLocked(w.now()) // woke early: wait again
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	w.close(reason)
}

// close ends the window now and wipes the keys.
func (w *window) close(reason string) {
	w.mu.Lock()
	if !w.open {
		w.mu.Unlock()
		return
	}
	w.open = false
	w.generation++
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	w.end(reason)
}

// WindowStatus is what vigil status shows.
type WindowStatus struct {
	Open           bool          `json:"open"`
	IdleLeft       time.Duration `json:"idle_left_ns,omitempty"`
	LifetimeLeft   time.Duration `json:"lifetime_left_ns,omitempty"`
	SignaturesLeft int           `json:"signatures_left,omitempty"` // 0 with no limit
	Signatures     int           `json:"signatures"`
}

func (w *window) status() WindowStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := WindowStatus{Open: w.open, Signatures: w.signatures}
	if !w.open {
		return st
	}
	now := w.now()
	if w.limits.Idle > 0 {
		st.IdleLeft = w.lastUse.Add(w.limits.Idle).Sub(now)
	}
	if w.limits.MaxLifetime > 0 {
		st.LifetimeLeft = w.opened.Add(w.limits.MaxLifetime).Sub(now)
	}
	if w.limits.MaxSignatures > 0 {
		st.SignaturesLeft = w.limits.MaxSignatures - w.signatures
	}
	return st
}
