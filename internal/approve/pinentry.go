package approve

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twpayne/go-pinentry/v4"

	"github.com/vigil-agent/vigil/internal/sanitize"
)

// Pinentry asks through a GnuPG pinentry program (pinentry-gnome3, -qt,
// -gtk2, -curses, -tty) over the Assuan protocol: one dialog with the
// prompt's title and facts and the buttons "Allow once" (OK), "Allow for
// 5 min" (pinentry's not-OK button) and "Deny" (cancel).
//
// pinentry reports its not-OK button with the same code ("Not confirmed")
// as a dialog it failed to show (pinentry-tty without a terminal answers
// every CONFIRM that way at once). So a grant is made only after a second
// dialog, which has no not-OK button, is answered OK. An answer that comes
// within a second of a dialog appearing is taken for a reflex (a stray
// Enter in pinentry-curses, where OK has the focus) and the dialog is shown
// again, saying why; after three such answers the prompt fails. Any error
// is a refusal.
type Pinentry struct {
	Program string // path of the pinentry program
	// Env is the program's whole environment; vigil's own is not passed
	// on. DISPLAY and WAYLAND_DISPLAY (with XDG_RUNTIME_DIR and
	// DBUS_SESSION_BUS_ADDRESS for pinentry-gnome3) choose the screen.
	// DISPLAY is also sent as OPTION display; GPG_TTY and TERM as OPTION
	// ttyname and ttytype, for pinentry-curses and -tty, which otherwise
	// have no terminal; LC_ALL, LC_CTYPE or LANG as OPTION lc-ctype.
	Env []string
	// GrantFor is what the "Allow for ..." button grants. 0: no such
	// button, only "Allow once" and "Deny".
	GrantFor time.Duration

	now func() time.Time // test seam: the clock the reflex guard reads
}

const (
	// pinentryTimeout bounds a prompt whose context has no deadline.
	pinentryTimeout = 60 * time.Second
	// reflexDelay: OK or not-OK sooner than this after a dialog appears
	// is not taken as an answer.
	reflexDelay = time.Second
	maxReflexes = 3
	// exitGrace is how long pinentry has to exit after its answer, once
	// its input is closed, before its process group is killed.
	exitGrace = time.Second
	// assuanMaxLine is the longest Assuan line, without its newline
	// (libassuan's ASSUAN_LINELENGTH is 1002 with CR LF).
	assuanMaxLine = 1000
)

// gpg-error codes, the low 16 bits of an Assuan ERR code.
const (
	gpgErrTimeout       = 62
	gpgErrCanceled      = 99
	gpgErrNotConfirmed  = 114
	gpgErrFullyCanceled = 198
)

// ErrNoDialog says pinentry answered "not confirmed" where the dialog had
// no button for it: it most likely could not show the dialog at all.
var ErrNoDialog = errors.New("approve: pinentry did not confirm, and showed no button that means that: it probably could not show a dialog")

// errPinentryTimeout is pinentry's own SETTIMEOUT firing.
var errPinentryTimeout = fmt.Errorf("approve: pinentry timed out: %w", context.DeadlineExceeded)

type answer int

const (
	answerCancel answer = iota // "Deny", Escape, the window closed
	answerOK
	answerNotOK
)

// dialog is what one CONFIRM shows.
type dialog struct {
	title, ok, notok, cancel string
	desc                     []string // lines, already safe to show
	hint                     []string // lines shown after desc if they fit
	reflex                   bool     // shown again after an answer came too soon
}

