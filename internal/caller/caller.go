// Package caller finds out who is on the other end of an agent connection:
// the peer's user and process, taken from the kernel at accept time, never
// from anything the process says about itself.
//
// A program is identified by the real path of its executable and the
// SHA-256 of that executable's content, both read through /proc/PID/exe,
// which is the file actually running even if its path has since been
// replaced. comm and argv[0] are chosen by the process and are never used
// as identity: argv is kept, sanitised, to describe what a program was asked
// to do, never to name it.
//
// A process id can be reused once its process exits, so the connection is
// pinned to the process that connected: by a pidfd from SO_PEERPIDFD (Linux
// 6.5), or on older kernels by pidfd_open and a check that the process holds
// the other end of the socket. All later reads go through a /proc/PID
// directory handle opened while the pin said the process was alive, so they
// either describe that process or fail; they never describe a newcomer that
// got its pid. When something cannot be read the caller is shown as
// "unknown program (pid N)": vigil never guesses.
//
// FromConn reads only what a policy decision needs (the caller's executable
// identity and namespaces). The parents and command lines, needed for a
// prompt or a log line, are read on first use by Lineage, String or Summary.
//
// What the kernel does not tell: SO_PEERCRED names the process that called
// connect. A same-user process can connect, hand the socket to a helper and
// then execute a trusted program, which is what vigil will name. That is
// the same class of attacker as one that can ptrace the user's programs,
// which the threat model does not claim to stop.
//
// All of the above is Linux. macOS (caller_darwin.go) and Windows
// (caller_windows.go) tell less, and say what in their comments; both are
// compiled but untested.
package caller

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/vigil-agent/vigil/internal/sanitize"
)

// MaxChain is how many ancestors of the caller are looked at. The walk also
// stops after the caller's session leader (the shell of a terminal, or a
// service's main process), at pid 1, and at anything unreadable.
const MaxChain = 6

// Process is one program in the caller's chain.
type Process struct {
	PID  int
	PPID int    // parent pid when the process was read
	Exe  string // real path of the executable; "" if unreadable
	// Hash is the hex SHA-256 of the running executable's content, read
	// through /proc/PID/exe; "" if it could not be read (for example an
	// execute-only file). Exe and Hash together identify the program.
	Hash string
	// Deleted says Exe does not name the running file any more: it was
	// deleted, or replaced, or (for a process in another mount namespace)
	// Exe names another file in vigil's view. Rules must not match Exe
	// when it is set; Hash still identifies the content.
	Deleted bool
	// Replaced says the path, as the process sees it, now names a
	// different file than the one running.
	Replaced  bool
	StartTime uint64 // in clock ticks since boot, from /proc/PID/stat
	// Argv is the command line, each argument sanitised and bounded, with a
	// final "…" when cut short. It is what the process says, not what it
	// is. Nil in Info.Chain (read lazily: see Info.Lineage) and when
	// unreadable.
	Argv          []string
	Terminal      bool // has a controlling terminal
	SessionLeader bool // leads its session (a terminal's shell, a service)

	elsewhere bool // Deleted because vigil's file at Exe is another file
}

// Name is the last element of the executable path (in this platform's
// syntax: C:\...\ssh.exe on Windows), or "unknown program". It is not
// sanitised.
func (p Process) Name() string {
	if p.Exe == "" {
		return "unknown program"
	}
	return filepath.Base(p.Exe)
}

// String describes the process for a person: "/usr/bin/ssh (pid 42)".
func (p Process) String() string {
	if p.Exe == "" {
		return fmt.Sprintf("unknown program (pid %d)", p.PID)
	}
	return fmt.Sprintf("%s (pid %d)%s", sanitize.Line(p.Exe, 200), p.PID, p.flags())
}

// flags says, for a person, what is wrong with the executable.
func (p Process) flags() string {
	switch {
	case p.Replaced:
		return " [executable replaced since it started]"
	case p.elsewhere:
		return " [not the file at this path on this system]"
	case p.Deleted:
		return " [executable deleted since it started]"
	}
	return ""
}

// Command is the command line as one sanitised line of at most 300 runes,
// or "" when it was not read.
func (p Process) Command() string {
	return sanitize.Line(strings.Join(p.Argv, " "), 300)
}

