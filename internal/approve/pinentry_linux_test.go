package approve

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hangingPinentry starts Decide against a pinentry that starts a child and
// never answers. It returns once the pinentry is waiting at CONFIRM, with
// a pidfd for its child and Decide's result to come.
func hangingPinentry(t *testing.T, ctx context.Context) (childFD int, result <-chan error) {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatalf("sleep: %v", err)
	}
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p, _ := fakePinentryFor(t, "hang", "FAKE_SOCK="+sock, "FAKE_SLEEP="+sleep)
	done := make(chan error, 1)
	go func() {
		d, err := p.Decide(ctx, gitPrompt)
		if d.Allow {
			err = errors.New("allowed")
		}
		done <- err
	}()
	// Wait by dialling: the pinentry connects once it is at CONFIRM.
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd, done
}

// waitExited waits for the process behind a pidfd to end (or become a
// zombie, which in a container nobody may reap).
func waitExited(t *testing.T, fd int) {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 10_000)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("the pinentry's child still runs 10s after the prompt ended")
		}
		return
	}
}

func TestPinentryCancelKillsGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(withDeadline(t, time.Minute))
	fd, done := hangingPinentry(t, ctx)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Decide after cancel = %v, want context.Canceled", err)
	}
	waitExited(t, fd)
}

func TestPinentryDeadlineKillsGroup(t *testing.T) {
	ctx := withDeadline(t, 2*time.Second)
	fd, done := hangingPinentry(t, ctx)
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Decide at the deadline = %v, want context.DeadlineExceeded", err)
	}
	waitExited(t, fd)
}
