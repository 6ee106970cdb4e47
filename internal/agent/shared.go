package agent

import (
	"context"
	"sync"

	"github.com/vigil-agent/vigil/internal/policy"
)

// sharedPrompts lets identical requests share one prompt. A request that
// arrives while another with exactly the same scope (key, program path and
// content hash, purpose, destination, local or forwarded) is waiting for
// or showing a prompt does not queue a prompt of its own: it waits for
// that prompt's outcome. A rebase signing twenty commits then asks once,
// not twenty times in a row.
type sharedPrompts struct {
	mu   sync.Mutex
	open map[policy.Scope]*sharedPrompt
}

// sharedPrompt is one prompt that identical requests wait on.
type sharedPrompt struct {
	done    chan struct{} // closed by settle
	outcome string        // valid once done is closed
	waiters int           // requests waiting on it, for tests; under sharedPrompts.mu
}

// join returns the prompt open for scope, or opens one and makes the caller
// its leader: the leader asks, and must call settle.
func (s *sharedPrompts) join(scope policy.Scope) (p *sharedPrompt, leader bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.open[scope]; ok {
		p.waiters++
		return p, false
	}
	if s.open == nil {
		s.open = make(map[policy.Scope]*sharedPrompt)
	}
	p = &sharedPrompt{done: make(chan struct{})}
	s.open[scope] = p
	return p, true
}

// settle publishes the leader's outcome to the waiters, and closes the
// prompt to later requests: they ask (or use a grant) for themselves.
func (s *sharedPrompts) settle(scope policy.Scope, p *sharedPrompt, outcome string) {
	s.mu.Lock()
	delete(s.open, scope)
	p.outcome = outcome
	s.mu.Unlock()
	close(p.done)
}

// wait waits for the prompt's outcome, or for ctx to end; a waiter that
// leaves changes nothing for the prompt or the other waiters.
func (s *sharedPrompts) wait(ctx context.Context, p *sharedPrompt) (outcome string, err error) {
	defer func() {
		s.mu.Lock()
		p.waiters--
		s.mu.Unlock()
	}()
	select {
	case <-p.done:
		return p.outcome, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// waiting says how many requests wait on another's prompt.
func (s *sharedPrompts) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.open {
		n += p.waiters
	}
	return n
}
