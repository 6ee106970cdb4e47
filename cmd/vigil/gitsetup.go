package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/term"

	"github.com/vigil-agent/vigil/internal/sanitize"
)

var gitCommand = &command{
	name:     "git",
	synopsis: "setup [--key FINGERPRINT | --pub FILE] [--email EMAIL] [--sign-commits] [--yes]",
	summary:  "set git up to sign commits with a key in the agent",
	help: `vigil git setup sets your global git config (git config --global, which
honours GIT_CONFIG_GLOBAL) so that git commit -S and git tag -s sign with a key
held by the agent on SSH_AUTH_SOCK, and git verify-commit checks the result:
  gpg.format = ssh
  user.signingkey = key::ssh-ed25519 AAAA...   (with --pub: the file's path)
  gpg.ssh.allowedSignersFile = FILE
and adds "EMAIL namespaces="git" KEY" to that allowed signers file: the one
already configured, or $XDG_CONFIG_HOME/vigil/allowed_signers.

The key is the agent's only key, or the one --key names (as ssh-add -l prints
it), or the public key in --pub FILE. EMAIL defaults to git's user.email.
Every signature then asks you, as any other does.

commit.gpgsign is left alone unless --sign-commits is given: signing every
commit means a prompt for every commit, and one per commit in a rebase.

vigil git setup first prints what it will change, then changes it with --yes,
or if you answer y on the terminal. Without either, it changes nothing and
exits 1.
`,
	setup: func(fs *flag.FlagSet) runFunc {
		o := &gitSetupOptions{}
		fs.StringVar(&o.key, "key", "", "sign with the agent's key with this `FINGERPRINT` (SHA256:...)")
		fs.StringVar(&o.pub, "pub", "", "sign with the key whose public half is in `FILE`")
		fs.StringVar(&o.email, "email", "", "the `EMAIL` that signs (default: git config user.email)")
		fs.BoolVar(&o.signCommits, "sign-commits", false, "also set commit.gpgsign = true: sign every commit")
		fs.BoolVar(&o.yes, "yes", false, "apply the changes without asking")
		return func(args []string, stdout, stderr io.Writer) error {
			if len(args) == 0 || args[0] != "setup" {
				fmt.Fprintln(stderr, "vigil: error: usage: vigil git setup [flags]")
				return errUsage
			}
			if err := noArgs(args[1:], stderr); err != nil {
				return err
			}
			if o.key != "" && o.pub != "" {
				fmt.Fprintln(stderr, "vigil: error: --key and --pub exclude each other")
				return errUsage
			}
			return gitSetup(o, stdout, stderr)
		}
	},
}

type gitSetupOptions struct {
	key, pub, email  string
	signCommits, yes bool
}

// confirmInput is where a person answers y/N, and whether it is a terminal.
// Tests replace it.
var confirmInput = func() (io.Reader, bool) {
	return os.Stdin, term.IsTerminal(int(os.Stdin.Fd()))
}

// gitChange is one setting vigil git setup makes.
type gitChange struct {
	key, old, new string
}

