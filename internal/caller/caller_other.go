//go:build !linux && !darwin && !windows

package caller

import (
	"errors"
	"net"
)

// FromConn fails on platforms where peer credentials are not implemented
// yet, so the daemon refuses the connection instead of serving an unknown
// user (fail closed).
func FromConn(c net.Conn) (*Info, error) {
	return nil, errors.New("caller: peer credentials are not implemented on this platform")
}
