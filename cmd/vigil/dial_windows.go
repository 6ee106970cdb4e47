package main

import (
	"net"
	"time"

	"github.com/Microsoft/go-winio"
)

// dialAgent connects to the agent's named pipe, waiting at most 10s for a
// free instance. Untested: only compiled (GOOS=windows go vet).
func dialAgent(path string) (net.Conn, error) {
	timeout := 10 * time.Second
	return winio.DialPipe(path, &timeout)
}
