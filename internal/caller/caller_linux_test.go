package caller

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The test binary doubles as a client process: started with helperSock set,
// it connects to that socket and then holds the connection, exits, or
// executes another program with the connection still open. That way the
// tests control exactly what is on the other end, including its argv[0],
// its comm, its executable file and its namespaces.
const (
	helperSock = "VIGIL_CALLER_HELPER_SOCK"
	helperMode = "VIGIL_CALLER_HELPER_MODE" // "" (hold), "exit", "exec"
	helperExec = "VIGIL_CALLER_HELPER_EXEC" // for exec: path, argv[0], args, one a line
	helperComm = "VIGIL_CALLER_HELPER_COMM" // set comm with PR_SET_NAME first
	helperBind = "VIGIL_CALLER_HELPER_BIND" // bind mount: source, target, one a line
)

func init() {
	if os.Getenv(helperSock) != "" {
		// Keeps main on the main thread, whose name is the process's comm.
		runtime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if sock := os.Getenv(helperSock); sock != "" {
		os.Exit(helperMain(sock))
	}
	os.Exit(m.Run())
}

func helperMain(sock string) int {
	fail := func(what string, err error) int {
		fmt.Fprintf(os.Stderr, "helper: %s: %v\n", what, err)
		return 2
	}
	if name := os.Getenv(helperComm); name != "" {
		p, err := unix.BytePtrFromString(name)
		if err != nil {
			return fail("comm", err)
		}
		if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(p)), 0, 0, 0); err != nil {
			return fail("prctl", err)
		}
	}
	if b := os.Getenv(helperBind); b != "" {
		// In a mount namespace of our own: keep the mount from
		// propagating back, then put one file over another.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fail("make / private", err)
		}
		src, dst, _ := strings.Cut(b, "\n")
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			return fail("bind mount", err)
		}
	}
	// No SOCK_CLOEXEC: the connection survives exec.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return fail("socket", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: sock}); err != nil {
		return fail("connect", err)
	}
	switch os.Getenv(helperMode) {
	case "exit":
		return 0
	case "exec":
		a := strings.Split(os.Getenv(helperExec), "\n")
		return fail("exec", unix.Exec(a[0], a[1:], os.Environ()))
	}
	// Hold the connection until the test closes its end.
	var b [64]byte
	for {
		n, err := unix.Read(fd, b[:])
		if n <= 0 && err != unix.EINTR {
			return 0
		}
	}
}

// client is one helper process connected to the test's listener.
type client struct {
	cmd    *exec.Cmd
	server *net.UnixConn
}

type clientOpts struct {
	exe   string   // default: this test binary
	argv  []string // default: the exe's path
	env   []string
	attrs *syscall.SysProcAttr
	quiet bool // discard stderr
	stdin bool // give the client a stdin that stays open
}

func listen(t testing.TB) (*net.UnixListener, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, sock
}

// selfConn is the server side of a connection this process makes to
// itself.
func selfConn(t testing.TB) *net.UnixConn {
	t.Helper()
	ln, sock := listen(t)
	client, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return server
}

// startClient starts a helper and accepts its connection.
func startClient(t *testing.T, o clientOpts) (*client, error) {
	t.Helper()
	ln, sock := listen(t)
	if o.exe == "" {
		o.exe = testBinary(t)
	}
	if o.argv == nil {
		o.argv = []string{o.exe}
	}
	cmd := &exec.Cmd{
		Path: o.exe,
		Args: o.argv,
		// A -race binary waits a second at exit unless told not to.
		Env:         append(append(os.Environ(), helperSock+"="+sock, "GORACE=atexit_sleep_ms=0"), o.env...),
		SysProcAttr: o.attrs,
	}
	if !o.quiet {
		cmd.Stderr = os.Stderr
	}
	if o.stdin {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		defer r.Close()
		cmd.Stdin = r
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ln.SetDeadline(time.Now().Add(20 * time.Second))
	server, err := ln.AcceptUnix()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { server.Close() })
	return &client{cmd: cmd, server: server}, nil
}

