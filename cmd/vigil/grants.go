package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"text/tabwriter"
	"time"

	vagent "github.com/vigil-agent/vigil/internal/agent"
	"github.com/vigil-agent/vigil/internal/policy"
	"github.com/vigil-agent/vigil/internal/sanitize"
)

var grantsCommand = &command{
	name:     "grants",
	synopsis: "[--json] | vigil grants revoke ID|all|--all",
	summary:  "list the live grants, or end them at once",
	help: `A grant is what pinentry's "Allow for 5 min" or vigil watch's g makes: it
lets exactly one program (path and content hash), started by the same program
as when it was granted (the git behind ssh or ssh-keygen, else its parent),
sign with one key for one purpose (and, for a login, one verified host),
locally or forwarded as it was, until it expires. A yes to a cargo read makes
a read grant (cargo-read-N): the same program (path and content hash) may
read the same registry without asking for 10 minutes. Grants are dropped on
every lock and when the unlock window ends. "vigil grants" lists them all;
"vigil grants revoke ID" or "revoke all" (or --all) ends them at once; so
does r in vigil watch, for signing grants.
`,
	setup: func(fs *flag.FlagSet) runFunc {
		sock := fs.String("socket", "", "the agent's `PATH` (default: $SSH_AUTH_SOCK, then vigil's default socket)")
		asJSON := fs.Bool("json", false, "print the grants as JSON")
		all := fs.Bool("all", false, "with revoke: revoke every grant (the same as revoke all)")
		return func(args []string, stdout, stderr io.Writer) error {
			if *all && len(args) == 1 && args[0] == "revoke" {
				args = append(args, "all")
			}
			if *all && (len(args) != 2 || args[1] != "all") {
				fmt.Fprintln(stderr, "vigil: error: --all goes with revoke and no grant ID: vigil grants revoke --all")
				return errUsage
			}
			if len(args) > 0 {
				if args[0] != "revoke" || len(args) != 2 {
					fmt.Fprintln(stderr, "vigil: error: usage: vigil grants revoke ID|all")
					return errUsage
				}
			}
			path, err := runningAgent(*sock)
			if err != nil {
				return err
			}
			if len(args) > 0 {
				which := args[1]
				if !grantID(which) {
					return usagef("%s is not a grant ID (the ID column of vigil grants) or all", sanitize.Quote(which, 64))
				}
				n, err := control(path, "revoke@vigil", []byte(which))
				if err != nil {
					return refusedAs("not revoked", err)
				}
				revoked, err := countReply(n, "grant")
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "revoked %s\n", revoked)
				return nil
			}
			reply, err := control(path, "grants@vigil", nil)
			if err != nil {
				return err
			}
			if *asJSON {
				if isTerminal(stdout) {
					reply = sanitize.JSON(reply) // as vigil audit --json does
				}
				_, err := fmt.Fprintf(stdout, "%s\n", reply)
				return err
			}
			var grants []vagent.ListedGrant
			if err := json.Unmarshal(reply, &grants); err != nil {
				return fmt.Errorf("unexpected answer from the agent: %w", err)
			}
			return printGrants(stdout, grants, time.Now())
		}
	},
}

// printGrants writes the grants as a table, signing grants by number and
// an extension's (cargo-read-N) by name.
func printGrants(stdout io.Writer, grants []vagent.ListedGrant, now time.Time) error {
	if len(grants) == 0 {
		_, err := fmt.Fprintln(stdout, "no live grants")
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tPROGRAM\tRUN BY\tKEY\tPURPOSE\tHOST\tPATH\tEXPIRES\tUSED")
	for _, g := range grants {
		where := "local"
		if g.Forwarded {
			where = "forwarded"
		}
		id := cmp.Or(g.Name, fmt.Sprint(g.ID))
		expires := g.Expires.Local().Format(time.TimeOnly)
		if policy.AtLock(g.Expires, now) {
			expires = "until lock"
		}
		// Paths and names come from callers: escaped, never raw to a terminal.
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", sanitize.Line(id, 0), sanitize.Line(g.Exe, 0),
			sanitize.Line(cmp.Or(g.RunBy, "-"), 0), sanitize.Line(cmp.Or(g.Key, "-"), 0), sanitize.Line(g.Purpose, 0),
			sanitize.Line(cmp.Or(g.Host, g.Resource, "-"), 0), where, expires, g.Used)
	}
	return w.Flush()
}

// grantID says whether s can name grants: all, a signing grant's number,
// or an extension's grant name, such as cargo-read-1.
func grantID(s string) bool {
	_, err := strconv.Atoi(s)
	return s == "all" || err == nil || grantName.MatchString(s)
}

var grantName = regexp.MustCompile(`^[a-z]+(-[a-z]+)*-[0-9]+$`)
