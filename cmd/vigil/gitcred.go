package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/vigil-agent/vigil/internal/broker"
	"github.com/vigil-agent/vigil/internal/secmem"
)

// gitHelperName is the name that makes vigil git's credential helper: git
// runs "git credential-vigil" for credential.helper = vigil, and git finds
// git-credential-vigil on PATH.
const gitHelperName = "git-credential-vigil"

var gitCredentialCommand = &command{
	name:     "git-credential",
	synopsis: "get|store|erase",
	summary:  "act as git's credential helper, backed by the agent",
	help: `vigil git-credential is a git credential helper (gitcredentials(7)). Set it up
with
  git config --global credential.helper "/path/to/vigil git-credential"
and git runs it as vigil git-credential get, store or erase, with the request
on stdin. Or give vigil the name git looks for, a link on PATH named
git-credential-vigil, and name the helper "vigil":
  ln -s "$(command -v vigil)" ~/.local/bin/git-credential-vigil
  git config --global credential.helper vigil
Run by that name, vigil is vigil git-credential. It holds nothing: it forwards the request to the running vigil
agent (SSH_AUTH_SOCK, then vigil's own socket), which keeps the credentials
in its encrypted key store, keyed by protocol://host[/path].

get asks you first, showing the URL, host, path (when git sends it; see
credential.useHttpPath), protocol, user and the program asking (git), and
gives git the username and password only if you say yes. store saves what
git gives it (no newline or NUL allowed) and erase removes it; neither asks.
Unknown operations and attributes are ignored.

With no agent running, or the key store locked (run vigil unlock), git gets
nothing and the reason is printed on stderr.
`,
	setup: func(*flag.FlagSet) runFunc { return runGitCredential },
}

func runGitCredential(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		io.WriteString(stderr, "vigil: error: git-credential takes one operation: get, store or erase\n")
		return errUsage
	}
	// Not fatal if it fails: a password only passes through this process.
	_ = secmem.HardenProcess()
	return broker.RunGitCredential(context.Background(), broker.GitHelperConfig{
		Sockets: cargoPluginSockets(),
		Stdin:   os.Stdin,
		Stdout:  stdout,
	}, args[0])
}
