package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/vigil-agent/vigil/internal/pins"
	"github.com/vigil-agent/vigil/internal/sanitize"
)

// pinsFile is the pins' file name in the state directory.
const pinsFile = "pins.json"

var pinsCommand = &command{
	name:     "pins",
	synopsis: "[--json] | vigil pins forget PATH|all",
	summary:  "list the programs allow rules are pinned to, or forget a pin",
	help: `An allow rule that names a program (exe = "/usr/bin/ssh") is pinned to that
program's content the first time it matches: if the file at that path later
holds other content (an upgrade, or tampering), the rule no longer applies and
the next request asks, saying the program changed; a yes pins the new content.
Pins are kept in $XDG_STATE_HOME/vigil/pins.json across restarts, so a binary
replaced while vigil was stopped is noticed too.

"vigil pins" lists the pins of the running agent and whether the file on disk
still has the pinned content. After an upgrade you trust, "vigil pins forget
PATH" (or "forget all") drops the pin: the program is pinned again, without a
prompt, at its next use. Because of that, forgetting asks you first, through
the approver that signature prompts use, naming the program that asks and the
pins; it is refused when you say no or nobody can be asked, and recorded in
the audit log either way.
`,
	setup: func(fs *flag.FlagSet) runFunc {
		sock := fs.String("socket", "", "the agent's `PATH` (default: $SSH_AUTH_SOCK, then vigil's default socket)")
		asJSON := fs.Bool("json", false, "print the pins as JSON")
		return func(args []string, stdout, stderr io.Writer) error {
			if len(args) > 0 {
				if args[0] != "forget" || len(args) != 2 {
					fmt.Fprintln(stderr, "vigil: error: usage: vigil pins forget PATH|all")
					return errUsage
				}
				// Pins are kept by absolute path, as the agent saw the
				// program: a relative one can match none.
				if !filepath.IsAbs(args[1]) && args[1] != "all" {
					return usagef("%s is not an absolute path (the PROGRAM column of vigil pins) or all", sanitize.Quote(args[1], 200))
				}
			}
			path, err := runningAgent(*sock)
			if err != nil {
				return err
			}
			if len(args) > 0 {
				n, err := control(path, "forget-pin@vigil", []byte(args[1]))
				if err != nil {
					return refusedAs("pins not forgotten", err)
				}
				forgot, err := countReply(n, "pin")
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "forgot %s\n", forgot)
				return nil
			}
			reply, err := control(path, "pins@vigil", nil)
			if err != nil {
				return err
			}
			if *asJSON {
				_, err := fmt.Fprintf(stdout, "%s\n", reply)
				return err
			}
			var list []pins.Pin
			if err := json.Unmarshal(reply, &list); err != nil {
				return fmt.Errorf("unexpected answer from the agent: %w", err)
			}
			if len(list) == 0 {
				fmt.Fprintln(stdout, "no pins: no allow rule that names a program has matched yet")
				return nil
			}
			return printPins(stdout, list)
		}
	},
}

func printPins(stdout io.Writer, list []pins.Pin) error {
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "PROGRAM\tPINNED SHA-256\tSINCE\tON DISK")
	for _, p := range list {
		// A program's path is whatever file name its author chose:
		// escaped, never raw to a terminal.
		fmt.Fprintf(w, "%s\t%.12s…\t%s\t%s\n", sanitize.Line(p.Exe, 0), sanitize.Line(p.SHA256, 0),
			p.Since.Local().Format(time.DateTime), onDisk(p))
	}
	return w.Flush()
}

// onDisk says whether the file at a pin's path still has the pinned content.
func onDisk(p pins.Pin) string {
	f, err := os.Open(p.Exe)
	if errors.Is(err, fs.ErrNotExist) {
		return "missing"
	}
	if err != nil {
		return "unreadable"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unreadable"
	}
	if hex.EncodeToString(h.Sum(nil)) != p.SHA256 {
		return "changed: the next request asks"
	}
	return "same"
}
