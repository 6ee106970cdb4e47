package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	vagent "github.com/vigil-agent/vigil/internal/agent"
	"github.com/vigil-agent/vigil/internal/sanitize"
	"github.com/vigil-agent/vigil/internal/secmem"
	"github.com/vigil-agent/vigil/internal/words"
)

var unlockCommand = &command{
	name:     "unlock",
	synopsis: "[--socket PATH]",
	summary:  "unlock the key store's keys in the running agent",
	help: `Asks for the key store's passphrase (on the terminal, or through $SSH_ASKPASS)
and sends it to the running agent, which decrypts the store's keys into
memory for an unlock window: it ends after idle_timeout without a signature,
after max_lifetime in any case, and after max_signatures ([unlock] in the
config file; defaults 15m, 4h, no limit). When it ends, every private key is
wiped from memory; keys added with ssh-add are removed.

Every signature still needs a rule or a person's yes.
`,
	setup: controlSetup(func(sock string, args []string, stdout, stderr io.Writer) error {
		pass, err := readPassphrase("Passphrase of vigil's key store:")
		if err != nil {
			return err
		}
		defer secmem.Wipe(pass)
		msg := ssh.Marshal(struct{ Passphrase []byte }{pass})
		defer secmem.Wipe(msg)
		reply, err := control(sock, "unlock@vigil", msg)
		if err != nil {
			return refusedAs("unlock refused", err)
		}
		var n struct{ N uint32 }
		if err := ssh.Unmarshal(reply, &n); err != nil {
			return fmt.Errorf("unexpected answer from the agent: %w", err)
		}
		fmt.Fprintf(stdout, "unlocked: %s\n", words.Count(int(n.N), "key"))
		return nil
	}),
}

var lockCommand = &command{
	name:     "lock",
	synopsis: "[--socket PATH]",
	summary:  "wipe every private key from the running agent now",
	help: `Ends the unlock window at once: every private key is wiped from the running
agent's memory. Keys of the key store stay listed and can be unlocked again;
keys added with ssh-add are removed. (ssh-add -x locks with a passphrase
instead, keeping the keys sealed in memory.)
`,
	setup: controlSetup(func(sock string, args []string, stdout, stderr io.Writer) error {
		if _, err := control(sock, "lock@vigil", nil); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "locked: private keys wiped")
		return nil
	}),
}

var statusCommand = &command{
	name:     "status",
	synopsis: "[--socket PATH] [--json]",
	summary:  "show the running agent's keys, window and pending prompts",
	help: `Shows whether the agent is locked, how long the unlock window has left on each
limit, its keys (and whether each private key is in memory) and how many
requests wait for a person.
`,
	setup: func(fs *flag.FlagSet) runFunc {
		sock := fs.String("socket", "", "the agent's `PATH` (default: $SSH_AUTH_SOCK, then vigil's default socket)")
		asJSON := fs.Bool("json", false, "print the status as JSON")
		return func(args []string, stdout, stderr io.Writer) error {
			if err := noArgs(args, stderr); err != nil {
				return err
			}
			path, err := runningAgent(*sock)
			if err != nil {
				return err
			}
			reply, err := control(path, "status@vigil", nil)
			if err != nil {
				return err
			}
			if *asJSON {
				_, err := fmt.Fprintf(stdout, "%s\n", reply)
				return err
			}
			var st vagent.Status
			if err := json.Unmarshal(reply, &st); err != nil {
				return fmt.Errorf("unexpected answer from the agent: %w", err)
			}
			return printStatus(stdout, path, st)
		}
	},
}

