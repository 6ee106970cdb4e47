package agent

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

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

// ListedGrant is one live grant as grants@vigil lists it: a signing grant
// (ID set), or one an extension keeps, such as a cargo read grant (Name
// set, ID 0, and Resource saying what it covers; Key and Host empty).
type ListedGrant struct {
	policy.Grant
	Name     string `json:",omitempty"` // an extension's grant: "cargo-read-1"
	Resource string `json:",omitempty"` // what an extension's grant covers: "registry https://…"
}

// GrantKeeper is an Extension that keeps grants of its own, such as the
// cargo broker's read grants, so that a person sees and ends them where
// they see and end the signing grants: grants@vigil lists them after those,
// revoke@vigil ends them by name, and every lock and the end of the unlock
// window drop them.
type GrantKeeper interface {
	Extension
	// ListGrants returns the live grants; their Name is never a number.
	ListGrants() []ListedGrant
	// RevokeGrants ends the grant called name, or every one for "all",
	// and says how many it ended.
	RevokeGrants(name string) int
}

// keepers are the extensions that keep grants, in the order of their
// names.
func (a *Agent) keepers() []GrantKeeper {
	var out []GrantKeeper
	for _, name := range slices.Sorted(maps.Keys(a.cfg.Extensions)) {
		if k, ok := a.cfg.Extensions[name].(GrantKeeper); ok {
			out = append(out, k)
		}
	}
	return out
}

// listGrants is what grants@vigil answers: the signing grants by ID, then
// the extensions'.
func (a *Agent) listGrants() []ListedGrant {
	out := []ListedGrant{}
	for _, g := range a.grants.List(a.cfg.Now()) {
		out = append(out, ListedGrant{Grant: g})
	}
	for _, k := range a.keepers() {
		out = append(out, k.ListGrants()...)
	}
	return out
}

// revokeGrants ends the grant what names (a signing grant's ID, an
// extension grant's name) or every grant ("all"), and says how many.
func (a *Agent) revokeGrants(what string) int {
	if what == "all" {
		return a.dropGrants()
	}
	n := 0
	if id, err := strconv.Atoi(what); err == nil {
		if a.grants.Revoke(id) {
			n = 1
		}
	} else {
		for _, k := range a.keepers() {
			n += k.RevokeGrants(what)
		}
	}
	if n > 0 {
		a.grantsChanged()
	}
	return n
}

// dropGrants ends every grant, the extensions' too: on every lock, when
// the unlock window ends, and on revoke all. It says how many there were.
func (a *Agent) dropGrants() int {
	n := a.grants.Drop()
	for _, k := range a.keepers() {
		n += k.RevokeGrants("all")
	}
	a.grantsChanged()
	return n
}

// grantsChanged tells the OnGrantsChanged hook that the table changed: a
// grant was made, used, revoked or dropped.
func (a *Agent) grantsChanged() {
	if a.cfg.OnGrantsChanged != nil {
		a.cfg.OnGrantsChanged()
	}
}
