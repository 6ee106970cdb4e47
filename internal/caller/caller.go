// Package caller finds out who is on the other end of an agent connection:
// the peer's user and process, taken from the kernel at accept time, never
// from anything the process says about itself.
//
// comm and argv[0] are chosen by the process and are never used as identity;
// the executable is read from /proc/PID/exe. A process id can be reused once
// its process exits, so the connection holds a pidfd (or, on old kernels,
// the process start time) and Alive says whether the pid still names the
// process that connected.
package caller

import (
	"fmt"
	"strings"

	"github.com/vigil-agent/vigil/internal/sanitize"
)

// MaxChain is how many ancestors of the caller are looked at.
const MaxChain = 6

// Process is one program in the caller's chain.
type Process struct {
	PID       int
	Exe       string // real path of the executable; "" if unreadable
	Deleted   bool   // the executable was deleted or replaced after start
	StartTime uint64 // in clock ticks since boot, from /proc/PID/stat
}

// Name is the last element of the executable path, or "unknown program".
func (p Process) Name() string {
	if p.Exe == "" {
		return "unknown program"
	}
	return p.Exe[strings.LastIndexByte(p.Exe, '/')+1:]
}

// String describes the process for a person: "/usr/bin/ssh (pid 42)".
func (p Process) String() string {
	if p.Exe == "" {
		return fmt.Sprintf("unknown program (pid %d)", p.PID)
	}
	s := fmt.Sprintf("%s (pid %d)", sanitize.Line(p.Exe, 200), p.PID)
	if p.Deleted {
		s += " [executable deleted or replaced since it started]"
	}
	return s
}

// Info is what is known about the peer of one connection.
type Info struct {
	UID, GID uint32
	PID      int       // 0 when the platform does not say
	Chain    []Process // Chain[0] is the caller itself, then its parents
	handle   liveness
}

// Program returns the calling process, or a placeholder naming the pid when
// it could not be read.
func (i *Info) Program() Process {
	if len(i.Chain) > 0 {
		return i.Chain[0]
	}
	return Process{PID: i.PID}
}

// String describes the caller and its parents on one line:
// "/usr/bin/ssh (pid 42) ← /usr/bin/git (pid 40) ← /bin/bash (pid 7)".
func (i *Info) String() string {
	if len(i.Chain) == 0 {
		return Process{PID: i.PID}.String()
	}
	parts := make([]string, len(i.Chain))
	for n, p := range i.Chain {
		parts[n] = p.String()
	}
	return strings.Join(parts, " ← ")
}

// Alive reports whether the calling process is still the one that
// connected. False means it exited, and its pid may now name another program.
func (i *Info) Alive() bool {
	if i.handle == nil {
		return false
	}
	return i.handle.alive()
}

// Close releases the handle on the calling process.
func (i *Info) Close() {
	if i.handle != nil {
		i.handle.close()
	}
}

type liveness interface {
	alive() bool
	close()
}
