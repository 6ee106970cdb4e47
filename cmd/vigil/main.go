// Command vigil is an SSH agent that asks before every signature.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
)

// version is set by release builds (scripts/release.sh) with
// -ldflags "-X main.version=VERSION"; see versionString otherwise.
var version string

// errUsage marks an error whose message was already printed and whose exit
// status is 2, as for flag parsing errors.
var errUsage = errors.New("usage")

// usageError is bad usage found after the flags were parsed: run prints
// its message and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string        { return e.msg }
func (e usageError) Is(target error) bool { return target == errUsage }

// usagef is a usageError with a formatted message.
func usagef(format string, a ...any) error {
	return usageError{fmt.Sprintf(format, a...)}
}

// runFunc runs a command with the positional arguments left after its flags.
type runFunc func(args []string, stdout, stderr io.Writer) error

// command is one subcommand. Its texts and flags are the single source of
// both "vigil help COMMAND" and the man page.
type command struct {
	name     string
	synopsis string // after "vigil NAME"
	summary  string // one line, for the command list
	help     string // before the flags
	footer   string // after the flags
	// setup defines the flags on fs and returns the function that runs the
	// command once they are parsed.
	setup func(fs *flag.FlagSet) runFunc
}

var commands []*command

func init() {
	commands = []*command{serveCommand, envCommand, checkCommand, keyCommand, unlockCommand, lockCommand, statusCommand, grantsCommand, watchCommand, pinsCommand, whyNotCommand, auditCommand, installCommand, gitCommand, gitCredentialCommand, cargoCommand, completionCommand, versionCommand}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// flagSet makes the command's flags. The flag package prints nothing: run
// reports a parse error in one line (the help after it would bury it) and
// prints the help for -h.
func (c *command) flagSet() (*flag.FlagSet, runFunc) {
	fs := flag.NewFlagSet("vigil "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs, c.setup(fs)
}

func (c *command) printHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\n%s", strings.TrimSpace("vigil "+c.name+" "+c.synopsis), c.help)
	if hasFlags(fs) {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fmt.Fprint(w, c.footer)
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func usage() string {
	var b strings.Builder
	b.WriteString("vigil: an SSH agent that never signs silently\n\nUsage:\n")
	for _, c := range commands {
		line := "vigil " + c.name + " " + c.synopsis
		if len(line) > 30 {
			fmt.Fprintf(&b, "  %s\n  %-30s %s\n", line, "", c.summary)
		} else {
			fmt.Fprintf(&b, "  %-30s %s\n", line, c.summary)
		}
	}
	fmt.Fprintf(&b, "  %-30s %s\n", "vigil help [COMMAND]", "show help for a command")
	b.WriteString("\nRun \"vigil help COMMAND\" for a command's flags, \"man vigil\" for everything.\n")
	return b.String()
}

func main() {
	os.Exit(run(commandLine(os.Args[0], os.Args[1:]), os.Stdout, os.Stderr))
}

// commandLine is the command to run, given the name vigil was run by. Run as
// git-credential-vigil (a link to vigil, which git runs when credential.helper
// is "vigil"), it is vigil git-credential.
func commandLine(argv0 string, args []string) []string {
	if strings.TrimSuffix(filepath.Base(argv0), ".exe") == gitHelperName {
		return append([]string{gitCredentialCommand.name}, args...)
	}
	return args
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return 2
	}
	if len(args) == 1 && args[0] == cargoPluginFlag {
		return runCargoPlugin(os.Stdin, stdout, stderr)
	}
	name, rest := args[0], args[1:]
	var err error
	switch name {
	case "help", "-h", "-help", "--help":
		err = help(rest, stdout)
	case "--version":
		err = runVersion(nil, stdout, stderr)
	default:
		c := lookup(name)
		if c == nil {
			fmt.Fprintf(stderr, "vigil: error: unknown command %q\n\n%s", name, usage())
			return 2
		}
		fs, runCmd := c.flagSet()
		var positional []string
		positional, err = parseFlags(fs, rest)
		switch {
		case err == nil:
			err = runCmd(positional, stdout, stderr)
		case errors.Is(err, flag.ErrHelp):
			c.printHelp(stderr, fs)
		default:
			err = usagef("%s\nRun \"vigil help %s\" for usage.", flagError(fs, err), c.name)
		}
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		if u, ok := errors.AsType[usageError](err); ok {
			fmt.Fprintf(stderr, "vigil: error: %s\n", u.msg)
		}
		return 2
	}
	fmt.Fprintf(stderr, "vigil: error: %v\n", err)
	return 1
}

// parseFlags parses the flags in args wherever they stand, before or after
// the positional arguments, and returns those in order: the help writes
// "vigil audit verify [--dir DIR]" and "vigil key hosts [--clear] FP", and
// the flag package alone stops at the first positional argument. "--" ends
// the flags, for a positional argument that starts with "-".
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if endedFlags(fs, args, len(args)-len(rest)) {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// endedFlags says whether fs.Parse, having used the first used tokens of
// args, stopped at a "--" that ends the flags, rather than at a "--" given
// as a flag's value (--comment -- FILE).
func endedFlags(fs *flag.FlagSet, args []string, used int) bool {
	if used == 0 || args[used-1] != "--" {
		return false
	}
	if used >= 2 {
		prev := args[used-2]
		name := strings.TrimLeft(prev, "-")
		if strings.HasPrefix(prev, "-") && prev != "--" && !strings.Contains(name, "=") {
			if f := fs.Lookup(name); f != nil {
				b, ok := f.Value.(interface{ IsBoolFlag() bool })
				return ok && b.IsBoolFlag() // a bool flag takes no value
			}
		}
	}
	return true
}

func help(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage())
		return nil
	}
	if len(args) > 1 {
		return usagef("vigil help takes one COMMAND")
	}
	if args[0] == "help" {
		fmt.Fprint(stdout, "Usage: vigil help [COMMAND]\n\nLists the commands, or shows a command's help and flags.\n")
		return nil
	}
	c := lookup(args[0])
	if c == nil {
		return usagef("no help for unknown command %q (vigil help lists them)", args[0])
	}
	fs, _ := c.flagSet()
	c.printHelp(stdout, fs)
	return nil
}

// noArgs fails for a command that takes no positional arguments.
func noArgs(args []string, stderr io.Writer) error {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "vigil: error: unexpected argument %q\n", args[0])
		return errUsage
	}
	return nil
}

// negativeFlag refuses a negative duration flag as bad usage, as the config
// file refuses a negative duration: none of vigil's durations runs backwards.
func negativeFlag(stderr io.Writer, name string, d time.Duration) error {
	if d < 0 {
		fmt.Fprintf(stderr, "vigil: error: --%s %v: a duration cannot be negative\n", name, d)
		return errUsage
	}
	return nil
}

var versionCommand = &command{
	name:    "version",
	summary: "print the version",
	help:    "Prints vigil's version.\n",
	setup: func(*flag.FlagSet) runFunc {
		return runVersion
	},
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	if err := noArgs(args, stderr); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "vigil", versionString())
	return nil
}

// versionString is the version set at link time or else the one the Go
// toolchain recorded: the module version for `go install …@vX.Y.Z`, or in
// a git checkout a pseudo-version naming the commit (+dirty when
// modified). "devel" when neither is known.
func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
