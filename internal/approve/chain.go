package approve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Way is one way of asking a person, as a Chain tries it.
type Way interface {
	ConfirmGrant(ctx context.Context, text string, offerGrant bool) (allow bool, grantFor time.Duration, err error)
	// Unreachable says why the person cannot be asked this way now, or ""
	// when they can.
	Unreachable() string
	String() string
}

// Chain asks each prompt through the first of its ways that can be reached
// (approver = ["pinentry", "askpass", "tui"]). The way chosen decides: if it
// fails, or its watcher goes away, the request is refused, not asked again
// elsewhere. When none can be reached, every prompt fails with an error that
// names the ways tried and why each could not be used.
type Chain []Way

// ConfirmGrant asks through the first reachable way.
func (c Chain) ConfirmGrant(ctx context.Context, text string, offerGrant bool) (bool, time.Duration, error) {
	ok, d, _, err := c.ConfirmGrantBy(ctx, text, offerGrant)
	return ok, d, err
}

// ConfirmGrantBy asks as ConfirmGrant does and names the way that asked,
// for the audit record: the way chosen for this prompt (a vigil watch
// names the watcher that answered), not whichever would be chosen later.
func (c Chain) ConfirmGrantBy(ctx context.Context, text string, offerGrant bool) (bool, time.Duration, string, error) {
	w, err := c.first()
	if err != nil {
		return false, 0, "", err
	}
	if n, ok := w.(interface {
		ConfirmGrantBy(context.Context, string, bool) (bool, time.Duration, string, error)
	}); ok {
		allow, d, by, err := n.ConfirmGrantBy(ctx, text, offerGrant)
		if by == "" {
			by = w.String()
		}
		return allow, d, by, err
	}
	allow, d, err := w.ConfirmGrant(ctx, text, offerGrant)
	return allow, d, w.String(), err
}

// Confirm asks for a yes or no, without offering a grant.
func (c Chain) Confirm(ctx context.Context, text string) (bool, error) {
	ok, _, err := c.ConfirmGrant(ctx, text, false)
	return ok, err
}

// AskPassphrase reads the key store's passphrase through the first
// reachable way that can read one (askpass).
func (c Chain) AskPassphrase(ctx context.Context, prompt string) ([]byte, error) {
	pass, _, err := c.AskPassphraseBy(ctx, prompt)
	return pass, err
}

// AskPassphraseBy asks as AskPassphrase does and names the way that asked,
// for the audit record of the unlock.
func (c Chain) AskPassphraseBy(ctx context.Context, prompt string) ([]byte, string, error) {
	var tried []string
	for _, w := range c {
		asker, ok := w.(interface {
			AskPassphrase(context.Context, string) ([]byte, error)
		})
		if !ok {
			continue
		}
		if why := w.Unreachable(); why != "" {
			tried = append(tried, w.String()+": "+why)
			continue
		}
		pass, err := asker.AskPassphrase(ctx, prompt)
		return pass, w.String(), err
	}
	if len(tried) == 0 {
		return nil, "", errors.New("approve: no approver configured can read a passphrase (askpass can)")
	}
	return nil, "", fmt.Errorf("approve: no approver that reads a passphrase could be reached (tried %s)", strings.Join(tried, "; "))
}

func (c Chain) first() (Way, error) {
	tried := make([]string, 0, len(c))
	for _, w := range c {
		why := w.Unreachable()
		if why == "" {
			return w, nil
		}
		tried = append(tried, w.String()+": "+why)
	}
	if len(tried) == 0 {
		return nil, errors.New("approve: no approver configured")
	}
	return nil, fmt.Errorf("approve: no approver could be reached (tried %s)", strings.Join(tried, "; "))
}

// Next names the way the next prompt would go through, or "" when none can
// be reached, for a notification that a prompt waits.
func (c Chain) Next() string {
	w, err := c.first()
	if err != nil {
		return ""
	}
	return w.String()
}

// String names the approvers, in order, for the audit log.
func (c Chain) String() string {
	names := make([]string, len(c))
	for i, w := range c {
		names[i] = w.String()
	}
	return strings.Join(names, ", then ")
}

// ConfirmGrant asks as Confirm does: askpass can only say yes or no.
func (a *Askpass) ConfirmGrant(ctx context.Context, text string, _ bool) (bool, time.Duration, error) {
	ok, err := a.Confirm(ctx, text)
	return ok, 0, err
}

// Unreachable: askpass can be used whenever a program is configured.
func (a *Askpass) Unreachable() string {
	if a.Program == "" {
		return "no askpass program configured (--approver, the config file's askpass, or SSH_ASKPASS)"
	}
	return ""
}

// ConfirmGrant asks, offering pinentry's "Allow for ..." button only when
// the agent says the request can be scoped for a grant.
func (p *Pinentry) ConfirmGrant(ctx context.Context, text string, offerGrant bool) (bool, time.Duration, error) {
	ask := p
	if !offerGrant {
		once := *p
		once.GrantFor = 0
		ask = &once
	}
	d, err := ask.Decide(ctx, text)
	return d.Allow, d.GrantFor, err
}

// Unreachable: pinentry can be used when its program is configured and is
// an executable file.
func (p *Pinentry) Unreachable() string {
	if p.Program == "" {
		return "no pinentry program configured (--pinentry or the config file's pinentry)"
	}
	if fi, err := os.Stat(p.Program); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return p.Program + " is not an executable file"
	}
	return ""
}
