//go:build linux || darwin

package caller

import (
	"fmt"
	"net"
	"syscall"
)

// rawConn is the socket under c, for reading its peer credentials. Only a
// connection with a file descriptor (a *net.UnixConn) has a peer to ask.
func rawConn(c net.Conn) (syscall.RawConn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("caller: a %T has no peer credentials", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("caller: %w", err)
	}
	return raw, nil
}
