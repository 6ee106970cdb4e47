package agent

import (
	"fmt"

	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/policy"
)

// Grants returns the live grants, by ID, for a watcher to show.
func (a *Agent) Grants() []policy.Grant { return a.grants.List(a.cfg.Now()) }

// RevokeGrant ends one grant at once on a person's request made through
// by (such as "vigil watch"), and records it. It reports whether the
// grant was there.
func (a *Agent) RevokeGrant(id int, by string) bool {
	if !a.grants.Revoke(id) {
		return false
	}
	a.grantsChanged()
	a.record(audit.Event{Kind: audit.KindGrantRevoked, Decision: audit.Allowed, By: audit.By{Grant: fmt.Sprint(id)},
		Detail: fmt.Sprintf("revoked %d through %s", id, by)})
	return true
}

// grantsChanged tells the OnGrantsChanged hook that the table changed: a
// grant was made, used, revoked or dropped.
func (a *Agent) grantsChanged() {
	if a.cfg.OnGrantsChanged != nil {
		a.cfg.OnGrantsChanged()
	}
}