// Info is what is known about the peer of one connection. FromConn returns
// one per connection; Close releases it.
type Info struct {
	UID, GID uint32
	PID      int // 0 when the platform does not say
	// Chain[0] is the caller, read and verified at accept: its executable
	// identity, without Argv. FromConn leaves it empty when the caller could
	// not be read. Lineage adds the command line and the parents; an Info
	// built by hand uses Chain as given.
	Chain []Process
	// OtherMountNS and OtherPIDNS say the caller is in another mount or pid
	// namespace than vigil (a container, unshare, a sandbox). Its Exe is a
	// path in its own view; when vigil's file at that path is another
	// file, Program().Deleted is set, so a rule for the path cannot match.
	OtherMountNS, OtherPIDNS bool
	// Binding says how the connection was pinned to the process:
	// "SO_PEERPIDFD", "pidfd_open+socket" or "proc+socket" on older kernels
	// (the process was checked to hold the other end of the socket), or
	// "pidfd_open" / "proc" when that check was not possible. "" when the
	// caller is unknown.
	Binding string

	handle handle
	lazy   *lazyChain
}

type lazyChain struct {
	once  sync.Once
	chain []Process
}

// handle pins the calling process; implemented per platform.
type handle interface {
	alive() bool
	// lineage returns self with its command line, then its parents, or
	// nil when the process is gone and nothing more can be said.
	lineage(self Process) []Process
	close()
}

// Program returns the calling process, or a placeholder naming the pid when
// it could not be read.
func (i *Info) Program() Process {
	if len(i.Chain) > 0 {
		return i.Chain[0]
	}
	return Process{PID: i.PID}
}

// Lineage returns the caller with its command line, then its parents,
// nearest first. It is read once, on first use, through the pinned handle:
// if the caller has exited by then, only Chain (what was verified at accept)
// is returned. The slice is the caller's to keep.
func (i *Info) Lineage() []Process {
	if i.lazy == nil || i.handle == nil || len(i.Chain) == 0 {
		return slices.Clone(i.Chain)
	}
	i.lazy.once.Do(func() {
		if c := i.handle.lineage(i.Chain[0]); c != nil {
			i.lazy.chain = c
		} else {
			i.lazy.chain = i.Chain
		}
	})
	return slices.Clone(i.lazy.chain)
}

// Runner returns the program that ran the caller: the git behind a program
// git started (ssh-keygen signing a commit, ssh fetching, also through
// "sh -c" as core.sshCommand runs it), or else the caller's parent. It is
// the zero Process when the caller has no parent in view (it leads its
// session, or was left to pid 1) or the parent could not be read.
func (i *Info) Runner() Process {
	chain := i.Lineage()
	if git, ok := gitRunner(chain); ok {
		return git
	}
	if len(chain) > 1 && chain[1].Exe != "" {
		return chain[1]
	}
	return Process{}
}

// String describes the caller and its parents on one line:
// "/usr/bin/ssh (pid 42) ← /usr/bin/git (pid 40) ← /bin/bash (pid 7)".
func (i *Info) String() string {
	chain := i.Lineage()
	if len(chain) == 0 {
		return Process{PID: i.PID}.String()
	}
	parts := make([]string, len(chain))
	for n, p := range chain {
		parts[n] = p.String()
	}
	return strings.Join(parts, " ← ")
}

// Summary says in a few words who is asking, for a person: "git push over
// ssh", "git commit signing with ssh-keygen", "ssh, run by bash in a
// terminal", "python3 (/tmp/x/python3)", with a note when the caller is in
// a container or its executable changed. Names come from executable paths;
// programs outside the system directories are shown with their path.
func (i *Info) Summary() string {
	return summarize(i.PID, i.Lineage(), i.OtherMountNS, i.OtherPIDNS)
}

// Alive reports whether the calling process is still the one that
// connected. False means it exited, and its pid may now name another program.
func (i *Info) Alive() bool {
	if i.handle == nil {
		return false
	}
	return i.handle.alive()
}

// Close releases the handle on the calling process. It may be called more
// than once; after it, Alive is false and Lineage reads nothing new.
func (i *Info) Close() {
	if i.handle != nil {
		i.handle.close()
	}
}