// Decide asks the person and returns their decision. When ctx ends, the
// pinentry and anything it started are killed and ctx's error is returned;
// a late answer is never used. Without a deadline in ctx, the prompt is
// bounded by 60 seconds. Any error means the request must be refused.
func (p *Pinentry) Decide(ctx context.Context, text string) (Decision, error) {
	if p.Program == "" {
		return Decision{}, errors.New("approve: no pinentry program configured")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pinentryTimeout)
		defer cancel()
	}
	title, facts := splitPrompt(text)
	first := dialog{title: title, ok: "Allow _once", cancel: "_Deny"}
	first.desc = append([]string{title, ""}, facts...)
	label := ""
	if p.GrantFor > 0 {
		label = durationLabel(p.GrantFor)
		first.notok = "Allow for _" + label
		first.hint = []string{"", "Allow for " + label + ": the same program, started by the same git or parent program, " +
			"may use this key for the same purpose, destination and path without asking, for " + label + ". " +
			"A grant for a program run by git covers anything that gets that git to run it (such as GIT_SSH_COMMAND). " +
			"Anything else still asks."}
	}
	a, err := p.ask(ctx, first)
	switch {
	case err != nil:
		return Decision{}, err
	case a == answerOK:
		return Decision{Allow: true}, nil
	case a == answerCancel:
		return Decision{}, nil
	case label == "":
		return Decision{}, ErrNoDialog
	}
	second := dialog{title: "Allow for " + label + "?", ok: "Allow for _" + label, cancel: "_Deny"}
	second.desc = append([]string{
		"Allow for " + label + "?", "",
		"For " + label + ", this same program (this executable, with this content, started by the same " +
			"git or parent program as now) may use this key " +
			"for the same purpose, destination and path without asking. Anything that gets that git or parent " +
			"program to run this one (such as GIT_SSH_COMMAND) is covered too. Anything else still asks. " +
			"No grant is offered for a program whose runner is unknown. Locking vigil ends the grant.",
		"",
		title,
	}, facts...)
	a, err = p.ask(ctx, second)
	switch {
	case err != nil:
		return Decision{}, err
	case a == answerOK:
		return Decision{Allow: true, GrantFor: p.GrantFor}, nil
	case a == answerNotOK:
		return Decision{}, ErrNoDialog
	}
	return Decision{}, nil
}

// String names the approver for the audit log.
func (p *Pinentry) String() string { return "pinentry " + p.Program }

func (p *Pinentry) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

// ask shows d until it gets an answer that was not a reflex.
func (p *Pinentry) ask(ctx context.Context, d dialog) (answer, error) {
	for i := 1; ; i++ {
		a, took, err := p.show(ctx, d)
		if err != nil || a == answerCancel || took >= reflexDelay {
			return a, err
		}
		if i == maxReflexes {
			return answerCancel, fmt.Errorf("approve: pinentry answered %d times within %v of showing the prompt "+
				"(a reflex, or a pinentry that shows nothing): refusing", i, reflexDelay)
		}
		d.reflex = true
	}
}

// show runs the pinentry program for one dialog and says what was
// pressed, and how long after the dialog appeared.
func (p *Pinentry) show(ctx context.Context, d dialog) (answer, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return answerCancel, 0, err
	}
	proc := &pinentryProcess{env: append([]string{}, p.Env...)}

	desc := d.desc
	if d.reflex {
		desc = append([]string{"(Answered within a second of appearing, so it is shown again: please read it first.)", ""}, desc...)
	}
	const descBudget = assuanMaxLine - len("SETDESC ")
	if withHint := append(slices.Clip(desc), d.hint...); assuanLen(strings.Join(withHint, "\n")) <= descBudget {
		desc = withHint
	}
	opts := []pinentry.ClientOption{
		pinentry.WithBinaryName(p.Program),
		pinentry.WithProcess(proc),
		pinentry.WithTitle(fitLine(d.title, assuanMaxLine-len("SETTITLE "))),
		pinentry.WithDesc(fitLines(desc, descBudget)),
		pinentry.WithOK(d.ok),
		pinentry.WithCancel(d.cancel),
	}
	if d.notok != "" {
		opts = append(opts, pinentry.WithNotOK(d.notok))
	}
	deadline, _ := ctx.Deadline()
	// A second or less before vigil's deadline: pinentry closing its own
	// dialog leaves a terminal as it found it, which a signal may not.
	secs := (time.Until(deadline)+time.Second-1)/time.Second - 1
	opts = append(opts, pinentry.WithTimeout(max(secs, 1)*time.Second))
	opts = append(opts, pinentry.WithOptions(p.options()))

	type result struct {
		a    answer
		took time.Duration
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := pinentry.NewClient(opts...)
		if err != nil {
			done <- result{err: fmt.Errorf("approve: pinentry %s: %w", p.Program, err)}
			return
		}
		start := p.clock()
		ok, err := c.Confirm("")
		took := p.clock().Sub(start)
		a, err := classify(ok, err)
		done <- result{a, took, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		proc.abort()
		r = <-done
	}
	proc.finish()
	if errors.Is(r.err, errPinentryTimeout) && time.Until(deadline) < 2*time.Second {
		// pinentry closed its dialog just before vigil's deadline: report
		// it as the deadline, which is what it stands for.
		<-ctx.Done()
	}
	if ctx.Err() != nil {
		return answerCancel, 0, ctx.Err()
	}
	return r.a, r.took, r.err
}

