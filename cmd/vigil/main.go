// Command vigil is an SSH agent that asks before every signature.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `vigil: an SSH agent that never signs silently

Usage:
  vigil serve [flags]     run the agent in the foreground
  vigil check [--config FILE]
                          validate the config file and print the rules
  vigil version           print the version
  vigil help [COMMAND]    show help

Run "vigil help serve" for the agent's flags.
`

var version = "devel"

// errUsage marks an error whose message is already the whole story and
// whose exit status is 2, as flag parsing errors are.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = serve(rest, stdout, stderr)
	case "check":
		err = check(rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "vigil", version)
	case "help", "-h", "-help", "--help":
		err = help(rest, stdout)
	default:
		fmt.Fprintf(stderr, "vigil: error: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "vigil: error: %v\n", err)
	return 1
}

func help(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return nil
	}
	switch args[0] {
	case "serve":
		fs, _ := serveFlags(stdout)
		fs.Usage()
		return nil
	case "check":
		fs, _ := checkFlags(stdout)
		fs.Usage()
		return nil
	}
	return fmt.Errorf("no help for unknown command %q", args[0])
}