func testBinary(t testing.TB) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// waitExe waits until pid runs the executable at path (after an exec), and
// has its command line: the kernel switches the executable a moment before
// it sets up the new arguments.
func waitExe(t *testing.T, pid int, path string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("pid %d to run %s", pid, path), func() bool {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		return (l == path || l == path+deletedSuffix) && len(cmdline) > 0
	})
}

func fromConnT(t *testing.T, c *net.UnixConn, peerPidfd bool) *Info {
	t.Helper()
	info, err := fromConn(c, peerPidfd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(info.Close)
	return info
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func realPath(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFromConnSelf(t *testing.T) {
	server := selfConn(t)

	for _, peerPidfd := range []bool{true, false} {
		t.Run(fmt.Sprintf("SO_PEERPIDFD=%v", peerPidfd), func(t *testing.T) {
			info := fromConnT(t, server, peerPidfd)
			if info.PID != os.Getpid() || info.UID != uint32(os.Getuid()) {
				t.Fatalf("got pid %d uid %d, want %d %d", info.PID, info.UID, os.Getpid(), os.Getuid())
			}
			exe := testBinary(t)
			p := info.Program()
			if p.Exe != exe {
				t.Errorf("exe = %q, want %q", p.Exe, exe)
			}
			if want := sha256File(t, exe); p.Hash != want {
				t.Errorf("hash = %q, want %q", p.Hash, want)
			}
			if p.Deleted || p.Replaced || p.Argv != nil {
				t.Errorf("Program() = %+v: want not deleted, not replaced, no argv before Lineage", p)
			}
			wantBinding := "SO_PEERPIDFD"
			if !peerPidfd {
				wantBinding = "pidfd_open+socket"
			}
			if info.Binding != wantBinding {
				t.Errorf("Binding = %q, want %q", info.Binding, wantBinding)
			}
			if info.OtherMountNS || info.OtherPIDNS {
				t.Errorf("same namespace reported as other: mnt %v pid %v", info.OtherMountNS, info.OtherPIDNS)
			}
			if !info.Alive() {
				t.Error("Alive() = false for this very process")
			}
			chain := info.Lineage()
			if len(chain) < 2 {
				t.Fatalf("lineage has %d entries, want the test binary and its parent", len(chain))
			}
			if chain[0].Exe != exe || len(chain[0].Argv) == 0 || chain[0].Argv[0] != sanitizeArg(os.Args[0]) {
				t.Errorf("lineage[0] = %+v, want the test binary with its argv", chain[0])
			}
			if chain[1].PID != os.Getppid() {
				t.Errorf("lineage[1].PID = %d, want %d", chain[1].PID, os.Getppid())
			}
			if s := info.String(); !strings.Contains(s, "(pid ") || !strings.Contains(s, " ← ") {
				t.Errorf("String() = %q", s)
			}
			if s := info.Summary(); !strings.HasPrefix(s, filepath.Base(exe)) {
				t.Errorf("Summary() = %q", s)
			}
		})
	}
}

func sanitizeArg(s string) string { return parseCmdline([]byte(s+"\x00"), false)[0] }

func TestUnknownProgram(t *testing.T) {
	i := &Info{PID: 4242}
	if got, want := i.String(), "unknown program (pid 4242)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := i.Summary(), "unknown program (pid 4242)"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if i.Alive() {
		t.Error("Alive() without a handle must be false")
	}
	i.Close()
}

// A process names itself: neither argv[0] nor comm may show up as its name.
func TestRenamedProcess(t *testing.T) {
	sleep := realPath(t, "/bin/sleep")
	python := filepath.Join(t.TempDir(), "x", "python3")
	copyFile(t, testBinary(t), python)
	tests := []struct {
		name      string
		opts      clientOpts
		exe       string // expected executable
		comm      string // what the process set as comm
		summary   string
		waitExec  bool
		wantArgv0 string
	}{
		{
			name: "bash exec -a git /bin/sleep",
			opts: clientOpts{
				env: []string{helperMode + "=exec",
					helperExec + "=/bin/bash\nbash\n-c\nexec -a git /bin/sleep 1000"},
			},
			exe: sleep, summary: "sleep, run by ", waitExec: true, wantArgv0: "git",
		},
		{
			name: "PR_SET_NAME git, argv[0] git, running /tmp/x/python3",
			opts: clientOpts{exe: python, argv: []string{"git", "push"}, env: []string{helperComm + "=git"}},
			exe:  python, comm: "git", summary: "python3 (" + python + "), run by ", wantArgv0: "git",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := startClient(t, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			pid := c.cmd.Process.Pid
			if tt.waitExec {
				waitExe(t, pid, tt.exe)
			}
			if tt.comm != "" {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				if got := strings.TrimSpace(string(comm)); got != tt.comm {
					t.Fatalf("setup: comm = %q, want %q", got, tt.comm)
				}
			}
			info := fromConnT(t, c.server, true)
			if got := info.Program().Exe; got != tt.exe {
				t.Errorf("exe = %q, want %q", got, tt.exe)
			}
			if got, want := info.Program().Name(), filepath.Base(tt.exe); got != want {
				t.Errorf("Name() = %q, want %q", got, want)
			}
			if want := sha256File(t, tt.exe); info.Program().Hash != want {
				t.Errorf("hash = %q, want %q", info.Program().Hash, want)
			}
			chain := info.Lineage()
			if len(chain[0].Argv) == 0 || chain[0].Argv[0] != tt.wantArgv0 {
				t.Errorf("argv = %q, want argv[0] %q (kept as description)", chain[0].Argv, tt.wantArgv0)
			}
			s := info.Summary()
			if !strings.HasPrefix(s, tt.summary) || strings.HasPrefix(s, "git") {
				t.Errorf("Summary() = %q, want it to start with %q", s, tt.summary)
			}
			if strings.Contains(info.String(), "git") {
				t.Errorf("String() = %q names the process by what it calls itself", info.String())
			}
		})
	}
}

// The process is gone before FromConn: nothing may be said about whatever
// now has its pid.
func TestExitedPeer(t *testing.T) {
	for _, peerPidfd := range []bool{true, false} {
		t.Run(fmt.Sprintf("SO_PEERPIDFD=%v", peerPidfd), func(t *testing.T) {
			c, err := startClient(t, clientOpts{env: []string{helperMode + "=exit"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.cmd.Wait(); err != nil {
				t.Fatal(err)
			}
			info := fromConnT(t, c.server, peerPidfd)
			assertUnknown(t, info, c.cmd.Process.Pid)
		})
	}
}

func assertUnknown(t *testing.T, info *Info, pid int) {
	t.Helper()
	if info.PID != pid {
		t.Errorf("PID = %d, want %d", info.PID, pid)
	}
	want := fmt.Sprintf("unknown program (pid %d)", pid)
	if len(info.Chain) != 0 || info.String() != want || info.Summary() != want {
		t.Errorf("Chain %v, String() %q, Summary() %q: want %q", info.Chain, info.String(), info.Summary(), want)
	}
	if info.Alive() {
		t.Error("Alive() = true")
	}
}

// A pid reused between connect and FromConn: the kernel is made to give the
// exited client's pid to a new process (ns_last_pid, which needs root), and
// FromConn must not describe that process.
func TestPidReused(t *testing.T) {
	for _, peerPidfd := range []bool{true, false} {
		t.Run(fmt.Sprintf("SO_PEERPIDFD=%v", peerPidfd), func(t *testing.T) {
			c, err := startClient(t, clientOpts{env: []string{helperMode + "=exit"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.cmd.Wait(); err != nil {
				t.Fatal(err)
			}
			pid := c.cmd.Process.Pid
			if stranger := reusePid(t, pid); stranger == nil {
				t.Logf("pid %d could not be reused here (needs root); checked the exited case only", pid)
			} else {
				t.Logf("pid %d now names /bin/sleep", stranger.Process.Pid)
			}
			info := fromConnT(t, c.server, peerPidfd)
			assertUnknown(t, info, pid)
		})
	}
}

// reusePid starts a long-running process with the given (free) pid, or
// returns nil when this kernel or user cannot do that.
func reusePid(t *testing.T, pid int) *exec.Cmd {
	t.Helper()
	for try := 0; try < 50; try++ {
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			return nil
		}
		cmd := exec.Command("/bin/sleep", "1000")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		if cmd.Process.Pid == pid {
			return cmd
		}
	}
	return nil
}

// On the fallback path, a process that does not hold the other end of the
// connection is refused, even when it has the pid that connected.
func TestBindByPidRefusesStranger(t *testing.T) {
	c, err := startClient(t, clientOpts{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.server.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	raw.Control(func(fd uintptr) { err = unix.Fstat(int(fd), &st) })
	if err != nil {
		t.Fatal(err)
	}
	stranger := exec.Command("/bin/sleep", "1000")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stranger.Process.Kill()
		stranger.Wait()
	})
	if h, binding := bindByPid(stranger.Process.Pid, st.Ino); h != nil {
		h.close()
		t.Errorf("bound a process that does not hold the socket (binding %q)", binding)
	}
	h, binding := bindByPid(c.cmd.Process.Pid, st.Ino)
	if h == nil || binding != "pidfd_open+socket" {
		t.Fatalf("the real client was refused: binding %q", binding)
	}
	h.close()
}

func TestDeletedExecutable(t *testing.T) {
	sleep := realPath(t, "/bin/sleep")
	tests := []struct {
		name              string
		change            func(t *testing.T, path string) (shown string)
		deleted, replaced bool
		flag              string
	}{
		{
			name:   "unchanged",
			change: func(t *testing.T, path string) string { return path },
		},
		{
			name: "deleted",
			change: func(t *testing.T, path string) string {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				return path
			},
			deleted: true, flag: "[executable deleted since it started]",
		},
		{
			name: "replaced by rename",
			change: func(t *testing.T, path string) string {
				if err := os.WriteFile(path+".new", []byte("#!/bin/sh\n"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(path+".new", path); err != nil {
					t.Fatal(err)
				}
				return path
			},
			deleted: true, replaced: true, flag: "[executable replaced since it started]",
		},
		{
			name: "renamed away, another file put at the path",
			change: func(t *testing.T, path string) string {
				if err := os.Rename(path, path+".old"); err != nil {
					t.Fatal(err)
				}
				copyFile(t, "/bin/true", path)
				return path + ".old" // the kernel follows the file
			},
		},
		{
			name: "file named like a deleted one",
			change: func(t *testing.T, path string) string {
				return path // the copy is named "sleep (deleted)" below
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "sleep"
			if strings.HasPrefix(tt.name, "file named") {
				name = "sleep" + deletedSuffix
			}
			path := filepath.Join(realPath(t, t.TempDir()), "x", name)
			copyFile(t, sleep, path)
			c, err := startClient(t, clientOpts{env: []string{helperMode + "=exec",
				helperExec + "=" + path + "\nsleep\n1000"}})
			if err != nil {
				t.Fatal(err)
			}
			waitExe(t, c.cmd.Process.Pid, path)
			shown := tt.change(t, path)

			info := fromConnT(t, c.server, true)
			p := info.Program()
			if p.Exe != shown || p.Deleted != tt.deleted || p.Replaced != tt.replaced {
				t.Errorf("got exe %q deleted %v replaced %v, want %q %v %v",
					p.Exe, p.Deleted, p.Replaced, shown, tt.deleted, tt.replaced)
			}
			// The hash is of the file running, not of what is at the path now.
			if want := sha256File(t, sleep); p.Hash != want {
				t.Errorf("hash = %q, want that of %s, %q", p.Hash, sleep, want)
			}
			if tt.flag != "" && !strings.Contains(info.String(), tt.flag) {
				t.Errorf("String() = %q, want %q", info.String(), tt.flag)
			}
			if tt.flag != "" && !strings.Contains(info.Summary(), tt.flag) {
				t.Errorf("Summary() = %q, want %q", info.Summary(), tt.flag)
			}
		})
	}
}

// A second connection from the same executable costs no hash; a changed
// file is hashed again.
func TestHashCache(t *testing.T) {
	path := filepath.Join(realPath(t, t.TempDir()), "bin", "prog")
	copyFile(t, testBinary(t), path)
	connect := func() *Info {
		c, err := startClient(t, clientOpts{exe: path})
		if err != nil {
			t.Fatal(err)
		}
		info := fromConnT(t, c.server, true)
		c.server.Close() // the client exits, so its file can be written
		c.cmd.Wait()
		return info
	}
	before := hashCount.Load()
	first := connect()
	if got := hashCount.Load() - before; got != 1 {
		t.Errorf("first connection hashed %d times, want 1", got)
	}
	second := connect()
	if got := hashCount.Load() - before; got != 1 {
		t.Errorf("second connection from the same executable hashed again (%d hashes)", got)
	}
	if first.Program().Hash != second.Program().Hash || first.Program().Hash == "" {
		t.Errorf("hashes %q and %q", first.Program().Hash, second.Program().Hash)
	}
	// Same path, changed content (appended bytes): a new version of the file.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("changed")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	third := connect()
	if got := hashCount.Load() - before; got != 2 {
		t.Errorf("changed executable: %d hashes in all, want 2", got)
	}
	if third.Program().Hash != sha256File(t, path) {
		t.Errorf("hash of changed file = %q, want %q", third.Program().Hash, sha256File(t, path))
	}
}

func TestNamespaces(t *testing.T) {
	t.Run("same", func(t *testing.T) {
		c, err := startClient(t, clientOpts{})
		if err != nil {
			t.Fatal(err)
		}
		info := fromConnT(t, c.server, true)
		if info.OtherMountNS || info.OtherPIDNS || strings.Contains(info.Summary(), "namespace") {
			t.Errorf("same namespaces reported as other: %v %v %q", info.OtherMountNS, info.OtherPIDNS, info.Summary())
		}
	})
	// A namespace of the client's own: a container, or unshare. With a
	// bind mount in it, the client's /x/git is another program than
	// vigil's /x/git, and must not pass for it.
	dir := realPath(t, t.TempDir())
	git, fake := filepath.Join(dir, "git"), filepath.Join(dir, "fake")
	copyFile(t, "/bin/true", git)
	copyFile(t, "/bin/sleep", fake)
	tests := []struct {
		name       string
		env        []string
		exe        string
		deleted    bool
		flag       string
		wantHashOf string
	}{
		{name: "other namespaces", exe: testBinary(t), wantHashOf: testBinary(t)},
		{
			name: "bind mount over a path",
			env: []string{helperBind + "=" + fake + "\n" + git,
				helperMode + "=exec", helperExec + "=" + git + "\ngit\n1000"},
			exe: git, deleted: true, flag: "[not the file at this path on this system]", wantHashOf: fake,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attrs := []*syscall.SysProcAttr{
				{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID},
				{
					Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID,
					UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
					GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
				},
			}
			var c *client
			var err error
			for _, a := range attrs {
				if c, err = startClient(t, clientOpts{attrs: a, env: tt.env}); err == nil {
					break
				}
			}
			if err != nil {
				t.Logf("cannot create namespaces here (%v); checked the same-namespace case only", err)
				return
			}
			if tt.exe != testBinary(t) {
				waitExe(t, c.cmd.Process.Pid, tt.exe)
			}
			info := fromConnT(t, c.server, true)
			if !info.OtherMountNS || !info.OtherPIDNS {
				t.Errorf("other namespaces not seen: mnt %v pid %v", info.OtherMountNS, info.OtherPIDNS)
			}
			p := info.Program()
			if p.Exe != tt.exe || p.Deleted != tt.deleted || p.Replaced {
				t.Errorf("got exe %q deleted %v replaced %v, want %q %v false", p.Exe, p.Deleted, p.Replaced, tt.exe, tt.deleted)
			}
			if want := sha256File(t, tt.wantHashOf); p.Hash != want {
				t.Errorf("hash = %q, want that of %s", p.Hash, tt.wantHashOf)
			}
			s := info.Summary()
			if !strings.HasSuffix(s, "; in another mount and pid namespace (a container?)") || !strings.Contains(s, tt.flag) {
				t.Errorf("Summary() = %q", s)
			}
		})
	}
}

// Real git, and a shell in a terminal, starting a program that connects:
// the shapes Summary names.
func TestShapes(t *testing.T) {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is needed for this test:", err)
	}
	bin := filepath.Join(realPath(t, t.TempDir()), "bin")
	for _, name := range []string{"ssh", "ssh-keygen"} {
		copyFile(t, testBinary(t), filepath.Join(bin, name))
	}
	repo := t.TempDir()
	env := []string{"HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}
	if out, err := exec.Command(gitPath, "init", "-q", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	const key = "key::ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx3Y7r1n3kzlXDrYGZsMcTjqEt4Yx3ePRwjU3N2ggYW"
	script, err := exec.LookPath("script") // util-linux: runs a command on a new terminal
	if err != nil {
		t.Fatal("script(1) is needed for this test:", err)
	}
	tests := []struct {
		name  string
		exe   string
		argv  []string
		want  string
		chain []string // names in the lineage, from the caller up
		whole bool     // chain is the whole lineage
	}{
		{
			name: "ssh from a shell in a terminal",
			exe:  script,
			// script(1) runs its command with $SHELL -c, or sh when SHELL is
			// unset (as in CI): exec makes bash the session leader either way.
			argv: []string{"script", "-qec", "exec bash -c '" + filepath.Join(bin, "ssh") + "; true'", "/dev/null"},
			want: "ssh (" + filepath.Join(bin, "ssh") + "), run by bash in a terminal",
			// bash leads the terminal's session: the walk stops there.
			chain: []string{"ssh", "bash"}, whole: true,
		},
		{
			name: "git ls-remote over ssh",
			argv: []string{"git", "-C", repo, "-c", "core.sshCommand=" + filepath.Join(bin, "ssh"),
				"ls-remote", "ssh://example.invalid/repo"},
			want:  "git ls-remote over ssh (" + filepath.Join(bin, "ssh") + ")",
			chain: []string{"ssh", "git", filepath.Base(testBinary(t))},
		},
		{
			name: "git commit signing with ssh-keygen",
			argv: []string{"git", "-C", repo, "-c", "gpg.format=ssh", "-c", "user.signingKey=" + key,
				"-c", "gpg.ssh.program=" + filepath.Join(bin, "ssh-keygen"), "commit", "-q", "--allow-empty", "-S", "-m", "x"},
			want:  "git commit signing with ssh-keygen (" + filepath.Join(bin, "ssh-keygen") + ")",
			chain: []string{"ssh-keygen", "git", filepath.Base(testBinary(t))},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exe := tt.exe
			if exe == "" {
				exe = gitPath
			}
			c, err := startClient(t, clientOpts{exe: exe, argv: tt.argv, env: env, quiet: true, stdin: true})
			if err != nil {
				t.Fatal(err)
			}
			info := fromConnT(t, c.server, true)
			if got := info.Summary(); got != tt.want {
				t.Errorf("Summary() = %q, want %q\nString() = %q", got, tt.want, info.String())
			}
			var names []string
			for _, p := range info.Lineage() {
				names = append(names, p.Name())
			}
			if !slices.Equal(names[:min(len(names), len(tt.chain))], tt.chain) ||
				tt.whole && len(names) != len(tt.chain) {
				t.Errorf("lineage %q, want it to start %q\nString() = %q", names, tt.chain, info.String())
			}
			c.server.Close() // the helper exits, and git fails: expected here
			c.cmd.Wait()
		})
	}
}

// The caller exits after FromConn: what is read lazily cannot be vouched
// for, so only what was verified at accept is shown.
func TestLineageAfterExit(t *testing.T) {
	c, err := startClient(t, clientOpts{})
	if err != nil {
		t.Fatal(err)
	}
	info := fromConnT(t, c.server, true)
	c.server.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if info.Alive() {
		t.Error("Alive() = true after exit")
	}
	chain := info.Lineage()
	if len(chain) != 1 || chain[0].Argv != nil || chain[0].Exe != testBinary(t) {
		t.Errorf("lineage after exit = %+v, want the accept-time identity alone", chain)
	}
}

func TestCloseTwice(t *testing.T) {
	c, err := startClient(t, clientOpts{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := FromConn(c.server)
	if err != nil {
		t.Fatal(err)
	}
	// An fd opened after the first Close may get the pidfd's number; a
	// second Close must not close it.
	info.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	info.Close()
	if info.Alive() {
		t.Error("Alive() = true after Close")
	}
	if len(info.Lineage()) != 1 {
		t.Errorf("Lineage() after Close = %v", info.Lineage())
	}
	if _, err := w.Write([]byte("x")); err != nil {
		t.Errorf("second Close closed an unrelated fd: %v", err)
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
	dir, err := openProcDir(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	st, err := readStatAt(dir)
	if err != nil {
		t.Fatal(err)
	}
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir2, err := unix.Dup(dir)
	if err != nil {
		t.Fatal(err)
	}
	handles := map[string]*procHandle{
		"pidfd":      {pidfd: pidfd, dir: dir},
		"start time": {pidfd: -1, dir: dir2, start: st.start},
	}
	for name, h := range handles {
		if !h.alive() {
			t.Errorf("%s handle says a running process is dead", name)
		}
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	for name, h := range handles {
		if h.alive() {
			t.Errorf("%s handle says a reaped process is alive", name)
		}
		h.close()
	}
}

func TestParseDiagPeer(t *testing.T) {
	// A reply as the kernel sends it: nlmsghdr, unix_diag_msg, then
	// UNIX_DIAG_PEER (type 2) holding inode 4242.
	msg := make([]byte, 16+16+8)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(msg[32:], 8)
	ne.PutUint16(msg[34:], unixDiagPeer)
	ne.PutUint32(msg[36:], 4242)
	if got, err := parseDiagPeer(msg); err != nil || got != 4242 {
		t.Errorf("parseDiagPeer = %d, %v; want 4242", got, err)
	}
	ne.PutUint16(msg[34:], 1) // another attribute
	if _, err := parseDiagPeer(msg); err == nil {
		t.Error("parseDiagPeer found a peer where there is none")
	}
}

func FuzzParseDiagPeer(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseDiagPeer(b) // must not panic
	})
}

func TestPeerInode(t *testing.T) {
	ln, sock := listen(t)
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
	ino := func(c net.Conn) uint64 {
		raw, _ := c.(*net.UnixConn).SyscallConn()
		var st unix.Stat_t
		raw.Control(func(fd uintptr) { unix.Fstat(int(fd), &st) })
		return st.Ino
	}
	got, err := peerInode(ino(server))
	if err != nil {
		t.Fatal(err)
	}
	if want := ino(client); got != want {
		t.Errorf("peer inode = %d, want %d", got, want)
	}
	if _, err := peerInode(1); !errors.Is(err, unix.ENOENT) {
		t.Errorf("peerInode(1): %v, want ENOENT", err)
	}
}

func BenchmarkFromConn(b *testing.B) {
	server := selfConn(b)
	warm, _ := FromConn(server) // hashes the test binary once
	warm.Close()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		info, err := FromConn(server)
		if err != nil || len(info.Chain) != 1 {
			b.Fatal(err, info)
		}
		info.Close()
	}
}

// reportCPU adds the process's CPU time (user + system) per operation to
// the benchmark's results: on a shared, busy machine it varies less than
// the wall-clock time, which includes waiting for a CPU.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru unix.Rusage
		unix.Getrusage(unix.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkLineage(b *testing.B) {
	server := selfConn(b)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		info, _ := FromConn(server)
		if len(info.Lineage()) < 2 {
			b.Fatal("no parents")
		}
		info.Close()
	}
}

// BenchmarkExeHashCached is the executable identity of a process whose
// executable was hashed before: readlink, statx and a cache lookup.
func BenchmarkExeHashCached(b *testing.B) {
	dir, err := openProcDir(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(dir)
	if _, err := readExe(dir, false); err != nil {
		b.Fatal(err)
	}
	before := hashCount.Load()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if x, err := readExe(dir, false); err != nil || x.hash == "" {
			b.Fatal(err)
		}
	}
	if hashCount.Load() != before {
		b.Fatal("cached executable hashed again")
	}
}

// Lineage, String, Summary, Alive and Close may be called from several
// goroutines at once (a prompt, a log line, the connection ending).
func TestConcurrentUse(t *testing.T) {
	c, err := startClient(t, clientOpts{})
	if err != nil {
		t.Fatal(err)
	}
	info := fromConnT(t, c.server, true)
	done := make(chan string)
	for range 4 {
		go func() {
			info.Alive()
			info.Summary()
			done <- info.String()
		}()
	}
	first := <-done
	info.Close()
	for range 3 {
		if s := <-done; s != first {
			t.Errorf("String() = %q, then %q", first, s)
		}
	}
}
