package audit

import (
	"errors"
	"fmt"
)

// lockName is the file in the log directory that the writing Log holds an
// exclusive lock on. Two writers would each continue the chain from the
// same head, and Verify would then report the interleaved records as
// tampering; readers do not take the lock.
const lockName = "writer.lock"

// ErrInUse is wrapped by the error Open returns when another process
// already writes the log.
var ErrInUse = errors.New("in use by another vigil")

// inUse is Open's error for a directory another process writes; pid is 0
// when the holder could not be read.
func inUse(dir string, pid int) error {
	holder := ""
	if pid > 0 {
		holder = fmt.Sprintf(" (pid %d)", pid)
	}
	return fmt.Errorf("audit log %s is %w%s: stop that one, or give this one its own audit directory", dir, ErrInUse, holder)
}
