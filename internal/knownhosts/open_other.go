//go:build !unix

package knownhosts

import "os"

// openFlags opens a known_hosts file.
const openFlags = os.O_RDONLY
