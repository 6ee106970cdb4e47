//go:build !windows

package main

import (
	"net"
	"time"
)

// dialAgent connects to the agent's socket, waiting at most 10s.
func dialAgent(path string) (net.Conn, error) {
	return net.DialTimeout("unix", path, 10*time.Second)
}
