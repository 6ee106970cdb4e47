package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeLifecycle: vigil prints exactly its SSH_AUTH_SOCK line once the socket accepts, refuses a second
// instance on a live socket, and on SIGTERM or SIGINT exits 0 and removes its socket.
func TestServeLifecycle(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			bin := needVigil(t)
			ap := newApprover(t, "approve")
			sock := filepath.Join(shortTempDir(t), "agent.sock")
			a, err := launchVigil(t, bin, sock, ap)
			if err != nil {
				t.Fatal(err)
			}
			k := key(t, "ed25519")
			addKeys(t, a, k)

			// A second vigil on the same, live socket fails and leaves the first alone.
			cmd := exec.Command(bin, "serve", "--socket", sock, "--approver", ap.path)
			cmd.Env = vigilEnv(t)
			r := runCmd(t, 20*time.Second, cmd)
			if r.code != 1 || !strings.Contains(r.stderr, "already in use") {
				t.Errorf("second vigil on a live socket: want exit 1 and \"already in use\", got %v", r)
			}
			if r.stdout != "" {
				t.Errorf("second vigil printed %q on stdout", r.stdout)
			}
			if l := sshAddList(t, sock); len(l) != 1 || l[0].fp != k.fingerprint() {
				t.Fatalf("first vigil after the second one failed: ssh-add -l = %+v", l)
			}

			if !a.p.stop(t, sig) {
				t.Fatalf("vigil did not exit on %v", sig)
			}
			if code := a.p.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("vigil exited %d on %v, want 0; stderr:\n%s", code, sig, a.p.stderr.String())
			}
			if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket still there after %v: %v", sig, err)
			}
			if out := a.stdout.String(); out != a.first {
				t.Errorf("vigil printed more than its SSH_AUTH_SOCK line on stdout: %q", out)
			}
		})
	}
}

// TestServeStaleSocket: a socket file nobody listens on (left by a crash) does not stop vigil from starting.
// Only a live socket is refused (see the design notes: dial first, never unlink a live socket).
func TestServeStaleSocket(t *testing.T) {
	t.Parallel()
	bin := needVigil(t)
	sock := filepath.Join(shortTempDir(t), "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	a, err := launchVigil(t, bin, sock, newApprover(t, "approve"))
	if err != nil {
		t.Fatalf("vigil on a stale socket: %v", err)
	}
	if l := sshAddList(t, a.sock); len(l) != 0 {
		t.Errorf("ssh-add -l: %+v", l)
	}
}

// TestServeSocketPermissions: the socket is the user's alone (design notes: 0600 socket in a 0700 directory).
func TestServeSocketPermissions(t *testing.T) {
	t.Parallel()
	a := startVigil(t, newApprover(t, "approve"))
	fi, err := os.Lstat(a.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("%s is %v, not a socket", a.sock, fi.Mode())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("socket mode %v, want no group or other access", perm)
	}
	di, err := os.Stat(filepath.Dir(a.sock))
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("socket directory mode %v, want 0700", perm)
	}
}

// TestServeLifetimeFlag: --lifetime removes keys added without ssh-add -t after that long; keys added with -t keep
// their own lifetime.
func TestServeLifetimeFlag(t *testing.T) {
	t.Parallel()
	a := startVigil(t, newApprover(t, "approve"), "--lifetime", "2s")
	plain, timed := key(t, "ed25519"), key(t, "ecdsa256")
	start := time.Now()
	must(t, sshAdd(t, a.sock, plain.path))
	must(t, sshAdd(t, a.sock, "-t", "600", timed.path))
	if l := sshAddList(t, a.sock); len(l) != 2 {
		t.Fatalf("ssh-add -l: %+v, want 2 keys", l)
	}
	poll(t, 15*time.Second, "the key added without -t to expire after --lifetime 2s", func() (bool, string) {
		l := sshAddList(t, a.sock)
		return !hasFingerprint(l, plain.fingerprint()), fmt.Sprintf("still listed: %+v", l)
	})
	if d := time.Since(start); d < time.Second {
		t.Errorf("gone after %v, want about 2s", d)
	}
	if l := sshAddList(t, a.sock); len(l) != 1 || l[0].fp != timed.fingerprint() {
		t.Errorf("after expiry: %+v, want only the key added with -t 600", l)
	}
}
