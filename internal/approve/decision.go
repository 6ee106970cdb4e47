package approve

import (
	"context"
	"time"
)

// Decision is a person's answer to one prompt.
type Decision struct {
	Allow bool
	// GrantFor is how long the same request (same key, program identity,
	// purpose, destination and path) may be allowed again without asking;
	// 0 means this request only. It is meaningful only with Allow.
	GrantFor time.Duration
}

// Decide asks as Confirm does. The askpass contract is yes or no, so an
// approval is for this request only.
func (a *Askpass) Decide(ctx context.Context, text string) (Decision, error) {
	ok, err := a.Confirm(ctx, text)
	if err != nil {
		return Decision{}, err
	}
	return Decision{Allow: ok}, nil
}