// classify reads go-pinentry's answer to CONFIRM.
func classify(ok bool, err error) (answer, error) {
	if err == nil {
		if ok {
			return answerOK, nil
		}
		return answerNotOK, nil // an old pinentry's ASSUAN_Not_Confirmed
	}
	var ae *pinentry.AssuanError
	if errors.As(err, &ae) {
		switch ae.Code & 0xffff {
		case gpgErrCanceled, gpgErrFullyCanceled:
			return answerCancel, nil
		case gpgErrNotConfirmed:
			return answerNotOK, nil
		case gpgErrTimeout:
			return answerCancel, errPinentryTimeout
		}
		return answerCancel, fmt.Errorf("approve: pinentry: %s (error %d)", sanitize.Line(ae.Description, 200), ae.Code)
	}
	return answerCancel, fmt.Errorf("approve: pinentry: %w", err)
}

// options are the Assuan OPTIONs taken from the program's environment.
func (p *Pinentry) options() []string {
	env := map[string]string{}
	for _, kv := range p.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	var o []string
	if v := env["DISPLAY"]; v != "" {
		o = append(o, "display="+v)
	}
	if v := env["GPG_TTY"]; v != "" {
		o = append(o, "ttyname="+v)
		if t := env["TERM"]; t != "" {
			o = append(o, "ttytype="+t)
		}
	}
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v := env[k]; v != "" {
			o = append(o, "lc-ctype="+v)
			break
		}
	}
	return o
}

// splitPrompt reads the agent's prompt text: a title line, then one
// "  name: value" fact per line. Each line is made safe to show.
func splitPrompt(text string) (title string, facts []string) {
	for line := range strings.SplitSeq(text, "\n") {
		line = sanitize.Composed(strings.TrimSpace(line), 200)
		if line == "" {
			continue
		}
		if title == "" {
			title = line
		} else {
			facts = append(facts, line)
		}
	}
	if title == "" {
		title = "Allow a signature?"
	}
	return title, facts
}

// assuanLen is the length of s once escaped for an Assuan line: go-pinentry
// sends '%', CR and LF as %25, %0D and %0A.
func assuanLen(s string) int {
	return len(s) + 2*(strings.Count(s, "%")+strings.Count(s, "\n")+strings.Count(s, "\r"))
}

// fitLine cuts s so that it fits in budget bytes once escaped.
func fitLine(s string, budget int) string {
	if assuanLen(s) <= budget {
		return s
	}
	budget -= len("…")
	n := 0
	for i, r := range s {
		w := assuanLen(string(r))
		if n+w > budget {
			return s[:i] + "…"
		}
		n += w
	}
	return s
}

// fitLines joins lines with newlines so that the text fits in budget bytes
// once escaped. When it does not, the longest lines are shortened first
// (a long chain of parents, say), so that every fact still shows; only if
// that is not enough is the text cut at the end.
func fitLines(lines []string, budget int) string {
	const minLine = 60
	lines = slices.Clone(lines)
	for {
		text := strings.Join(lines, "\n")
		over := assuanLen(text) - budget
		if over <= 0 {
			return text
		}
		longest := 0
		for i := range lines {
			if assuanLen(lines[i]) > assuanLen(lines[longest]) {
				longest = i
			}
		}
		n := assuanLen(lines[longest])
		if n <= minLine {
			return fitLine(text, budget)
		}
		lines[longest] = fitLine(lines[longest], max(n-over, minLine))
	}
}

// durationLabel says d for a button: "5 min", "1 hour", "90 s".
func durationLabel(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "1 hour"
	case d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return fmt.Sprintf("%d s", (d+time.Second-1)/time.Second)
}

