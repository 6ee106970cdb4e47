package caller

import (
	"fmt"
	"net"
	"runtime"
	"sync"

	"golang.org/x/sys/windows"
)

// FromConn finds the client of a named pipe connection (a go-winio
// connection, which exposes its handle as Fd): its pid from
// GetNamedPipeClientProcessId, pinned by a handle on the process, and its
// executable from QueryFullProcessImageName. Windows does not reuse a pid
// while a handle to its process is open, so once the handle is held, Alive
// and the pid describe the client. The client could still have exited, and
// its pid been reused, between connect and OpenProcess; Binding says
// "OpenProcess", as weak as Linux's "proc".
//
// Who may connect at all is decided by the pipe's security descriptor
// (daemon.Listen admits only the current user), so UID and GID stay 0:
// Windows has SIDs, not uids. The executable's content is not hashed (Hash
// is ""), so no grant can name it. The parents and command line are not
// read.
//
// Untested: this file is only compiled (GOOS=windows go vet).
func FromConn(c net.Conn) (*Info, error) {
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return nil, fmt.Errorf("caller: a %T is not a named pipe", c)
	}
	var pid uint32
	if err := windows.GetNamedPipeClientProcessId(windows.Handle(f.Fd()), &pid); err != nil {
		return nil, fmt.Errorf("caller: GetNamedPipeClientProcessId: %w", err)
	}
	info := &Info{PID: int(pid)}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.SYNCHRONIZE, false, pid)
	if err != nil {
		return info, nil // gone, or not ours to open: "unknown program (pid N)"
	}
	pin := &processPin{h: h}
	info.handle = pin
	runtime.AddCleanup(info, (*processPin).close, pin)
	if !pin.alive() {
		return info, nil
	}
	exe, err := imagePath(h)
	if err != nil {
		return info, nil
	}
	info.Chain = []Process{{PID: info.PID, Exe: exe}}
	info.Binding = "OpenProcess"
	return info, nil
}

// imagePath is the full Win32 path of the process's executable.
func imagePath(h windows.Handle) (string, error) {
	buf := make([]uint16, windows.MAX_LONG_PATH)
	n := uint32(len(buf))
	if err := windows.QueryFullProcessImageName(h, 0, &buf[0], &n); err != nil {
		return "", fmt.Errorf("caller: QueryFullProcessImageName: %w", err)
	}
	return windows.UTF16ToString(buf[:n]), nil
}

// processPin holds a handle on the client process.
type processPin struct {
	mu sync.Mutex
	h  windows.Handle // 0 once closed
}

func (p *processPin) alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.h == 0 {
		return false
	}
	// The process handle is signalled when the process exits.
	ev, err := windows.WaitForSingleObject(p.h, 0)
	return err == nil && ev == uint32(windows.WAIT_TIMEOUT)
}

// lineage returns the caller alone: the parents are not read on Windows.
func (p *processPin) lineage(self Process) []Process { return []Process{self} }

func (p *processPin) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.h != 0 {
		windows.CloseHandle(p.h)
		p.h = 0
	}
}