func printStatus(w io.Writer, sock string, st vagent.Status) error {
	fmt.Fprintf(w, "agent:    %s\n", sock)
	switch {
	case st.Locked:
		fmt.Fprintln(w, "state:    locked (ssh-add -x): keys sealed in memory")
	case st.Window.Open:
		fmt.Fprintf(w, "state:    unlocked; %s in this window\n", words.Count(st.Window.Signatures, "signature"))
		if st.Window.IdleLeft > 0 {
			fmt.Fprintf(w, "idle:     ends in %v without a signature\n", st.Window.IdleLeft.Round(time.Second))
		}
		if st.Window.LifetimeLeft > 0 {
			fmt.Fprintf(w, "lifetime: ends in %v at the latest\n", st.Window.LifetimeLeft.Round(time.Second))
		}
		if st.Window.SignaturesLeft > 0 {
			fmt.Fprintf(w, "count:    ends after %s\n", words.Count(st.Window.SignaturesLeft, "more signature"))
		}
	default:
		fmt.Fprintln(w, "state:    no private key in memory")
	}
	fmt.Fprintf(w, "pending:  %s\n\n", words.Count(st.Pending, "prompt"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tFINGERPRINT\tCOMMENT\tSOURCE\tIN MEMORY")
	for _, k := range st.Keys {
		// Any program that can ssh-add chose the comment: escaped, never raw
		// to a terminal, where it could clear the screen or fake a line.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", sanitize.Line(k.Type, 0), sanitize.Line(k.Fingerprint, 0),
			sanitize.Line(k.Comment, 0), sanitize.Line(k.Source, 0), k.Loaded)
	}
	return tw.Flush()
}

// countReply is count for a number the agent sent as text.
func countReply(reply []byte, noun string) (string, error) {
	n, err := strconv.Atoi(string(reply))
	if err != nil {
		return "", fmt.Errorf("unexpected answer from the agent: %q is not a number", reply)
	}
	return words.Count(n, noun), nil
}

// controlSetup makes the setup of a command that talks to the running
// agent and takes no arguments.
func controlSetup(run func(sock string, args []string, stdout, stderr io.Writer) error) func(*flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		sock := fs.String("socket", "", "the agent's `PATH` (default: $SSH_AUTH_SOCK, then vigil's default socket)")
		return func(args []string, stdout, stderr io.Writer) error {
			if err := noArgs(args, stderr); err != nil {
				return err
			}
			path, err := runningAgent(*sock)
			if err != nil {
				return err
			}
			return run(path, args, stdout, stderr)
		}
	}
}

// runningAgent is where the running agent listens: the flag, SSH_AUTH_SOCK,
// or vigil's default socket.
func runningAgent(flagPath string) (string, error) {
	if p := firstSet(flagPath, os.Getenv("SSH_AUTH_SOCK")); p != "" {
		return p, nil
	}
	p, _, err := socketPath("", "")
	return p, err
}

// control sends one vigil extension message and returns the reply after
// the success byte. It asks first which extensions the agent serves, so
// that an agent that is not vigil is told apart from vigil refusing, and
// is sent nothing (an unlock carries the passphrase). vigil's refusal is
// an error that wraps a *vagent.RefusedError, whose reason (escaped by
// vagent.Client) says why.
func control(sock, name string, contents []byte) ([]byte, error) {
	c, err := dialAgent(sock)
	if err != nil {
		return nil, fmt.Errorf("vigil agent not running at %s: %w", sock, err)
	}
	defer c.Close()
	client := vagent.NewClient(c)
	names, err := vagent.QueryExtensions(client)
	if err != nil && !errors.Is(err, agent.ErrExtensionUnsupported) {
		return nil, fmt.Errorf("the agent at %s did not answer: %w", sock, err)
	}
	if !slices.Contains(names, name) {
		return nil, fmt.Errorf("the agent at %s is not vigil: it does not serve %s", sock, name)
	}
	reply, err := client.Extension(name, contents)
	if refused := new(vagent.RefusedError); errors.As(err, &refused) {
		return nil, fmt.Errorf("the agent at %s refused %s: %w", sock, name, refused)
	}
	if errors.Is(err, agent.ErrExtensionUnsupported) {
		return nil, fmt.Errorf("the agent at %s refused %s without a reason (vigil serves its own extensions to local programs only, not over a forwarded connection)", sock, name)
	}
	if err != nil {
		return nil, fmt.Errorf("the agent at %s did not answer %s: %w", sock, name, err)
	}
	return reply[1:], nil
}

// refusedAs is err in the command's words, what, with the agent's reason
// when vigil refused; any other error is returned as it is.
func refusedAs(what string, err error) error {
	if refused := new(vagent.RefusedError); errors.As(err, &refused) {
		return fmt.Errorf("%s: %w", what, refused)
	}
	return err
}
