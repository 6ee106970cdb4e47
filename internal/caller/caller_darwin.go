package caller

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// FromConn reads the peer credentials of c: the uid with LOCAL_PEERCRED
// (what getpeereid uses) and the pid with LOCAL_PEERPID. Call it right after
// accept, and Close the Info when the connection ends.
//
// The executable is not read, so the caller is always "unknown program
// (pid N)" and rules that name a program never match: vigil asks. macOS
// gives the path through proc_pidpath, which is in libproc and not
// reachable without cgo; KERN_PROCARGS2 is no substitute, as it copies the
// process's own stack, which the process may have rewritten.
//
// Untested: this file is only compiled (GOOS=darwin go vet).
func FromConn(c net.Conn) (*Info, error) {
	raw, err := rawConn(c)
	if err != nil {
		return nil, err
	}
	var (
		cred            *unix.Xucred
		credErr, pidErr error
		pid             int
	)
	err = raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if credErr == nil {
			pid, pidErr = unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		}
	})
	if err == nil {
		err = credErr
	}
	if err != nil {
		return nil, fmt.Errorf("caller: LOCAL_PEERCRED: %w", err)
	}
	info := &Info{UID: cred.Uid}
	if cred.Ngroups > 0 {
		info.GID = cred.Groups[0]
	}
	if pidErr != nil || pid <= 0 {
		return info, nil // the pid is only shown, never identity
	}
	info.PID = pid
	// Pinned by start time, so that Alive turns false if the process exits
	// and its pid is reused. The process could already have been replaced
	// between connect and this read; since nothing about it is claimed
	// beyond its pid, that costs only a misleading pid.
	start, err := startTime(pid)
	if err != nil {
		return info, nil // gone: Alive is false, a prompt is refused
	}
	info.handle = &startPin{pid: pid, start: start}
	return info, nil
}

// sZomb is SZOMB from <sys/proc.h>: exited, not yet reaped.
const sZomb = 5

// startTime reads when pid started; an error means it is gone or a zombie.
func startTime(pid int) (unix.Timeval, error) {
	k, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return unix.Timeval{}, err
	}
	if k.Proc.P_stat == sZomb {
		return unix.Timeval{}, fmt.Errorf("caller: pid %d has exited", pid)
	}
	return k.Proc.P_starttime, nil
}

// startPin is a process known by its pid and start time.
type startPin struct {
	pid   int
	start unix.Timeval
}

func (p *startPin) alive() bool {
	t, err := startTime(p.pid)
	return err == nil && t == p.start
}

// lineage is never reached: Info.Lineage asks only when Chain[0], the
// caller's executable, was read, which it is not on macOS.
func (p *startPin) lineage(Process) []Process { return nil }

func (p *startPin) close() {}