func gitSetup(o *gitSetupOptions, stdout, stderr io.Writer) error {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		return errors.New("git not found in PATH")
	}
	g := gitConfig{bin: gitBin}

	pub, signingKey, err := signingKey(o)
	if err != nil {
		return err
	}
	email, from := o.email, "--email"
	if email == "" {
		if email, err = g.get("user.email"); err != nil {
			return err
		}
		if email == "" {
			return errors.New("no email to sign as: pass --email, or set it first: git config --global user.email YOU@EXAMPLE.COM")
		}
		from = "git config user.email"
	}
	if err := checkPrincipal(email); err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}

	signers, err := g.get("gpg.ssh.allowedSignersFile")
	if err != nil {
		return err
	}
	signersSetting := signers
	if signers == "" {
		dir, err := configHome()
		if err != nil {
			return err
		}
		signers = filepath.Join(dir, "vigil", "allowed_signers")
		signersSetting = signers
	} else if signers, err = expandGitPath(signers); err != nil {
		return err
	}
	keyText := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	signerLine := fmt.Sprintf("%s namespaces=\"git\" %s\n", email, keyText)
	hasLine, err := allowedSignersHas(signers, email, pub)
	if err != nil {
		return err
	}

	want := []gitChange{
		{key: "gpg.format", new: "ssh"},
		{key: "user.signingkey", new: signingKey},
		{key: "gpg.ssh.allowedSignersFile", new: signersSetting},
	}
	if o.signCommits {
		want = append(want, gitChange{key: "commit.gpgsign", new: "true"})
	}
	var changes []gitChange
	for _, c := range want {
		if c.old, err = g.get(c.key); err != nil {
			return err
		}
		if c.old != c.new {
			changes = append(changes, c)
		}
	}

	if program, err := g.get("gpg.ssh.program"); err != nil {
		return err
	} else if program != "" {
		fmt.Fprintf(stderr, "vigil: warning: gpg.ssh.program is %s: git signs with it, not through the agent;\n"+
			"  to sign with vigil: git config --global --unset gpg.ssh.program\n", sanitize.Line(program, 0))
	}
	if len(changes) == 0 && hasLine {
		fmt.Fprintf(stdout, "git is already set up to sign as %s with %s.\n", email, ssh.FingerprintSHA256(pub))
		return nil
	}

	fmt.Fprintf(stdout, "vigil git setup will sign as %s with %s %s:\n", email, pub.Type(), ssh.FingerprintSHA256(pub))
	if len(changes) > 0 {
		fmt.Fprintf(stdout, "in %s:\n", g.where())
		for _, c := range changes {
			old := c.old
			if old == "" {
				old = "(unset)"
			}
			fmt.Fprintf(stdout, "  %s: %s -> %s\n", c.key, sanitize.Line(old, 0), sanitize.Line(c.new, 0))
		}
	}
	if !hasLine {
		fmt.Fprintf(stdout, "add to %s:\n  %s\n", sanitize.Line(signers, 0), sanitize.Line(strings.TrimSuffix(signerLine, "\n"), 0))
	}

	if !o.yes {
		in, isTerm := confirmInput()
		if !isTerm {
			return errors.New("nothing changed: run again with --yes to apply these changes")
		}
		fmt.Fprint(stderr, "Apply these changes? [y/N] ")
		answer, _ := bufio.NewReader(in).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return errors.New("nothing changed")
		}
	}

	// The allowed signer first: the config never names a file that does
	// not list the key.
	if !hasLine {
		if err := appendLine(signers, signerLine); err != nil {
			return err
		}
	}
	for _, c := range changes {
		if err := g.set(c.key, c.new); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, "done.")
	if !o.signCommits {
		if v, _ := g.get("commit.gpgsign"); v != "true" {
			fmt.Fprintln(stdout, "Sign a commit with git commit -S (to sign every commit: vigil git setup --sign-commits).")
		}
	}
	fmt.Fprintln(stdout, "git signs through the agent that SSH_AUTH_SOCK names when you commit (vigil env prints it).")
	return nil
}

// signingKey picks the key and the user.signingkey value that names it.
func signingKey(o *gitSetupOptions) (ssh.PublicKey, string, error) {
	if o.pub != "" {
		path, err := filepath.Abs(o.pub)
		if err != nil {
			return nil, "", err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, "", err
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
		if err != nil {
			// A private key here would make git sign without the agent.
			return nil, "", fmt.Errorf("%s is not a public key (such as ~/.ssh/id_ed25519.pub): %v", path, err)
		}
		return pub, path, nil
	}
	keys, err := agentKeys()
	if err != nil {
		return nil, "", err
	}
	var pub ssh.PublicKey
	switch {
	case o.key != "":
		fp := o.key
		if !strings.HasPrefix(fp, "SHA256:") {
			fp = "SHA256:" + fp
		}
		for _, k := range keys {
			if ssh.FingerprintSHA256(k) == fp {
				pub = k
			}
		}
		if pub == nil {
			return nil, "", fmt.Errorf("the agent holds no key %s:\n%s", fp, listKeys(keys))
		}
	case len(keys) == 0:
		return nil, "", errors.New("the agent holds no keys: add one first (ssh-add ~/.ssh/id_ed25519, or vigil key), or use --pub FILE")
	case len(keys) > 1:
		return nil, "", fmt.Errorf("the agent holds %d keys: pick one with --key FINGERPRINT:\n%s", len(keys), listKeys(keys))
	default:
		pub = keys[0]
	}
	key, err := ssh.ParsePublicKey(pub.Marshal()) // drop the agent's comment
	if err != nil {
		return nil, "", err
	}
	return key, "key::" + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))), nil
}

