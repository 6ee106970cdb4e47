package main

import (
	"fmt"
	"io"
	"strings"
)

// configFileDoc describes the config file. It is the one source of the
// second half of "vigil help check" and of vigil.toml(5), so the two cannot
// drift; configman_test.go checks the committed doc/vigil.toml.5. Lines
// indented by two spaces are shown as they are; the others are prose.
const configFileDoc = `The file is TOML, read from $XDG_CONFIG_HOME/vigil/config.toml
(~/.config/vigil/config.toml) unless --config says otherwise. Unknown keys are
errors. Its rules decide what is signed without asking, so the file and its
directory must be owned by you (or root) and writable by nobody else: vigil
refuses them otherwise.
  socket = "/PATH"           # as vigil serve --socket (an absolute path)
  approver = ["pinentry", "askpass", "tui"]  # the ways to ask, in order (this is the default)
  askpass = "/PATH/PROGRAM"  # as vigil serve --approver (an absolute path)
  pinentry = "/PATH/PROGRAM" # as vigil serve --pinentry (an absolute path)
  grant_for = "5m"           # what pinentry's "Allow for ..." button grants; "0s": no such button
  grant_uses = 0             # how many signatures a grant covers at most; 0: any until it expires
  cooldown_after = 3         # denied or unanswered prompts in a row for one program, after which
  cooldown = "5m"            # its requests are refused without asking for this long
  prompt_timeout = "60s"     # as vigil serve --prompt-timeout
  lifetime = "8h"            # as vigil serve --lifetime
  audit_dir = "/DIR"         # where the audit log lives (see vigil help audit)
  on_audit_failure = "refuse"  # or "continue": sign even if the record cannot be written
  store_dir = "/DIR"         # the key store (see vigil help key)
  offer_default = "all"      # or "none": keys no [[offer]] names are offered to no server
  notify = true              # desktop notifications (org.freedesktop.Notifications on the session
                             # bus): each signature a person or grant allowed, each refusal, each
                             # prompt waiting for an answer; false: none

For each prompt, the first way in the approver list that can be reached
asks: "tui" when a vigil watch is connected (see vigil help watch),
"pinentry" when its program is configured and executable, "askpass" when a
program is configured. The way chosen decides; when none can be reached,
the request is refused and the log names each way tried. The older form,
approver set to a program's path, still works: it names the askpass program.

  [unlock]                   # the unlock window (see vigil help unlock)
  idle_timeout = "15m"       # sliding: each signature restarts it; "0s": no limit
  max_lifetime = "4h"        # absolute: nothing extends it; "0s": no limit
  max_signatures = 0         # 0: no limit

Rules are tried in order; the first that matches decides; no match asks.
  [[rule]]
  key = "SHA256:..."       # fingerprint, or a glob over the key comment; omitted: any key
  exe = "/usr/bin/ssh"     # absolute path of the calling program; omitted: any program
  purpose = "login"        # login | git | file | namespace:NAME | unknown | any (default)
  host = "*.example.com"   # logins only: glob over the verified destination name
  forwarded = false        # true: match only forwarded requests; false/omitted: only local
  action = "allow"         # allow | ask | deny

Rules for registry tokens and git credentials (see vigil help git-credential)
name their purpose: cargo-read (index and downloads of a registry that wants
a token), cargo-publish, cargo-yank, cargo-unyank, cargo-owners, or
git-credential. Only such a rule matches a credential request: rules with no
purpose, or "any", are about signatures. With no rule, every credential is
asked for; a yes to cargo-read also lets the same program read that registry
for 10 minutes. A plain token released for reading can publish too;
asymmetric tokens (vigil help cargo) cannot.
  [[rule]]
  purpose = "cargo-read"   # or cargo-publish | cargo-yank | cargo-unyank | cargo-owners | git-credential
  exe = "/usr/bin/cargo"   # the program the prompt names: cargo, or /usr/lib/git-core/git-remote-http
  host = "registry.example"  # glob over the registry's (or git's) host, with :port if any
  registry = "sparse+https://registry.example/index/"  # cargo only: glob over the index-url
  action = "allow"         # allow: released unasked | ask | deny: refused unasked

A key is offered to the servers its [[offer]] tables name (see vigil help
why-not); keys that no offer names follow offer_default.
  [[offer]]
  key = "SHA256:..."       # fingerprint, or a glob over the key comment
  hosts = ["github.com", "*.github.com", "[git.example.com]:2222"]
`

