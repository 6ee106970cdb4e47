package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

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
locally or forwarded as it was, until it expires. Grants are dropped on every
lock and when the unlock window ends. "vigil grants" lists them; "vigil grants
revoke ID" or "revoke all" (or --all) ends them at once; so does r in vigil watch.
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
				if _, err := strconv.Atoi(which); err != nil && which != "all" {
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
				_, err := fmt.Fprintf(stdout, "%s\n", reply)
				return err
			}
			var grants []policy.Grant
			if err := json.Unmarshal(reply, &grants); err != nil {
				return fmt.Errorf("unexpected answer from the agent: %w", err)
			}
			if len(grants) == 0 {
				fmt.Fprintln(stdout, "no live grants")
				return nil
			}
			w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tPROGRAM\tRUN BY\tKEY\tPURPOSE\tHOST\tPATH\tEXPIRES\tUSED")
			for _, g := range grants {
				where := "local"
				if g.Forwarded {
					where = "forwarded"
				}
				host := g.Host
				if host == "" {
					host = "-"
				}
				runBy := g.RunBy
				if runBy == "" {
					runBy = "-"
				}
				expires := g.Expires.Local().Format(time.TimeOnly)
				if policy.AtLock(g.Expires, time.Now()) {
					expires = "until lock"
				}
				// Paths and names come from callers: escaped, never raw to a terminal.
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", g.ID, sanitize.Line(g.Exe, 0),
					sanitize.Line(runBy, 0), g.Key, sanitize.Line(g.Purpose, 0), sanitize.Line(host, 0), where,
					expires, g.Used)
			}
			return w.Flush()
		}
	},
}
