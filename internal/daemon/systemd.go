package daemon

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// listenFDsStart is the first file descriptor systemd passes (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// Activated returns the socket systemd passed to this process, given the
// values of LISTEN_PID and LISTEN_FDS (read by the caller from the
// environment). It returns nil, nil when the process was not socket
// activated. Exactly one unix stream socket is accepted: anything else is a
// unit file mistake, reported rather than guessed around.
func Activated(listenPID, listenFDs string) (*net.UnixListener, error) {
	if listenPID == "" && listenFDs == "" {
		return nil, nil
	}
	if listenPID != fmt.Sprint(os.Getpid()) {
		// Meant for another process (inherited environment): ignore.
		return nil, nil
	}
	if listenFDs != "1" {
		return nil, fmt.Errorf("socket activation: LISTEN_FDS=%q, want exactly one socket", listenFDs)
	}
	f := os.NewFile(listenFDsStart, "systemd-socket")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok {
		ln.Close()
		return nil, fmt.Errorf("socket activation: fd 3 is a %s socket, want unix", ln.Addr().Network())
	}
	ul.SetUnlinkOnClose(false) // systemd owns the socket file
	return ul, nil
}

// Notify sends a state string such as "READY=1" to the service manager at
// addr (the value of NOTIFY_SOCKET). An empty addr is not an error: the
// process was not started by systemd with Type=notify.
func Notify(addr, state string) error {
	if addr == "" {
		return nil
	}
	if strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:] // abstract namespace
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
