package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/words"
)

var auditCommand = &command{
	name:     "audit",
	synopsis: "[flags] | vigil audit verify [--dir DIR]",
	summary:  "show the audit log, or verify its hash chain",
	help: `Shows the audit log as a table (time, program, purpose, host, key, decision),
oldest first. Every signature, add, remove, lock and unlock is one record; a
record holds the caller's verified executable and its SHA-256, the key's
fingerprint, the purpose, the verified host, the path and the decision with
what made it. Never a secret, and never the signed bytes (only their SHA-256).

Text a caller chose (a namespace, a URL, a path) is recorded as sent and
escaped when shown: the table shows control and bidirectional characters as
\x1b or \u202e. --json prints the records as stored; on a terminal, the
characters JSON lets through (C1 controls, bidirectional overrides) are
written as \u escapes instead, which decode to the same text.

"vigil audit verify" checks the hash chain across all files and names the
first record that was edited, deleted or reordered; a record cut short by a
crash is reported as a truncated tail. Exit status 1 if the chain is broken.

The log lives in $XDG_STATE_HOME/vigil/audit (~/.local/state/vigil/audit)
unless audit_dir in the config file or --dir says otherwise. It is fsynced in
groups: a power loss can lose at most the last group of records, and a gap is
always visible to verify. One vigil serve at a time writes a log (it holds a
lock on writer.lock there): a second one with the same audit directory
refuses to start and names the first. Reading and verifying take no lock.
`,
	setup: func(fs *flag.FlagSet) runFunc {
		dir := fs.String("dir", "", "read the log in `DIR` instead of the default")
		since := fs.Duration("since", 0, "only records from the last `DURATION` (e.g. 1h)")
		key := fs.String("key", "", "only records for keys whose fingerprint starts with `FINGERPRINT` (the table's shortened form works)")
		program := fs.String("program", "", "only records whose program path contains `TEXT`")
		denied := fs.Bool("denied", false, "only refusals: denied, timed out, cancelled, failed")
		follow := fs.Bool("follow", false, "keep printing new records as they are written")
		asJSON := fs.Bool("json", false, "print the records as stored, one JSON object per line")
		return func(args []string, stdout, stderr io.Writer) error {
			verify := len(args) > 0 && args[0] == "verify"
			if verify {
				args = args[1:]
			}
			if err := noArgs(args, stderr); err != nil {
				return err
			}
			if err := negativeFlag(stderr, "since", *since); err != nil {
				return err
			}
			d, err := auditDir(*dir)
			if err != nil {
				return err
			}
			if verify {
				return auditVerify(d, stdout)
			}
			f := audit.Filter{Key: *key, Program: *program, DeniedOnly: *denied}
			if *since > 0 {
				f.Since = time.Now().Add(-*since)
			}
			return auditShow(d, f, *follow, *asJSON, stdout, stderr)
		}
	},
}

// auditDir is the log's directory: the flag, the config file, or the default.
func auditDir(flagDir string) (string, error) {
	if flagDir != "" {
		return filepath.Abs(flagDir)
	}
	cfg, err := loadConfig("")
	if err != nil {
		return "", err
	}
	if cfg.AuditDir != "" {
		return filepath.Abs(cfg.AuditDir)
	}
	return defaultAuditDir()
}

func defaultAuditDir() (string, error) {
	state, err := stateDir()
	if err != nil {
		return "", fmt.Errorf("%w: set audit_dir in the config file", err)
	}
	return filepath.Join(state, "audit"), nil
}

// stateDir is vigil's directory for what it keeps between runs:
// $XDG_STATE_HOME/vigil, by default ~/.local/state/vigil.
func stateDir() (string, error) {
	state := os.Getenv("XDG_STATE_HOME")
	if state == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", errors.New("no XDG_STATE_HOME and no home directory")
		}
		state = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(state, "vigil"), nil
}

func auditShow(dir string, f audit.Filter, follow, asJSON bool, stdout, stderr io.Writer) error {
	if _, err := os.Stat(dir); err != nil && !follow {
		return fmt.Errorf("no audit log at %s: %w", dir, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	entries := audit.Scan(dir, f)
	if follow {
		entries = audit.Follow(ctx, dir, f)
	}
	table := audit.NewTable(stdout, time.Local)
	if !asJSON {
		// No record matching the filters is a table with no rows.
		if err := table.Header(); err != nil {
			return err
		}
	}
	// JSON on a terminal is read by a person: what JSON lets through as it
	// is (bidi overrides, C1 controls) is escaped there, and only there, so
	// that piped output stays the stored bytes.
	toPerson := isTerminal(stdout)
	for e, err := range entries {
		if err != nil {
			// A damaged line is reported and skipped; verify says more.
			fmt.Fprintf(stderr, "vigil: warning: %v\n", err)
			continue
		}
		if asJSON {
			err = audit.WriteJSON(stdout, e, toPerson)
		} else {
			err = table.Write(&e.Record)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func auditVerify(dir string, stdout io.Writer) error {
	rep, err := audit.Verify(dir)
	if err != nil {
		// err names the package ("audit: ...") and the file: add the directory.
		return fmt.Errorf("%w (log in %s)", err, dir)
	}
	fmt.Fprintf(stdout, "audit log %s: %s in %s, chain intact\n", dir, words.Count(rep.Records, "record"), words.Count(len(rep.Files), "file"))
	if rep.FirstSeq > 1 {
		fmt.Fprintf(stdout, "older files were removed: the log starts at record %d (before it: %s)\n", rep.FirstSeq, rep.PrunedBefore)
	}
	for _, tr := range rep.Truncated {
		fmt.Fprintf(stdout, "truncated tail (a crash, not tampering): %s line %d, %s\n", tr.File, tr.Line, words.Count(tr.Bytes, "byte"))
	}
	fmt.Fprintf(stdout, "head: record %d in %s, hash %s\n", rep.Head.Seq, rep.Head.File, rep.Head.Hash)
	return nil
}

// isTerminal reports whether w is a terminal, where a person reads it.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
