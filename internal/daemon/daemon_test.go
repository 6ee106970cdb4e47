//go:build unix

package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/vigil-agent/vigil/internal/caller"
)

func TestListenOwnDir(t *testing.T) {
	base := t.TempDir()
	tests := []struct {
		name  string
		setup func(dir string)
		err   string
	}{
		{"created", func(string) {}, ""},
		{"existing private", func(dir string) { os.Mkdir(dir, 0o700) }, ""},
		{"group readable", func(dir string) { os.Mkdir(dir, 0o750) }, "lets other users in"},
		{"world writable", func(dir string) { os.Mkdir(dir, 0o777); os.Chmod(dir, 0o777) }, "lets other users in"},
		{"symlink", func(dir string) {
			target := dir + "-target"
			os.Mkdir(target, 0o700)
			os.Symlink(target, dir)
		}, "symlink"},
		{"file", func(dir string) { os.WriteFile(dir, nil, 0o600) }, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(base, strings.ReplaceAll(tt.name, " ", "-"))
			tt.setup(dir)
			s, err := Listen(filepath.Join(dir, "agent.sock"), ListenOptions{OwnDir: true})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Listen error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			fi, err := os.Stat(s.Path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
				t.Errorf("socket mode %v, want a 0600 socket", fi.Mode())
			}
			if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
				t.Errorf("directory mode %v, want 0700", di.Mode().Perm())
			}
		})
	}
}

func TestListenOtherOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root to create a directory owned by someone else")
	}
	dir := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(filepath.Join(dir, "agent.sock"), ListenOptions{OwnDir: true}); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("Listen in another user's directory: %v", err)
	}
}

func TestLiveAndStaleSockets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	first, err := Listen(path, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The live socket answers a dial: never replace it.
	go func() {
		for {
			c, err := first.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := Listen(path, ListenOptions{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Listen on a live socket = %v, want ErrInUse", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("live socket removed: %v", err)
	}
	// A dead agent's socket (file left behind, nobody listening) is stale.
	first.Listener.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("socket file should outlive a crashed listener: %v", err)
	}
	second, err := Listen(path, ListenOptions{})
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("Close left the socket file behind: %v", err)
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	os.WriteFile(path, []byte("precious"), 0o600)
	if _, err := Listen(path, ListenOptions{}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Listen over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Error("regular file was touched")
	}
}

func TestCloseKeepsSomeoneElsesSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	s, err := Listen(path, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Someone replaced our socket file (say, a second agent after ours was
	// unlinked by hand): Close must not remove theirs.
	os.Remove(path)
	other, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Close removed a socket it did not create: %v", err)
	}
}

type echoHandler struct {
	mu   sync.Mutex
	uids []uint32
}

// ServeConn answers every frame with SSH_AGENT_SUCCESS.
func (h *echoHandler) ServeConn(ctx context.Context, c net.Conn, who *caller.Info) {
	h.mu.Lock()
	h.uids = append(h.uids, who.UID)
	h.mu.Unlock()
	defer c.Close()
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(hdr[:]))); err != nil {
			return
		}
		c.Write([]byte{0, 0, 0, 1, 6})
	}
}

// TestPeerCheck connects as another user (nobody) to a socket whose mode a
// careless admin widened: the connection must be closed unanswered.
func TestPeerCheck(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root to run a client as another user")
	}
	dir, err := os.MkdirTemp("", "vigil-peer")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	s, err := Listen(filepath.Join(dir, "agent.sock"), ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(s.Path, 0o666)
	h := &echoHandler{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Serve(ctx, s.Listener, h, nil) }()

	client := func(uid uint32) string {
		cmd := exec.Command("/usr/bin/python3", "-c", `
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
try:
    s.sendall(b"\0\0\0\x01\x0b")
    print("answered" if s.recv(5) else "closed")
except ConnectionError:
    print("closed")
`, s.Path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client as uid %d: %v: %s", uid, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := client(65534); got != "closed" {
		t.Errorf("another user's connection was %s, want closed", got)
	}
	if got := client(0); got != "answered" {
		t.Errorf("root's connection was %s, want answered", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, uid := range h.uids {
		if uid != 0 {
			t.Errorf("handler saw uid %d", uid)
		}
	}
}
