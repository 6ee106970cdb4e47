package caller

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/vigil-agent/vigil/internal/sanitize"
)

// Bounds on what is kept of a command line. Everything past them is
// replaced by a single "…" argument.
const (
	maxArgs     = 256  // arguments kept per process: enough for ssh with many -o options
	maxArgRunes = 200  // runes kept per argument, after sanitising
	maxCmdline  = 4096 // bytes of /proc/PID/cmdline read
)

// procStat is the part of /proc/PID/stat that vigil uses.
type procStat struct {
	pid     int
	state   byte
	ppid    int
	session int
	tty     int64  // tty_nr: 0 when there is no controlling terminal
	start   uint64 // starttime, in clock ticks since boot
}

var errStat = errors.New("malformed stat")

// parseStat parses the contents of /proc/PID/stat. The command name in
// field 2 is chosen by the process, sits in parentheses and may itself
// contain spaces and ')', so the numeric fields are read after the last ')'.
// comm is never used for anything else.
func parseStat(b []byte) (procStat, error) {
	var s procStat
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 1 || end < open || b[open-1] != ' ' {
		return s, errStat
	}
	pid, err := strconv.Atoi(string(b[:open-1]))
	if err != nil || pid <= 0 {
		return s, errStat
	}
	s.pid = pid
	// Fields after the comm, numbered as in proc(5): 3 is state, 4 ppid,
	// 6 session, 7 tty_nr, 22 starttime.
	rest := b[end+1:]
	for field := 3; field <= 22; field++ {
		if len(rest) == 0 || rest[0] != ' ' {
			return s, errStat
		}
		rest = rest[1:]
		n := bytes.IndexAny(rest, " \n")
		if n < 0 {
			n = len(rest)
		}
		f := rest[:n]
		rest = rest[n:]
		if len(f) == 0 {
			return s, errStat
		}
		var err error
		switch field {
		case 3:
			if len(f) != 1 {
				return s, errStat
			}
			s.state = f[0]
		case 4:
			s.ppid, err = atoiNonNeg(f)
		case 6:
			s.session, err = atoiNonNeg(f)
		case 7:
			s.tty, err = strconv.ParseInt(string(f), 10, 64)
		case 22:
			s.start, err = strconv.ParseUint(string(f), 10, 64)
		}
		if err != nil {
			return s, errStat
		}
	}
	return s, nil
}

func atoiNonNeg(b []byte) (int, error) {
	n, err := strconv.Atoi(string(b))
	if err == nil && n < 0 {
		err = errStat
	}
	return n, err
}

// parseCmdline splits the contents of /proc/PID/cmdline into arguments,
// each sanitised for display and bounded. truncated says the read stopped
// at maxCmdline bytes, so the last argument is incomplete. The result is
// what the process says about itself: it describes, it never identifies.
func parseCmdline(b []byte, truncated bool) []string {
	if len(b) == 0 {
		return nil
	}
	b = bytes.TrimSuffix(b, []byte{0})
	var args []string
	for len(args) < maxArgs {
		arg, rest, found := bytes.Cut(b, []byte{0})
		if !found && truncated {
			break // incomplete: shown as "…" below
		}
		args = append(args, sanitize.Line(string(arg), maxArgRunes))
		if !found {
			return args
		}
		b = rest
	}
	return append(args, "…")
}
