package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// The man page is generated from the command table, so it cannot drift
// from --help; man_test.go checks the committed doc/vigil.1 against it.

const manEnvironment = `SSH_AUTH_SOCK
Printed by vigil serve; set it in your shell to use the agent.
SSH_ASKPASS
The approver program when neither --approver nor the config file names one.
XDG_RUNTIME_DIR
Where the default socket lives: $XDG_RUNTIME_DIR/vigil/agent.sock.
XDG_CONFIG_HOME
Where the config file lives: $XDG_CONFIG_HOME/vigil/config.toml (default ~/.config).
LISTEN_PID, LISTEN_FDS, NOTIFY_SOCKET
systemd socket activation and readiness notification.
`

const manFiles = `$XDG_RUNTIME_DIR/vigil/agent.sock, ~/.vigil/agent.sock
The agent socket (mode 0600, in a directory of mode 0700).
~/.config/vigil/config.toml
Settings and rules; see vigil.toml(5).
~/.config/systemd/user/vigil.socket, ~/.config/systemd/user/vigil.service
The systemd user units written by vigil install --user.
~/.config/vigil/allowed_signers
The git allowed signers file written by vigil git setup, unless git already named one.
`

const manExitStatus = `0
Success, or a clean shutdown on SIGINT or SIGTERM.
1
An error; the message on stderr says what.
2
Bad usage: unknown command, flag or argument.
`

// writeMan writes vigil(1) in roff.
func writeMan(w io.Writer) {
	fmt.Fprintf(w, ".TH VIGIL 1 \"\" \"vigil %s\" \"User Commands\"\n", "")
	fmt.Fprint(w, ".SH NAME\nvigil \\- an SSH agent that never signs silently\n")
	fmt.Fprint(w, ".SH SYNOPSIS\n")
	for _, c := range commands {
		fmt.Fprintf(w, ".B vigil %s\n%s\n.br\n", c.name, roff(c.synopsis))
	}
	fmt.Fprint(w, ".SH DESCRIPTION\n")
	fmt.Fprint(w, "vigil speaks the OpenSSH agent protocol on SSH_AUTH_SOCK, so ssh, ssh\\-add, ssh\\-keygen \\-Y, git and\n"+
		"paramiko work unchanged, but every signature is a decision: a rule allows or denies it, or a person\n"+
		"is asked, with the calling program, the key and the purpose in front of them.\n")
	fmt.Fprint(w, ".SH COMMANDS\n")
	for _, c := range commands {
		fmt.Fprintf(w, ".SS vigil %s\n", c.name)
		fmt.Fprintf(w, ".nf\n%s.fi\n", roff(c.help))
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.setup(fs)
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(w, ".TP\n.B \\-%s", roff(f.Name))
			if name != "" {
				fmt.Fprintf(w, " \" %s\"", roff(name))
			}
			fmt.Fprintf(w, "\n%s\n", roff(usage))
		})
		if c.footer != "" {
			fmt.Fprintf(w, ".PP\n.nf\n%s.fi\n", roff(strings.TrimPrefix(c.footer, "\n")))
		}
	}
	section := func(title, pairs string) {
		fmt.Fprintf(w, ".SH %s\n", title)
		lines := strings.Split(strings.TrimSuffix(pairs, "\n"), "\n")
		for i := 0; i+1 < len(lines); i += 2 {
			fmt.Fprintf(w, ".TP\n.B %s\n%s\n", roff(lines[i]), roff(lines[i+1]))
		}
	}
	section("ENVIRONMENT", manEnvironment)
	section("FILES", manFiles)
	section("EXIT STATUS", manExitStatus)
	fmt.Fprint(w, ".SH SEE ALSO\nvigil.toml(5), ssh\\-agent(1), ssh\\-add(1), ssh\\-keygen(1), ssh(1), systemd.socket(5)\n")
}

// roff escapes text for a man page: backslashes, hyphens (so they are not
// broken or turned into dashes), and lines starting with a control character.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}
