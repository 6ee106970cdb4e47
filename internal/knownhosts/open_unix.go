//go:build unix

package knownhosts

import (
	"os"
	"syscall"
)

// openFlags opens a known_hosts file without blocking on a FIFO swapped in
// after the Stat; readFile then refuses anything not regular.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK
