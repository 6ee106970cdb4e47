package caller

import (
	"errors"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Everything here reads a process through a directory handle on /proc/PID.
// That handle refers to the process, not to the number: once the process
// is reaped, reads through it fail (ESRCH), even if a new process has been
// given the same pid. So a read that succeeds describes the process the
// handle was opened on.

var (
	errGone    = errors.New("process has exited")
	errChanged = errors.New("executable changed while it was read")
)

func openProcDir(pid int) (int, error) {
	return unix.Open("/proc/"+strconv.Itoa(pid), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// readAt reads the file name under dir into buf, returning the byte count.
// If last is not 0, a read that ends with that byte ends the file: a
// one-line /proc file comes whole in one read, and this saves a syscall.
func readAt(dir int, name string, buf []byte, last byte) (int, error) {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
		if last != 0 && buf[n-1] == last {
			break
		}
	}
	return n, nil
}

func readStatAt(dir int) (procStat, error) {
	var buf [2048]byte
	n, err := readAt(dir, "stat", buf[:], '\n')
	if err != nil {
		return procStat{}, err
	}
	return parseStat(buf[:n])
}

func readlinkAt(dir int, name string) (string, error) {
	var buf [unix.PathMax]byte
	n, err := unix.Readlinkat(dir, name, buf[:])
	if err != nil {
		return "", err
	}
	if n >= len(buf) {
		return "", unix.ENAMETOOLONG
	}
	return string(buf[:n]), nil
}

func readCmdlineAt(dir int) []string {
	buf := make([]byte, maxCmdline+1)
	n, err := readAt(dir, "cmdline", buf, 0)
	if err != nil {
		return nil
	}
	return parseCmdline(buf[:min(n, maxCmdline)], n > maxCmdline)
}

// procRead is one process as read through its /proc directory.
type procRead struct {
	Process
	stat     procStat
	key      fileKey // the version of the executable file that was read
	otherMnt bool    // in another mount namespace than vigil
}

// readProcAt reads the process behind dir: its stat fields, its mount
// namespace, and its executable's path and identity. With argv it also
// reads the command line. On error, Exe is "": the program is unknown.
func readProcAt(dir, pid int, argv bool) (procRead, error) {
	r := procRead{Process: Process{PID: pid}}
	st, err := readStatAt(dir)
	if err == nil && st.pid != pid {
		err = errStat
	}
	if err != nil {
		return r, err
	}
	r.stat = st
	r.PPID, r.StartTime = st.ppid, st.start
	r.Terminal, r.SessionLeader = st.tty != 0, st.session == pid
	if st.state == 'Z' || st.state == 'X' {
		return r, errGone
	}
	if r.otherMnt, err = otherNamespace(dir, "ns/mnt", 0); err != nil {
		return r, err
	}
	var x exeInfo
	for try := 0; ; try++ {
		x, err = readExe(dir, r.otherMnt)
		if err != errChanged || try == 2 {
			break
		}
	}
	if err != nil {
		return r, err
	}
	r.Exe, r.Hash, r.key = x.path, x.hash, x.key
	r.Replaced, r.elsewhere = x.replaced, x.elsewhere
	r.Deleted = x.deleted || x.replaced || x.elsewhere
	if argv {
		r.Argv = readCmdlineAt(dir)
	}
	return r, nil
}

const deletedSuffix = " (deleted)"

type exeInfo struct {
	path, hash                   string
	deleted, replaced, elsewhere bool
	key                          fileKey
}

// readExe reads which file the process behind dir is running: its path as
// the kernel reports it, and the SHA-256 of its content (cached by file
// version). Then it compares that file with the one now at the path.
//
// The kernel gives the path relative to vigil's root when it can (so a
// chrooted process's path is complete), and relative to the process's own
// mount namespace when the file is not reachable from vigil's (a container,
// or unshare with a bind mount over /usr/bin/git). So for a process in
// another mount namespace the path is looked up under /proc/PID/root, and
// also in vigil's view, where it may name another file entirely.
func readExe(dir int, otherMnt bool) (exeInfo, error) {
	var x exeInfo
	var stx unix.Statx_t
	if err := unix.Statx(dir, "exe", 0, statxMask, &stx); err != nil {
		return x, err
	}
	link, err := readlinkAt(dir, "exe")
	if err != nil {
		return x, err
	}
	at, prefix := unix.AT_FDCWD, ""
	if otherMnt {
		at, prefix = dir, "root"
	}
	x.key = keyOf(&stx)
	x.path = link
	if trimmed, ok := strings.CutSuffix(link, deletedSuffix); ok {
		// The kernel appends " (deleted)" to an unlinked file's path,
		// unless the file's name really ends that way.
		if !sameFileAt(at, prefix, link, &stx) {
			x.path, x.deleted = trimmed, true
		}
	}
	if !x.deleted && sameFileAt(at, prefix, x.path, &stx) {
		// The usual case: the path names the file that was statted, so
		// path and file agree even if the process has run another
		// program since.
	} else {
		// Either the path now names another file, or the process ran
		// another program between the statx and the readlink. Tell them
		// apart: after an exec, /proc/PID/exe is another file or path.
		var again unix.Statx_t
		if err := unix.Statx(dir, "exe", 0, statxMask, &again); err != nil {
			return x, err
		}
		if l, err := readlinkAt(dir, "exe"); err != nil {
			return x, err
		} else if l != link || keyOf(&again) != x.key {
			return x, errChanged
		}
		x.replaced = fileAt(at, prefix, x.path)
	}
	if otherMnt && !x.deleted && !x.replaced {
		x.elsewhere = !sameFileAt(unix.AT_FDCWD, "", x.path, &stx)
	}
	x.hash = exeHash(dir, x.key, &stx)
	return x, nil
}

// fileAt says whether there is a file at path, looked up from at+prefix.
func fileAt(at int, prefix, path string) bool {
	var st unix.Statx_t
	return strings.HasPrefix(path, "/") && unix.Statx(at, prefix+path, 0, unix.STATX_INO, &st) == nil
}

// sameFileAt says whether path, looked up from at+prefix, is the file stx.
func sameFileAt(at int, prefix, path string, stx *unix.Statx_t) bool {
	if !strings.HasPrefix(path, "/") {
		return false
	}
	var other unix.Statx_t
	return unix.Statx(at, prefix+path, 0, unix.STATX_INO, &other) == nil && sameFile(&other, stx)
}

func sameFile(a, b *unix.Statx_t) bool {
	return a.Ino == b.Ino && a.Dev_major == b.Dev_major && a.Dev_minor == b.Dev_minor
}

// Namespaces of vigil itself, read once.
var selfNS = sync.OnceValues(func() ([2]string, error) {
	mnt, err := readlinkAt(unix.AT_FDCWD, "/proc/self/ns/mnt")
	if err != nil {
		return [2]string{}, err
	}
	pid, err := readlinkAt(unix.AT_FDCWD, "/proc/self/ns/pid")
	return [2]string{mnt, pid}, err
})

// otherNamespace says whether the process behind dir is in another
// namespace than vigil: name is "ns/mnt" (i 0) or "ns/pid" (i 1).
func otherNamespace(dir int, name string, i int) (bool, error) {
	self, err := selfNS()
	if err != nil {
		return false, err
	}
	ns, err := readlinkAt(dir, name)
	if err != nil {
		return false, err
	}
	return ns != self[i], nil
}
