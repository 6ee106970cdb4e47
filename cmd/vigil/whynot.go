package main

import (
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/vigil-agent/vigil/internal/policy"
)

var whyNotCommand = &command{
	name:     "why-not",
	synopsis: "[--config FILE] [--socket PATH] HOST",
	summary:  "explain which keys are offered to HOST, and why the others are hidden",
	help: `Lists the running agent's keys and says, for each, whether it would be offered
to HOST and why, by the [[offer]] tables of the config file:

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
		cfgPath := fs.String("config", "", "read offers from `FILE` instead of the default config file")
		sock := fs.String("socket", "", "the agent's `PATH` (default: $SSH_AUTH_SOCK, then vigil's default socket)")
		return func(args []string, stdout, stderr io.Writer) error {
			if len(args) != 1 {
				fmt.Fprintln(stderr, "vigil: error: vigil why-not takes one HOST")
				return errUsage
			}
			cfg, err := loadConfig(*cfgPath)
			if err != nil {
				return err
			}
			path, err := runningAgent(*sock)
			if err != nil {
				return err
			}
			c, err := dialAgent(path)
			if err != nil {
				return fmt.Errorf("vigil agent not running at %s: %w", path, err)
			}
			defer c.Close()
			keys, err := agent.NewClient(c).List()
			if err != nil {
				return fmt.Errorf("list keys: %w", err)
			}
			w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "KEY\tCOMMENT\tTO %s\tWHY\n", args[0])
			for _, k := range keys {
				fp := ssh.FingerprintSHA256(k)
				ok, why := policy.Offered(cfg.Offers, cfg.OfferNone, policy.OfferRequest{
					KeyFingerprint: fp, KeyComment: k.Comment, Host: args[0]})
				verdict := "hidden"
				if ok {
					verdict = "offered"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", fp, k.Comment, verdict, why)
			}
			return w.Flush()
		}
	},
}
