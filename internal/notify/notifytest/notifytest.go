//go:build linux

// Package notifytest (Linux only) runs a private session bus with a fake
// org.freedesktop.Notifications service that records what it is sent, for
// tests of package notify and of vigil end to end.
package notifytest

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// Call is one Notify call the service received.
type Call struct {
	App, Summary, Body string
}

// Service is a private bus (dbus-daemon, from the Debian package
// dbus-daemon) and the fake notification service on it.
type Service struct {
	// Address is the bus's address, for DBUS_SESSION_BUS_ADDRESS.
	Address string

	mu    sync.Mutex
	calls []Call
	more  chan struct{} // closed and replaced at each call
}

// Start starts a bus and the service; both stop when the test ends.
func Start(t testing.TB) *Service {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Fatal("dbus-daemon not found in PATH: install the Debian package dbus-daemon (apt-get install -y dbus-daemon)")
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "--session", "--nofork", "--nopidfile", "--print-address=1",
		"--address=unix:path="+filepath.Join(dir, "bus"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	// dbus-daemon prints its address once it listens.
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	s := &Service{more: make(chan struct{})}
	select {
	case s.Address = <-addr:
	case <-time.After(20 * time.Second):
		t.Fatal("dbus-daemon printed no address within 20s")
	}
	if s.Address == "" {
		t.Fatal("dbus-daemon exited without printing its address")
	}

	conn, err := dbus.Connect(s.Address)
	if err != nil {
		t.Fatalf("connect to the test bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	methods := map[string]any{
		"Notify": func(app string, _ uint32, _, summary, body string, _ []string, _ map[string]dbus.Variant, _ int32) (uint32, *dbus.Error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.calls = append(s.calls, Call{App: app, Summary: summary, Body: body})
			close(s.more)
			s.more = make(chan struct{})
			return uint32(len(s.calls)), nil
		},
		"GetCapabilities": func() ([]string, *dbus.Error) { return []string{"body"}, nil },
		"GetServerInformation": func() (string, string, string, string, *dbus.Error) {
			return "notifytest", "vigil", "1", "1.2", nil
		},
	}
	if err := conn.ExportMethodTable(methods, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own org.freedesktop.Notifications: reply %v, %v", reply, err)
	}
	return s
}

// Calls returns the calls received so far.
func (s *Service) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Wait waits until n calls have arrived, or fails the test after timeout,
// and returns them all.
func (s *Service) Wait(t testing.TB, n int, timeout time.Duration) []Call {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		calls, more := append([]Call(nil), s.calls...), s.more
		s.mu.Unlock()
		if len(calls) >= n {
			return calls
		}
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("%d notifications within %v, want %d: %+v", len(calls), timeout, n, calls)
		}
	}
}
