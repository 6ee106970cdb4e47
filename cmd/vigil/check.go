package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

const checkUsage = `Usage: vigil check [--config FILE]

Validates the configuration file (default: $XDG_CONFIG_HOME/vigil/config.toml)
and prints its settings and rules as vigil understands them. Exit status 1 if
the file is invalid; the message names the line or rule.

Rules are tried in order; the first that matches decides; no match asks.
  [[rule]]
  key = "SHA256:..."       # fingerprint, or a glob over the key comment; omitted: any key
  exe = "/usr/bin/ssh"     # absolute path of the calling program; omitted: any program
  purpose = "login"        # login | git | file | namespace:NAME | unknown | any (default)
  host = "*.example.com"   # logins only: glob over the verified destination name
  forwarded = false        # true: match only forwarded requests; false/omitted: only local
  action = "allow"         # allow | ask | deny

Flags:
`

func checkFlags(out io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("vigil check", flag.ContinueOnError)
	fs.SetOutput(out)
	path := fs.String("config", "", "check `FILE` instead of the default config file")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), checkUsage)
		fs.PrintDefaults()
	}
	return fs, path
}

func check(args []string, stdout, stderr io.Writer) error {
	fs, path := checkFlags(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vigil: error: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	show := func(name, v string) {
		if v == "" {
			v = "(default)"
		}
		fmt.Fprintf(stdout, "%-15s %s\n", name, v)
	}
	dur := func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return d.String()
	}
	show("socket", cfg.Socket)
	show("approver", cfg.Approver)
	show("prompt_timeout", dur(cfg.PromptTimeout))
	show("lifetime", dur(cfg.Lifetime))
	if len(cfg.Rules) == 0 {
		fmt.Fprintln(stdout, "no rules: every signature asks")
	}
	for _, r := range cfg.Rules {
		fmt.Fprintln(stdout, r.String())
	}
	return nil
}
