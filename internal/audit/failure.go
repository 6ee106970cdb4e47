package audit

import (
	"errors"
	"fmt"
)

// FailurePolicy is what the caller of Append should do with the request an
// event describes when the event cannot be recorded: the configuration's
// on_audit_failure.
type FailurePolicy int

const (
	// Refuse: a request that cannot be recorded is refused. The default.
	Refuse FailurePolicy = iota
	// Continue: the request goes ahead unrecorded; the log records how many
	// events it missed as soon as it can write again.
	Continue
)

func (p FailurePolicy) String() string {
	if p == Continue {
		return "continue"
	}
	return "refuse"
}

// ParseFailurePolicy reads "refuse" or "continue".
func ParseFailurePolicy(s string) (FailurePolicy, error) {
	switch s {
	case "refuse":
		return Refuse, nil
	case "continue":
		return Continue, nil
	}
	return Refuse, fmt.Errorf("on_audit_failure %q: want refuse or continue", s)
}

// AppendError is the only kind of error Append returns. Policy is the
// log's configured FailurePolicy, so the caller can decide without knowing
// the configuration.
type AppendError struct {
	Policy FailurePolicy
	Err    error
}

func (e *AppendError) Error() string { return "audit log: " + e.Err.Error() }
func (e *AppendError) Unwrap() error { return e.Err }

// Refuse reports whether the request must be refused.
func (e *AppendError) Refuse() bool { return e.Policy == Refuse }

// ShouldRefuse reports whether a request must be refused because of err,
// as returned by Append: false for nil, the policy for an *AppendError, and
// true for anything else (fail closed).
func ShouldRefuse(err error) bool {
	if err == nil {
		return false
	}
	var ae *AppendError
	if errors.As(err, &ae) {
		return ae.Refuse()
	}
	return true
}

// ErrClosed is returned (inside an *AppendError) by Append after Close.
var ErrClosed = errors.New("log is closed")
