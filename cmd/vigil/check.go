package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vigil-agent/vigil/internal/config"
	"github.com/vigil-agent/vigil/internal/policy"
	"github.com/vigil-agent/vigil/internal/sanitize"
	"github.com/vigil-agent/vigil/internal/words"
)

var checkCommand = &command{
	name:     "check",
	synopsis: "[--config FILE]",
	summary:  "validate the config file and print the rules",
	help: `Validates the configuration file as vigil serve does at start (including
that the askpass and pinentry programs it would use can be run), and prints
its settings and rules as vigil understands them. Exit status 1 if the file
is invalid; the message names the line or the rule.

` + configFileDoc,
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
	// What serve would refuse at start, with no flags to override the file.
	askpass, pinentry, err := approverPrograms(&serveOptions{}, cfg)
	if err != nil {
		return err
	}
	// Each setting as it is in force, defaults included: "(default)" alone
	// would hide what vigil does, and a zero can mean "off". Paths, globs
	// and host patterns are the config file's text, which can hold any
	// character: escaped, never raw to a terminal.
	show := func(name, v string) {
		fmt.Fprintf(stdout, "%-17s %s\n", name, sanitize.Line(v, 0))
	}
	orDefault := func(set string, dflt func() (string, error)) string {
		if set != "" {
			return set
		}
		d, err := dflt()
		if err != nil {
			return "(none: " + err.Error() + ")"
		}
		return d + " (default)"
	}
	show("socket", orDefault(cfg.Socket, func() (string, error) {
		p, _, err := socketPath("", "")
		return p, err
	}))
	show("approver", orDefault(strings.Join(cfg.Approvers, ", "), func() (string, error) {
		return strings.Join(config.DefaultApprovers, ", "), nil
	}))
	program := func(name, path string) string {
		switch {
		case path == "":
			return "none"
		case !slices.Contains(approverOrder(cfg), name):
			return path + " (unused: the approver list leaves out " + name + ")"
		case name == config.ApproverAskpass && cfg.Askpass == "":
			return path + " (from SSH_ASKPASS)"
		}
		return path
	}
	show("askpass", program(config.ApproverAskpass, askpass))
	show("pinentry", program(config.ApproverPinentry, pinentry))
	show("prompt_timeout", cmp.Or(cfg.PromptTimeout, defaultPromptTimeout).String())
	grantFor := cfg.GrantFor.String()
	if cfg.GrantFor == 0 {
		grantFor += ` (no "allow for" button)`
	}
	show("grant_for", grantFor)
	uses := "any number until it expires"
	if cfg.GrantUses > 0 {
		uses = fmt.Sprint(cfg.GrantUses)
	}
	show("grant_uses", uses)
	show("cooldown", fmt.Sprintf("after %s in a row, refuse that program for %v",
		words.Count(cmp.Or(cfg.CooldownStrikes, policy.DefaultStrikes), "denied or unanswered prompt"), cmp.Or(cfg.CooldownPeriod, policy.DefaultCooldown)))
	lifetime := cfg.Lifetime.String()
	if cfg.Lifetime == 0 {
		lifetime += " (keys added without ssh-add -t are kept)"
	}
	show("lifetime", lifetime)
	show("audit_dir", orDefault(cfg.AuditDir, defaultAuditDir))
	show("on_audit_failure", orDefault(cfg.OnAuditFailure, func() (string, error) { return "refuse", nil }))
	show("store_dir", orDefault(cfg.StoreDir, func() (string, error) { return storeDir("") }))
	notifications := "off"
	if cfg.Notify {
		notifications = "on, when vigil runs in a desktop session (DBUS_SESSION_BUS_ADDRESS)"
	}
	show("notify", notifications)
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
		fmt.Fprintln(stdout, "no rules: every signature and credential asks")
	}
	for _, r := range cfg.Rules {
		fmt.Fprintln(stdout, sanitize.Line(r.String(), 0))
	}
	if cfg.OfferNone {
		fmt.Fprintln(stdout, "offer_default: none (keys no offer names are hidden from bound destinations)")
	}
	for _, o := range cfg.Offers {
		key := o.Key
		if key == "" {
			key = "any"
		}
		fmt.Fprintf(stdout, "offer %d: key=%s hosts=%s\n", o.N, sanitize.Line(key, 0), sanitize.Line(strings.Join(o.Hosts, ","), 0))
	}
	return nil
}
