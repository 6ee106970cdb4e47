//go:build unix

package daemon

import (
	"os"

	"github.com/vigil-agent/vigil/internal/caller"
)

// admitted says whether the peer may use the agent: only the owner of the
// process and root.
func admitted(who *caller.Info) bool {
	return who.UID == uint32(os.Geteuid()) || who.UID == 0
}
