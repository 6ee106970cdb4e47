package caller

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestFromConnSelf(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	info, err := FromConn(server)
	if err != nil {
		t.Fatal(err)
	}
	defer info.Close()
	if info.PID != os.Getpid() || info.UID != uint32(os.Getuid()) {
		t.Fatalf("got pid %d uid %d, want %d %d", info.PID, info.UID, os.Getpid(), os.Getuid())
	}
	exe, _ := os.Executable()
	if got := info.Program().Exe; got != exe {
		t.Errorf("exe = %q, want %q", got, exe)
	}
	if !info.Alive() {
		t.Error("Alive() = false for this very process")
	}
	if len(info.Chain) < 2 {
		t.Errorf("chain has %d entries, want the test binary and its parent", len(info.Chain))
	}
	if s := info.String(); !strings.Contains(s, "(pid ") || !strings.Contains(s, " ← ") {
		t.Errorf("String() = %q", s)
	}
}

func TestUnknownProgram(t *testing.T) {
	i := &Info{PID: 4242}
	if got, want := i.String(), "unknown program (pid 4242)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if i.Alive() {
		t.Error("Alive() without a handle must be false")
	}
}

func TestExitedProcessNotAlive(t *testing.T) {
	// cat waits on its stdin, so it is certainly alive while it is read.
	cmd := exec.Command("cat")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proc, err := readProcess(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	h := startTimeHandle{pid: cmd.Process.Pid, start: proc.StartTime}
	if !h.alive() {
		t.Fatal("start-time handle says a running process is dead")
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if h.alive() {
		t.Error("start-time handle says a reaped process is alive")
	}
}
