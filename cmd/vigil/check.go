package main

import (
	"flag"
	"fmt"
	"io"
	"time"
)

var checkCommand = &command{
	name:     "check",
	synopsis: "[--config FILE]",
	summary:  "validate the config file and print the rules",
	help: `Validates the configuration file and prints its settings and rules as vigil
understands them. Exit status 1 if the file is invalid; the message names the
line or the rule.

The file is TOML: $XDG_CONFIG_HOME/vigil/config.toml (~/.config/vigil/
config.toml) unless --config says otherwise. Unknown keys are errors.
  socket = "PATH"            # as vigil serve --socket
  approver = "PROGRAM"       # as vigil serve --approver
  prompt_timeout = "60s"     # as vigil serve --prompt-timeout
  lifetime = "8h"            # as vigil serve --lifetime
  audit_dir = "DIR"          # where the audit log lives (see vigil help audit)
  on_audit_failure = "refuse"  # or "continue": sign even if the record cannot be written
  store_dir = "DIR"          # the key store (see vigil help key)

  [unlock]                   # the unlock window (see vigil help unlock)
  idle_timeout = "15m"       # sliding: each signature restarts it; "0s": no limit
  max_lifetime = "4h"        # absolute: nothing extends it; "0s": no limit
  max_signatures = 0         # 0: no limit

Rules are tried in order; the first that matches decides; no match asks.
  [[rule]]
  key = "SHA256:..."       # fingerprint, or a glob over the key comment; omitted: any key
  exe = "/usr/bin/ssh"     # absolute path of the calling program; omitted: any program
  purpose = "login"        # login | git | file | namespace:NAME | unknown | any (default)
  host = "*.example.com"   # logins only: glob over the verified destination name
  forwarded = false        # true: match only forwarded requests; false/omitted: only local
  action = "allow"         # allow | ask | deny
`,
	setup: func(fs *flag.FlagSet) runFunc {
		path := fs.String("config", "", "check `FILE` instead of the default config file")
		return func(args []string, stdout, stderr io.Writer) error {
			if err := noArgs(args, stderr); err != nil {
				return err
			}
			return check(*path, stdout)
		}
	},
}

func check(path string, stdout io.Writer) error {
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	show := func(name, v string) {
		if v == "" {
			v = "(default)"
		}
		fmt.Fprintf(stdout, "%-17s %s\n", name, v)
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
	show("audit_dir", cfg.AuditDir)
	show("on_audit_failure", cfg.OnAuditFailure)
	show("store_dir", cfg.StoreDir)
	limit := func(d time.Duration) string {
		if d == 0 {
			return "no limit"
		}
		return d.String()
	}
	signatures := "no limit"
	if n := cfg.Unlock.MaxSignatures; n > 0 {
		signatures = fmt.Sprint(n)
	}
	show("unlock", fmt.Sprintf("idle %s, lifetime %s, signatures %s", limit(cfg.Unlock.IdleTimeout),
		limit(cfg.Unlock.MaxLifetime), signatures))
	if len(cfg.Rules) == 0 {
		fmt.Fprintln(stdout, "no rules: every signature asks")
	}
	for _, r := range cfg.Rules {
		fmt.Fprintln(stdout, r.String())
	}
	return nil
}
