package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vigil-agent/vigil/internal/policy"
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
	if _, _, err := approverPrograms(&serveOptions{}, cfg); err != nil {
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
	show("approver", strings.Join(cfg.Approvers, ", "))
	show("askpass", cfg.Askpass)
	show("pinentry", cfg.Pinentry)
	show("prompt_timeout", dur(cfg.PromptTimeout))
	show("grant_for", dur(cfg.GrantFor))
	uses := "any number until it expires"
	if cfg.GrantUses > 0 {
		uses = fmt.Sprint(cfg.GrantUses)
	}
	show("grant_uses", uses)
	show("cooldown", fmt.Sprintf("after %s in a row, refuse that program for %v",
		words.Count(cmp.Or(cfg.CooldownStrikes, policy.DefaultStrikes), "denied or unanswered prompt"), cmp.Or(cfg.CooldownPeriod, policy.DefaultCooldown)))
	show("lifetime", dur(cfg.Lifetime))
	show("audit_dir", cfg.AuditDir)
	show("on_audit_failure", cfg.OnAuditFailure)
	show("store_dir", cfg.StoreDir)
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
		fmt.Fprintln(stdout, r.String())
	}
	if cfg.OfferNone {
		fmt.Fprintln(stdout, "offer_default: none (keys no offer names are hidden from bound destinations)")
	}
	for _, o := range cfg.Offers {
		key := o.Key
		if key == "" {
			key = "any"
		}
		fmt.Fprintf(stdout, "offer %d: key=%s hosts=%s\n", o.N, key, strings.Join(o.Hosts, ","))
	}
	return nil
}