// configExample is a whole file for the man page's EXAMPLE section;
// configman_test.go checks that vigil accepts it.
const configExample = `# Started by systemd, vigil does not see the shell's SSH_ASKPASS.
# vigil watch, when one runs, asks first; otherwise ssh-askpass.
approver = ["tui", "askpass"]
askpass = "/usr/bin/ssh-askpass"
prompt_timeout = "30s"

[unlock]
idle_timeout = "10m"

# Logins to the work git server with the work key go through unasked.
[[rule]]
key = "work laptop"
exe = "/usr/bin/ssh"
purpose = "login"
host = "git.example.com"
action = "allow"

# Builds read the company registry without a prompt; publishing still asks.
[[rule]]
purpose = "cargo-read"
registry = "sparse+https://cargo.example.com/index/"
action = "allow"

# No git credential leaves for the old forge, whoever asks.
[[rule]]
purpose = "git-credential"
host = "*.old-forge.example"
action = "deny"

# Nothing is signed for a forwarded agent.
[[rule]]
forwarded = true
action = "deny"
`

// writeConfigMan writes vigil.toml(5) in roff.
func writeConfigMan(w io.Writer) {
	fmt.Fprint(w, ".TH VIGIL.TOML 5 \"\" \"vigil\" \"File Formats\"\n")
	fmt.Fprint(w, ".SH NAME\nvigil.toml \\- configuration file of the vigil SSH agent\n")
	fmt.Fprint(w, ".SH SYNOPSIS\n$XDG_CONFIG_HOME/vigil/config.toml, by default ~/.config/vigil/config.toml\n")
	fmt.Fprint(w, ".SH DESCRIPTION\n")
	fmt.Fprint(w, roff("vigil serve reads its settings and rules from this file when it starts, and its rules again on SIGHUP\n"+
		"(systemctl --user reload vigil under systemd). Flags given to vigil serve take precedence over the\n"+
		"file. vigil check validates the file and prints what vigil understands of it.\n"))
	writeDocText(w, configFileDoc)
	fmt.Fprintf(w, ".SH EXAMPLE\n.RS 4\n.nf\n%s.fi\n.RE\n", roff(configExample))
	fmt.Fprint(w, ".SH FILES\n.TP\n.B ~/.config/vigil/config.toml\nThe file, when XDG_CONFIG_HOME is not set.\n")
	fmt.Fprint(w, ".SH SEE ALSO\nvigil(1), ssh\\-agent(1), ssh\\-add(1)\n")
}

// writeDocText renders help text: runs of prose lines become filled
// paragraphs, runs of lines indented by two spaces are shown as typed.
func writeDocText(w io.Writer, text string) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i := 0; i < len(lines); {
		if lines[i] == "" {
			i++
			continue
		}
		indented := strings.HasPrefix(lines[i], "  ")
		j := i
		var run []string
		for ; j < len(lines) && lines[j] != "" && strings.HasPrefix(lines[j], "  ") == indented; j++ {
			run = append(run, strings.TrimPrefix(lines[j], "  "))
		}
		// An indented run goes on across blank lines, as one block.
		for indented && j+1 < len(lines) && lines[j] == "" && strings.HasPrefix(lines[j+1], "  ") {
			run = append(run, "")
			for j++; j < len(lines) && strings.HasPrefix(lines[j], "  "); j++ {
				run = append(run, strings.TrimPrefix(lines[j], "  "))
			}
		}
		body := roff(strings.Join(run, "\n"))
		if indented {
			fmt.Fprintf(w, ".PP\n.RS 4\n.nf\n%s\n.fi\n.RE\n", body)
		} else {
			fmt.Fprintf(w, ".PP\n%s\n", body)
		}
		i = j
	}
}
