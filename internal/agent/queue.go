package agent

import (
	"context"
	"slices"
	"sync"
)

// promptQueue lets one prompt be on screen at a time and hands the turn to
// waiting requests in the order they arrived. A waiter whose context ends
// leaves the queue without ever being shown.
type promptQueue struct {
	mu      sync.Mutex
	busy    bool
	waiters []chan struct{}
}

func (q *promptQueue) acquire(ctx context.Context) error {
	q.mu.Lock()
	if !q.busy {
		q.busy = true
		q.mu.Unlock()
		return nil
	}
	turn := make(chan struct{})
	q.waiters = append(q.waiters, turn)
	q.mu.Unlock()

	select {
	case <-turn:
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		if i := slices.Index(q.waiters, turn); i >= 0 {
			q.waiters = slices.Delete(q.waiters, i, i+1)
			q.mu.Unlock()
			return ctx.Err()
		}
		q.mu.Unlock()
		// The turn was handed to us just as we gave up: pass it on.
		q.release()
		return ctx.Err()
	}
}

func (q *promptQueue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiters) == 0 {
		q.busy = false
		return
	}
	next := q.waiters[0]
	q.waiters = q.waiters[1:]
	close(next)
}

// pending is how many requests wait for a person, the one on screen included.
func (q *promptQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.busy {
		return 0
	}
	return 1 + len(q.waiters)
}
