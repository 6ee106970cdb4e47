package caller

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// FromConn reads the peer credentials of c and describes the calling process
// and its parents. Errors are returned only when the kernel gives no peer
// credentials at all; an unreadable process yields an Info whose Chain is
// empty, shown as "unknown program (pid N)".
func FromConn(c *net.UnixConn) (*Info, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("caller: %w", err)
	}
	var (
		cred  *unix.Ucred
		pidfd = -1
		serr  error
	)
	err = raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if serr != nil {
			return
		}
		// SO_PEERPIDFD (Linux 6.5) pins the process itself, immune to pid
		// reuse. Older kernels fall back to comparing start times.
		if n, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PEERPIDFD); err == nil {
			pidfd = n
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, fmt.Errorf("caller: SO_PEERCRED: %w", err)
	}
	info := &Info{UID: cred.Uid, GID: cred.Gid, PID: int(cred.Pid)}
	self, err := readProcess(info.PID)
	if pidfd >= 0 {
		info.handle = pidfdHandle(pidfd)
	} else if err == nil {
		info.handle = startTimeHandle{pid: info.PID, start: self.StartTime}
	}
	if err != nil || !info.Alive() {
		// Gone already, or not ours to read: never guess.
		return info, nil
	}
	info.Chain = append(info.Chain, self.Process)
	for pid := self.ppid; pid > 1 && len(info.Chain) < MaxChain; {
		p, err := readProcess(pid)
		if err != nil {
			break
		}
		info.Chain = append(info.Chain, p.Process)
		pid = p.ppid
	}
	return info, nil
}

type procInfo struct {
	Process
	ppid int
}

func readProcess(pid int) (procInfo, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return procInfo{}, err
	}
	// The command name in field 2 is in parentheses and may itself contain
	// spaces and ')', so parse from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return procInfo{}, fmt.Errorf("caller: malformed %s/stat", dir)
	}
	fields := strings.Fields(string(stat[i+1:]))
	// fields[0] is field 3 (state): ppid is field 4, starttime field 22.
	if len(fields) < 20 {
		return procInfo{}, fmt.Errorf("caller: short %s/stat", dir)
	}
	ppid, err1 := strconv.Atoi(fields[1])
	start, err2 := strconv.ParseUint(fields[19], 10, 64)
	if err1 != nil || err2 != nil {
		return procInfo{}, fmt.Errorf("caller: malformed %s/stat", dir)
	}
	p := procInfo{Process: Process{PID: pid, StartTime: start}, ppid: ppid}
	if exe, err := os.Readlink(dir + "/exe"); err == nil {
		p.Exe, p.Deleted = strings.CutSuffix(exe, " (deleted)")
	}
	return p, nil
}

type pidfdHandle int

func (h pidfdHandle) alive() bool {
	return unix.PidfdSendSignal(int(h), 0, nil, 0) == nil
}

func (h pidfdHandle) close() { unix.Close(int(h)) }

type startTimeHandle struct {
	pid   int
	start uint64
}

func (h startTimeHandle) alive() bool {
	p, err := readProcess(h.pid)
	return err == nil && p.StartTime == h.start
}

func (startTimeHandle) close() {}