func agentKeys() ([]*agent.Key, error) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, errors.New("SSH_AUTH_SOCK is not set: point it at vigil first (eval \"$(vigil env)\"), or use --pub FILE")
	}
	c, err := dialAgent(sock)
	if err != nil {
		return nil, fmt.Errorf("no agent answers on SSH_AUTH_SOCK (%s): %v", sock, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	all, err := agent.NewClient(c).List()
	if err != nil {
		return nil, fmt.Errorf("listing the agent's keys: %w", err)
	}
	// A certificate sits in the agent beside its plain key, which is the
	// one an allowed signers file names.
	var keys []*agent.Key
	for _, k := range all {
		if pub, err := ssh.ParsePublicKey(k.Marshal()); err == nil {
			if _, isCert := pub.(*ssh.Certificate); !isCert {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

func listKeys(keys []*agent.Key) string {
	var b strings.Builder
	for _, k := range keys {
		// Whoever added the key chose its comment: escaped.
		fmt.Fprintf(&b, "  %s %s (%s)\n", ssh.FingerprintSHA256(k), sanitize.Line(k.Comment, 0), k.Type())
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// checkPrincipal refuses an email that one field of an allowed signers
// line cannot hold as itself: a line break would start a line of its own,
// a space, tab or quote would end or open the field, a comma splits it, a
// wildcard matches others, a leading # makes the line a comment, and an
// invisible or control character signs as someone who looks like another.
func checkPrincipal(email string) error {
	bad := func(why string) error {
		return fmt.Errorf("%q cannot be an allowed signers principal: %s", email, why)
	}
	if !utf8.ValidString(email) {
		return bad("it is not valid UTF-8")
	}
	if strings.HasPrefix(email, "#") {
		return bad("a leading # makes the line a comment")
	}
	for _, r := range email {
		switch {
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return bad(fmt.Sprintf("it contains control or invisible character %U", r))
		case unicode.IsSpace(r):
			return bad("it contains a space")
		case strings.ContainsRune("\"',*?!", r):
			return bad("no quotes, commas or wildcards")
		}
	}
	return nil
}

// allowedSignersHas reports whether path already lets email sign git
// objects with key. A missing file has no lines.
func allowedSignersHas(path, email string, key ssh.PublicKey) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		if len(fields) < 3 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if fields[0] != email || !strings.Contains(line, `namespaces="git"`) {
			continue
		}
		n := len(fields)
		for i := 1; i+1 < n; i++ {
			if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(fields[i] + " " + fields[i+1])); err == nil &&
				bytes.Equal(k.Marshal(), key.Marshal()) {
				return true, nil
			}
		}
	}
	return false, nil
}

// appendLine adds line to the file at path, creating it (and a private
// parent directory) if needed, and starting a new line if the file does not
// end with one.
func appendLine(path, line string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// expandGitPath resolves a path from git config as git does: ~/ is the
// home directory. A relative path depends on where git runs, so it is
// refused.
func expandGitPath(p string) (string, error) {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(home, rest), nil
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("gpg.ssh.allowedSignersFile is %q, which is not an absolute path: set it to one first", p)
	}
	return p, nil
}

// gitConfig reads and writes the user's global git config through git.
type gitConfig struct{ bin string }

func (g gitConfig) get(key string) (string, error) {
	cmd := exec.Command(g.bin, "config", "--global", "--get", key)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 && stderr.Len() == 0 {
		return "", nil // not set
	}
	if err != nil {
		return "", fmt.Errorf("git config --global --get %s: %v %s", key, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}

func (g gitConfig) set(key, value string) error {
	out, err := exec.Command(g.bin, "config", "--global", key, value).CombinedOutput()
	if err != nil {
		return fmt.Errorf("git config --global %s: %v %s", key, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// where names the global config file for the person reading the plan.
func (g gitConfig) where() string {
	if p := os.Getenv("GIT_CONFIG_GLOBAL"); p != "" {
		return p + " (GIT_CONFIG_GLOBAL)"
	}
	return "your global git config (git config --global)"
}
