package caller

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/vigil-agent/vigil/internal/sanitize"
)

// systemDirs hold programs shown by name alone; anything else is shown with
// its path, so a "git" in /tmp never reads like the system's git.
var systemDirs = []string{
	"/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/local/sbin",
	"/usr/lib/git-core", "/usr/libexec/git-core", "/usr/lib/openssh", "/usr/libexec/openssh",
}

var shells = []string{
	"sh", "bash", "dash", "zsh", "fish", "ksh", "ksh93", "mksh", "pdksh", "yash",
	"tcsh", "csh", "nu", "elvish", "xonsh", "pwsh", "busybox",
}

// summarize implements Info.Summary; it reads only chain, so it is tested
// with chains written by hand.
func summarize(pid int, chain []Process, otherMnt, otherPID bool) string {
	if len(chain) == 0 || chain[0].Exe == "" {
		return fmt.Sprintf("unknown program (pid %d)", pid)
	}
	self := chain[0]
	var s string
	git, hasGit := gitRunner(chain)
	switch {
	case hasGit && self.Name() == "ssh":
		s = label(git, gitSubcommand(git.Argv)) + " over " + label(self, "")
	case hasGit && self.Name() == "ssh-keygen" && signs(self.Argv):
		s = label(git, gitSubcommand(git.Argv)) + " signing with " + label(self, "")
	case len(chain) > 1:
		parent := chain[1]
		s = label(self, "") + ", run by " + label(parent, "")
		if slices.Contains(shells, parent.Name()) && (parent.Terminal || self.Terminal) {
			s += " in a terminal"
		}
	default:
		s = label(self, "")
	}
	switch {
	case otherMnt && otherPID:
		s += "; in another mount and pid namespace (a container?)"
	case otherMnt:
		s += "; in another mount namespace (a container?)"
	case otherPID:
		s += "; in another pid namespace"
	}
	return s
}

// label names p for a person: "git push", or "python3 (/tmp/x/python3)"
// for a program outside the system directories, with a warning when its
// executable changed. what, if not empty, follows the name.
func label(p Process, what string) string {
	if p.Exe == "" {
		return p.String()
	}
	s := sanitize.Line(p.Name(), 64)
	if what != "" {
		s += " " + what
	}
	if !slices.Contains(systemDirs, path.Dir(p.Exe)) {
		s += " (" + sanitize.Line(p.Exe, 200) + ")"
	}
	return s + p.flags()
}

// gitRunner finds the git that started the caller: its parent, or its
// grandparent when git went through "sh -c" (core.sshCommand with
// arguments, GIT_SSH_COMMAND).
func gitRunner(chain []Process) (Process, bool) {
	if len(chain) < 2 {
		return Process{}, false
	}
	p := chain[1]
	if p.Name() == "git" {
		return p, true
	}
	if len(chain) > 2 && slices.Contains(shells, p.Name()) && len(p.Argv) > 1 && p.Argv[1] == "-c" &&
		chain[2].Name() == "git" {
		return chain[2], true
	}
	return Process{}, false
}

// gitSubcommand picks the subcommand ("push", "commit") out of git's
// command line, skipping global options; "" when there is none or it does
// not look like one.
func gitSubcommand(argv []string) string {
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		switch a {
		case "-c", "-C", "--git-dir", "--work-tree", "--namespace", "--config-env", "--super-prefix":
			i++
			continue
		}
		if strings.HasPrefix(a, "-") {
			continue
		}
		if len(a) > 32 || strings.TrimLeft(a, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return ""
		}
		return a
	}
	return ""
}

// signs says whether ssh-keygen was asked to make a signature (-Y sign).
func signs(argv []string) bool {
	for i, a := range argv {
		if a == "-Ysign" || a == "-Y" && i+1 < len(argv) && argv[i+1] == "sign" {
			return true
		}
	}
	return false
}
