package caller

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// FromConn reads the peer credentials of c, pins the calling process, and
// reads the identity of its executable. Errors are returned only when the
// kernel gives no peer credentials at all; a process that cannot be read
// (gone, or not ours to read) yields an Info whose Chain is empty, shown as
// "unknown program (pid N)". Call it right after accept, and Close the Info
// when the connection ends.
func FromConn(c net.Conn) (*Info, error) {
	return fromConn(c, true)
}

// fromConn is FromConn; peerPidfd false acts as a kernel without
// SO_PEERPIDFD, so tests reach the fallback.
func fromConn(c net.Conn, peerPidfd bool) (*Info, error) {
	raw, err := rawConn(c)
	if err != nil {
		return nil, err
	}
	var (
		cred     *unix.Ucred
		credErr  error
		pidfd          = -1
		pidfdErr error = unix.ENOPROTOOPT
		sockIno  uint64
	)
	err = raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if credErr != nil {
			return
		}
		if peerPidfd {
			pidfd, pidfdErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PEERPIDFD)
		}
		if errors.Is(pidfdErr, unix.ENOPROTOOPT) {
			var st unix.Stat_t
			if unix.Fstat(int(fd), &st) == nil {
				sockIno = st.Ino
			}
		}
	})
	if err == nil {
		err = credErr
	}
	if err != nil {
		return nil, fmt.Errorf("caller: SO_PEERCRED: %w", err)
	}
	info := &Info{UID: cred.Uid, GID: cred.Gid, PID: int(cred.Pid)}
	h, binding := bind(info.PID, pidfd, pidfdErr, sockIno)
	if h == nil {
		return info, nil // gone, or unverifiable: never guess
	}
	info.handle, info.lazy = h, &lazyChain{}
	runtime.AddCleanup(info, (*procHandle).close, h)

	self, err := readProcAt(h.dir, info.PID, false)
	if err != nil {
		return info, nil
	}
	otherPID, err := otherNamespace(h.dir, "ns/pid", 1)
	if err != nil {
		return info, nil
	}
	h.exe = self.key
	info.Chain = []Process{self.Process}
	info.OtherMountNS, info.OtherPIDNS = self.otherMnt, otherPID
	info.Binding = binding
	return info, nil
}

// bind pins the process that connected. It returns nil when the process is
// gone or cannot be told apart from a newcomer with the same pid.
func bind(pid, pidfd int, pidfdErr error, sockIno uint64) (*procHandle, string) {
	if pid <= 0 { // not visible from our pid namespace
		if pidfdErr == nil {
			unix.Close(pidfd)
		}
		return nil, ""
	}
	switch {
	case pidfdErr == nil:
		// The pidfd names the process that connected, whatever happened
		// since. If it has not exited once /proc/PID is open, that
		// directory is the same process.
		h := &procHandle{pidfd: pidfd, dir: -1}
		dir, err := openProcDir(pid)
		if err != nil {
			h.close()
			return nil, ""
		}
		h.dir = dir
		if !h.alive() {
			h.close()
			return nil, ""
		}
		return h, "SO_PEERPIDFD"
	case errors.Is(pidfdErr, unix.ENOPROTOOPT):
		return bindByPid(pid, sockIno)
	default:
		// SO_PEERPIDFD exists but has no process to give: it exited.
		return nil, ""
	}
}

// bindByPid pins pid on a kernel without SO_PEERPIDFD: pidfd_open (Linux
// 5.3) or, before that, the /proc directory alone, and then checks that
// the process holds the other end of the connection.
func bindByPid(pid int, sockIno uint64) (*procHandle, string) {
	h := &procHandle{pidfd: -1, dir: -1}
	binding := "proc"
	if fd, err := unix.PidfdOpen(pid, 0); err == nil {
		h.pidfd, binding = fd, "pidfd_open"
	} else if err != unix.ENOSYS {
		return nil, "" // ESRCH: gone
	}
	dir, err := openProcDir(pid)
	if err != nil {
		h.close()
		return nil, ""
	}
	h.dir = dir
	// Without a pidfd, the start time pins the process for Alive.
	st, err := readStatAt(dir)
	if err != nil || !h.alive() {
		h.close()
		return nil, ""
	}
	h.start = st.start
	peer, err := peerInode(sockIno)
	if err != nil {
		// No sock_diag (CONFIG_UNIX_DIAG): the pid is only as good as
		// the time between connect and now; Binding says so.
		return h, binding
	}
	if ok, err := holdsSocket(dir, peer); err != nil || !ok {
		h.close()
		return nil, ""
	}
	return h, binding + "+socket"
}

// procHandle pins one process: by a pidfd when there is one, and by a
// directory handle on /proc/PID, through which everything is read.
type procHandle struct {
	mu     sync.RWMutex // held for reading while dir is used; close takes it
	closed bool
	pidfd  int // -1 when there is none
	dir    int
	start  uint64  // start time, checked by alive when there is no pidfd
	exe    fileKey // the executable read at accept
}

func (h *procHandle) alive() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return !h.closed && h.aliveLocked()
}

func (h *procHandle) aliveLocked() bool {
	if h.pidfd >= 0 {
		// A pidfd becomes readable when its process exits.
		fds := []unix.PollFd{{Fd: int32(h.pidfd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, 0)
			if err == unix.EINTR {
				continue
			}
			return err == nil && n == 0
		}
	}
	st, err := readStatAt(h.dir)
	return err == nil && st.state != 'Z' && st.state != 'X' && (h.start == 0 || st.start == h.start)
}

func (h *procHandle) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	if h.pidfd >= 0 {
		unix.Close(h.pidfd)
	}
	if h.dir >= 0 {
		unix.Close(h.dir)
	}
}

// exeKeyOf returns the file version the process behind dir is running, or
// the zero key.
func exeKeyOf(dir int) fileKey {
	var stx unix.Statx_t
	if unix.Statx(dir, "exe", 0, statxMask, &stx) != nil {
		return fileKey{}
	}
	return keyOf(&stx)
}

// lineage reads the caller's command line and walks up its parents. Each
// parent is read through its own /proc directory handle, opened and then
// confirmed as the parent (the child still names it), so a parent that
// exits mid-walk ends the walk instead of being replaced by a stranger.
func (h *procHandle) lineage(self Process) []Process {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return nil
	}
	st, err := readStatAt(h.dir)
	if err != nil {
		return nil
	}
	self.Argv = readCmdlineAt(h.dir)
	self.PPID = st.ppid
	// A command line belongs to the identity read at accept only if the
	// process has not run another program since.
	if exeKeyOf(h.dir) != h.exe {
		self.Argv = nil
	}
	chain := []Process{self}
	child, cst := h.dir, st
	for len(chain) <= MaxChain && cst.session != cst.pid && cst.ppid > 1 {
		ppid := cst.ppid
		dir, err := openProcDir(ppid)
		if err != nil {
			chain = append(chain, Process{PID: ppid})
			break
		}
		if again, err := readStatAt(child); err != nil || again.ppid != ppid {
			unix.Close(dir) // the parent exited while we looked
			break
		}
		p, err := readProcAt(dir, ppid, true)
		if err != nil {
			p.Process = Process{PID: ppid} // unreadable: unknown, never guessed
		}
		chain = append(chain, p.Process)
		if child != h.dir {
			unix.Close(child)
		}
		child, cst = dir, p.stat
		if err != nil {
			break
		}
	}
	if child != h.dir {
		unix.Close(child)
	}
	if !h.aliveLocked() {
		return nil // gone: what was read cannot be vouched for
	}
	return chain
}