// pinentryProcess runs the pinentry program for go-pinentry, which has no
// context of its own, in a process group of its own, with only the
// environment it is given. Its output is read a line at a time, at most one
// Assuan line long, and anything that is not an Assuan response is an
// error.
type pinentryProcess struct {
	env []string

	mu      sync.Mutex
	aborted bool
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  *os.File
	r       *bufio.Reader
	exited  chan struct{} // closed once the process has been waited for
	stop    sync.Once
}

var errAborted = errors.New("approve: prompt abandoned")

func (p *pinentryProcess) Start(name string, args []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.aborted {
		return errAborted
	}
	cmd := exec.Command(name, args...)
	cmd.Env = p.env
	cmd.Stderr = nil // /dev/null
	ownProcessGroup(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		stdin.Close()
		return err
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		stdin.Close()
		return err
	}
	p.cmd, p.stdin, p.stdout = cmd, stdin, r
	p.r = bufio.NewReaderSize(r, assuanMaxLine+2)
	p.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait() // its exit status says nothing the answer did not
		close(p.exited)
	}()
	return nil
}

func (p *pinentryProcess) Write(b []byte) (int, error) { return p.stdin.Write(b) }

// Close is called by go-pinentry when setting up the dialog failed; finish
// waits for the process.
func (p *pinentryProcess) Close() error { return p.stdin.Close() }

// ReadLine returns the next Assuan response line, without status lines
// (CONFIRM's "S BUTTON_INFO close" would otherwise be an "unexpected
// response" to go-pinentry, where it is just a window closed).
func (p *pinentryProcess) ReadLine() ([]byte, bool, error) {
	for {
		line, err := p.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			p.abort()
			return nil, false, errors.New("pinentry sent a line longer than the protocol allows")
		}
		if err != nil {
			return nil, false, err
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if bytes.HasPrefix(line, []byte("S ")) {
			continue
		}
		if !assuanResponse(line) {
			p.abort()
			return nil, false, fmt.Errorf("pinentry sent %q, which is not an Assuan response", sanitize.Line(string(line), 80))
		}
		return bytes.Clone(line), false, nil
	}
}

// assuanResponse accepts the lines an Assuan server may send: OK, ERR,
// status, data, comments and inquiries, and old pinentries' bare
// ASSUAN_Not_Confirmed. go-pinentry takes any line that starts with "OK"
// for OK; this rejects "OKAY" and the like.
func assuanResponse(line []byte) bool {
	s := string(line)
	switch {
	case s == "OK", strings.HasPrefix(s, "OK "),
		strings.HasPrefix(s, "D "), strings.HasPrefix(s, "#"),
		strings.HasPrefix(s, "INQUIRE "), s == "END",
		s == "ASSUAN_Not_Confirmed", strings.TrimSpace(s) == "":
		return true
	case strings.HasPrefix(s, "ERR "):
		code, _, _ := strings.Cut(s[len("ERR "):], " ")
		return code != "" && strings.Trim(code, "0123456789") == ""
	}
	return false
}

// abort ends the dialog now: it stops the process group and unblocks a
// read in progress, even if something the pinentry started still holds
// its output open.
func (p *pinentryProcess) abort() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.aborted = true
	if p.cmd != nil {
		p.stopLocked()
		p.stdout.Close()
	}
}

// stopLocked ends the process group, the way each pinentry cleans up
// after itself: pinentry-tty restores the terminal on SIGINT, and
// pinentry-curses (which ignores SIGINT) on SIGTERM. What is still running
// stopStep after both is killed.
func (p *pinentryProcess) stopLocked() {
	p.stop.Do(func() {
		cmd, exited := p.cmd, p.exited
		go func() {
			for _, sig := range stopSignals {
				if signalGroup(cmd, sig) != nil {
					return
				}
				select {
				case <-exited:
					// Whatever it started and left behind.
					_ = signalGroup(cmd, stopSignals[len(stopSignals)-1])
					return
				case <-time.After(stopStep):
				}
			}
		}()
	})
}

// stopStep is how long each signal has to end pinentry.
const stopStep = 250 * time.Millisecond

// finish closes pinentry's input, which makes it exit, and waits for it;
// if it has not exited after exitGrace, its process group is stopped.
func (p *pinentryProcess) finish() {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(exitGrace):
		p.mu.Lock()
		p.stopLocked()
		p.mu.Unlock()
		<-p.exited
	}
	p.stdout.Close()
}
