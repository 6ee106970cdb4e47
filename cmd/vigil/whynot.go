package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	vagent "github.com/vigil-agent/vigil/internal/agent"
	"github.com/vigil-agent/vigil/internal/sanitize"
)

var whyNotCommand = &command{
	name:     "why-not",
	synopsis: "[--socket PATH] HOST",
	summary:  "explain which keys are offered to HOST, and why the others are hidden",
	help: `Lists the running agent's keys and says, for each, whether it would be offered
to HOST and why. The running agent decides, by the rules it lists keys by: the
hosts set on keys of the store (vigil key hosts), then the [[offer]] tables of
its config file as last loaded (at start or on SIGHUP):

  offer_default = "all"          # keys no offer names: offered everywhere ("none": nowhere)
  [[offer]]
  key = "SHA256:..."             # fingerprint, or a glob over the key comment
  hosts = ["github.com", "*.github.com", "[git.example.com]:2222"]

HOST is written as known_hosts names it: a name, or [name]:port for another
port. On a connection that the ssh client bound to a server (session-bind),
vigil lists only the keys offered to that server, named from your own
known_hosts only when the server proved its key; a signature with any other key
is refused without a prompt. Connections not bound to a server (ssh-keygen -Y,
git commit signing, paramiko) see every key.
`,
	setup: func(fs *flag.FlagSet) runFunc {
		sock := fs.String("socket", "", "the agent's `PATH` (default: $SSH_AUTH_SOCK, then vigil's default socket)")
		return func(args []string, stdout, stderr io.Writer) error {
			if len(args) != 1 {
				fmt.Fprintln(stderr, "vigil: error: vigil why-not takes one HOST")
				return errUsage
			}
			path, err := runningAgent(*sock)
			if err != nil {
				return err
			}
			reply, err := control(path, "offers@vigil", []byte(args[0]))
			if err != nil {
				return err
			}
			var verdicts []vagent.OfferVerdict
			if err := json.Unmarshal(reply, &verdicts); err != nil {
				return fmt.Errorf("unexpected answer from the agent: %w", err)
			}
			w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			// Comments come from whoever added the keys: escaped, never raw to a terminal.
			fmt.Fprintf(w, "KEY\tCOMMENT\tTO %s\tWHY\n", sanitize.Line(args[0], 0))
			for _, v := range verdicts {
				verdict := "hidden"
				if v.Offered {
					verdict = "offered"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", sanitize.Line(v.Fingerprint, 0), sanitize.Line(v.Comment, 0), verdict, sanitize.Line(v.Why, 0))
			}
			return w.Flush()
		}
	},
}
