package broker

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/credential/cargo"
	"github.com/vigil-agent/vigil/internal/sanitize"
	"github.com/vigil-agent/vigil/internal/words"
)

// party is who is asking, as a person should read it.
type party struct {
	// self is the program asking: cargo when the request came through
	// vigil's plugin, else the socket's peer itself.
	self caller.Process
	// parents are self's parents, nearest first.
	parents []caller.Process
	// via is vigil's plugin, when it forwarded the request.
	via *caller.Process
}

// partyOf reads the caller's chain. A request forwarded by vigil's own
// plugin (the same executable content as the agent) names the plugin's
// parent, the program that ran it; anything else names the peer, whatever
// it says it is.
func partyOf(who *caller.Info, isPlugin func(caller.Process) bool) party {
	l := who.Lineage()
	switch {
	case len(l) == 0:
		return party{self: who.Program()}
	case len(l) >= 2 && isPlugin(l[0]):
		via := l[0]
		return party{self: l[1], parents: l[2:], via: &via}
	}
	return party{self: l[0], parents: l[1:]}
}

// name is the asking program's name for a title line.
func (p party) name() string { return sanitize.Line(p.self.Name(), 64) }

// registryName names the registry for a person: by the name cargo's
// configuration gives it, else by its index URL.
func registryName(r *cargo.Request) string {
	if r.Registry.Name != "" {
		return "registry " + sanitize.Line(r.Registry.Name, 64)
	}
	return "the registry at " + sanitize.Line(r.Registry.IndexURL, 200)
}

// shortSum is the first 12 hex digits of a checksum, as a person compares
// them.
func shortSum(cksum string) string {
	if len(cksum) <= 12 {
		return cksum
	}
	return cksum[:12] + "…"
}

// phrase completes "Allow cargo to …": what the token is for.
func phrase(r *cargo.Request) string {
	crate := sanitize.Line(r.Name, 64)
	vers := sanitize.Line(r.Vers, 64)
	reg := registryName(r)
	switch r.Operation {
	case cargo.OpPublish:
		return fmt.Sprintf("publish %s %s (sha256 %s) to %s", crate, vers, shortSum(r.Cksum), reg)
	case cargo.OpYank:
		return fmt.Sprintf("yank %s %s at %s", crate, vers, reg)
	case cargo.OpUnyank:
		return fmt.Sprintf("un-yank %s %s at %s", crate, vers, reg)
	case cargo.OpOwners:
		return fmt.Sprintf("list or change the owners of %s at %s", crate, reg)
	case cargo.OpRead:
		return fmt.Sprintf("read %s (its index and downloads)", reg)
	}
	return fmt.Sprintf("use its token for %s (%s)", reg, sanitize.Line(string(r.Operation), 32))
}

// promptText is what the person reads before a token is released: a title
// line, then one fact per line. Everything a caller controls is sanitised.
// note, if not "", is why a rule that would have allowed it did not.
func (c *Cargo) promptText(r *request, note string) string {
	var b strings.Builder
	p := r.party
	fmt.Fprintf(&b, "Allow %s to %s?\n", p.name(), phrase(r.Request))
	if r.Name != "" {
		crate := sanitize.Line(r.Name, 64)
		if r.Vers != "" { // owners name no version
			crate += " " + sanitize.Line(r.Vers, 64)
		}
		fmt.Fprintf(&b, "  crate:    %s\n", crate)
	}
	if r.Cksum != "" {
		fmt.Fprintf(&b, "  sha256:   %s\n", r.Cksum)
	}
	reg := "index " + sanitize.Line(r.Registry.IndexURL, 200)
	if r.Registry.Name != "" {
		reg = sanitize.Line(r.Registry.Name, 64) + ", " + reg
	}
	fmt.Fprintf(&b, "  registry: %s\n", reg)
	fmt.Fprintf(&b, "  program:  %s\n", p.self.String())
	if len(p.parents) > 0 {
		parents := make([]string, len(p.parents))
		for i, q := range p.parents {
			parents[i] = q.String()
		}
		fmt.Fprintf(&b, "  parents:  %s\n", strings.Join(parents, " ← "))
	}
	if p.via != nil {
		fmt.Fprintf(&b, "  via:      %s, vigil's cargo credential provider\n", p.via.String())
	}
	if r.who.OtherMountNS || r.who.OtherPIDNS {
		b.WriteString("  NOTE:     the caller runs in another namespace (a container?)\n")
	}
	b.WriteString("  path:     local\n")
	if note != "" {
		fmt.Fprintf(&b, "  NOTE:     %s\n", note)
	}
	if r.Operation == cargo.OpRead {
		if _, ok := c.grantKey(r); ok {
			fmt.Fprintf(&b, "  NOTE:     yes also lets this program read this registry for %s without asking again.\n",
				humanDuration(c.cfg.ReadGrant))
		}
		b.WriteString("  NOTE:     the token is not limited to reading: whoever has it can also publish with it.\n")
	}
	return b.String()
}

// humanDuration says "10 minutes" rather than "10m0s".
func humanDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return words.Count(int(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return words.Count(int(d/time.Minute), "minute")
	case d%time.Second == 0:
		return words.Count(int(d/time.Second), "second")
	}
	return d.String()
}
