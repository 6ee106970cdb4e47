package main

import (
	"crypto/ed25519"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// gitHome isolates git and vigil in a temporary home with its own global
// git config, and returns the path of that config.
func gitHome(t *testing.T) (home, gitconfig string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git not found: install the Debian package git")
	}
	home = isolate(t)
	gitconfig = filepath.Join(home, "gitconfig")
	t.Setenv("GIT_CONFIG_GLOBAL", gitconfig)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	return home, gitconfig
}

func gitGet(t *testing.T, key string) string {
	t.Helper()
	out, _ := exec.Command("git", "config", "--global", "--get", key).Output()
	return strings.TrimSpace(string(out))
}

func gitSet(t *testing.T, key, value string) {
	t.Helper()
	if out, err := exec.Command("git", "config", "--global", key, value).CombinedOutput(); err != nil {
		t.Fatalf("git config %s: %v %s", key, err, out)
	}
}

// answerConfirm makes the y/N question read answer from a terminal, or
// from a non-terminal when answer is "".
func answerConfirm(t *testing.T, answer string) {
	t.Helper()
	old := confirmInput
	t.Cleanup(func() { confirmInput = old })
	confirmInput = func() (io.Reader, bool) { return strings.NewReader(answer), answer != "" }
}

func authorizedKey(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func TestGitSetup(t *testing.T) {
	home, _ := gitHome(t)
	k := newEd25519(t, "laptop")
	sock := filepath.Join(home, "agent.sock")
	testAgent(t, sock, k)
	t.Setenv("SSH_AUTH_SOCK", sock)
	gitSet(t, "user.email", "me@example.com")
	answerConfirm(t, "") // not a terminal

	// Without --yes and without a terminal: the plan, and no change.
	code, stdout, stderr := runVigil("git", "setup")
	signers := filepath.Join(home, ".config", "vigil", "allowed_signers")
	key := authorizedKey(pubOf(t, k))
	for _, want := range []string{
		"sign as me@example.com with ssh-ed25519 " + ssh.FingerprintSHA256(pubOf(t, k)),
		"gpg.format: (unset) -> ssh\n",
		"user.signingkey: (unset) -> key::" + key + "\n",
		"gpg.ssh.allowedSignersFile: (unset) -> " + signers + "\n",
		"add to " + signers + ":\n  me@example.com namespaces=\"git\" " + key + "\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "commit.gpgsign") {
		t.Errorf("commit.gpgsign changed without --sign-commits:\n%s", stdout)
	}
	if code != 1 || !strings.Contains(stderr, "nothing changed: run again with --yes") {
		t.Errorf("without --yes: exit %d, stderr %q", code, stderr)
	}
	if v := gitGet(t, "gpg.format"); v != "" {
		t.Errorf("gpg.format set to %q without --yes", v)
	}
	if _, err := os.Stat(signers); !os.IsNotExist(err) {
		t.Errorf("allowed signers written without --yes: %v", err)
	}

	// A person says no, then yes.
	answerConfirm(t, "n\n")
	if code, _, stderr := runVigil("git", "setup"); code != 1 || !strings.Contains(stderr, "Apply these changes? [y/N]") {
		t.Errorf("answered n: exit %d, stderr %q", code, stderr)
	}
	if v := gitGet(t, "gpg.format"); v != "" {
		t.Errorf("gpg.format set to %q after answering n", v)
	}
	answerConfirm(t, "y\n")
	if code, stdout, stderr := runVigil("git", "setup"); code != 0 || !strings.Contains(stdout, "done.") {
		t.Fatalf("answered y: exit %d\n%s%s", code, stdout, stderr)
	}
	for k, want := range map[string]string{
		"gpg.format":                 "ssh",
		"user.signingkey":            "key::" + key,
		"gpg.ssh.allowedSignersFile": signers,
		"commit.gpgsign":             "",
	} {
		if got := gitGet(t, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if b, _ := os.ReadFile(signers); string(b) != "me@example.com namespaces=\"git\" "+key+"\n" {
		t.Errorf("allowed signers:\n%s", b)
	}

	// Nothing left to do; --sign-commits adds one setting.
	answerConfirm(t, "")
	if code, stdout, _ := runVigil("git", "setup"); code != 0 || !strings.Contains(stdout, "already set up") {
		t.Errorf("second setup: exit %d\n%s", code, stdout)
	}
	code, stdout, stderr = runVigil("git", "setup", "--sign-commits", "--yes")
	if code != 0 || !strings.Contains(stdout, "commit.gpgsign: (unset) -> true") || strings.Contains(stdout, "add to") {
		t.Errorf("--sign-commits: exit %d\n%s%s", code, stdout, stderr)
	}
	if v := gitGet(t, "commit.gpgsign"); v != "true" {
		t.Errorf("commit.gpgsign = %q", v)
	}
	if b, _ := os.ReadFile(signers); strings.Count(string(b), "\n") != 1 {
		t.Errorf("allowed signers line added twice:\n%s", b)
	}

	gitCommitVerify(t, home)
}

// gitCommitVerify makes a signed commit through the agent on SSH_AUTH_SOCK
// and checks it with git verify-commit, with the global config alone.
func gitCommitVerify(t *testing.T, home string) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatal("ssh-keygen not found: install the Debian package openssh-client")
	}
	repo := filepath.Join(home, "repo")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Me", "GIT_COMMITTER_NAME=Me")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	os.MkdirAll(repo, 0o755)
	git("init", "-q")
	os.WriteFile(filepath.Join(repo, "f"), []byte("x\n"), 0o644)
	git("add", "f")
	git("commit", "-q", "-S", "-m", "signed")
	if out := git("verify-commit", "-v", "HEAD"); !strings.Contains(out, `Good "git" signature for me@example.com`) {
		t.Errorf("git verify-commit:\n%s", out)
	}
}

func TestGitSetupChoosesKey(t *testing.T) {
	home, _ := gitHome(t)
	k1, k2 := newEd25519(t, "one"), newEd25519(t, "two")
	sock := filepath.Join(home, "agent.sock")
	testAgent(t, sock, k1, k2)
	t.Setenv("SSH_AUTH_SOCK", sock)
	fp2 := ssh.FingerprintSHA256(pubOf(t, k2))

	code, stdout, stderr := runVigil("git", "setup", "--email", "me@example.com", "--yes")
	if code != 1 || !strings.Contains(stderr, "the agent holds 2 keys: pick one with --key") || !strings.Contains(stderr, fp2+" two") {
		t.Errorf("two keys, no --key: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := runVigil("git", "setup", "--key", "SHA256:nope", "--email", "me@example.com", "--yes"); code != 1 ||
		!strings.Contains(stderr, "the agent holds no key SHA256:nope") {
		t.Errorf("unknown --key: exit %d, %s", code, stderr)
	}
	// Flags on either side of "setup", the fingerprint with or without its prefix.
	code, stdout, stderr = runVigil("git", "--email", "me@example.com", "setup", "--key", strings.TrimPrefix(fp2, "SHA256:"), "--yes")
	if code != 0 {
		t.Fatalf("--key: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := gitGet(t, "user.signingkey"); got != "key::"+authorizedKey(pubOf(t, k2)) {
		t.Errorf("user.signingkey = %q, want key two", got)
	}
}

func TestGitSetupPubFile(t *testing.T) {
	home, _ := gitHome(t)
	k := newEd25519(t, "file key")
	sock := filepath.Join(home, "agent.sock")
	testAgent(t, sock, k)
	t.Setenv("SSH_AUTH_SOCK", sock)
	gitSet(t, "user.email", "me@example.com")
	// allowed signers already configured, with ~/: vigil adds to that file.
	gitSet(t, "gpg.ssh.allowedSignersFile", "~/signers")
	os.WriteFile(filepath.Join(home, "signers"), []byte("other@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKw0sEI2vcbr3VEqtUnFq1qsO2VK3QF8J+RMIsWMHAjV"), 0o644)
	gitSet(t, "gpg.ssh.program", "/opt/other/op-ssh-sign")

	pub := filepath.Join(home, "id_ed25519.pub")
	os.WriteFile(pub, ssh.MarshalAuthorizedKey(pubOf(t, k)), 0o644)
	code, stdout, stderr := runVigil("git", "setup", "--pub", pub, "--yes")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if got := gitGet(t, "user.signingkey"); got != pub {
		t.Errorf("user.signingkey = %q, want %s", got, pub)
	}
	if got := gitGet(t, "gpg.ssh.allowedSignersFile"); got != "~/signers" {
		t.Errorf("allowedSignersFile changed to %q", got)
	}
	b, _ := os.ReadFile(filepath.Join(home, "signers"))
	if lines := strings.Split(string(b), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "other@") ||
		lines[1] != "me@example.com namespaces=\"git\" "+authorizedKey(pubOf(t, k)) {
		t.Errorf("allowed signers file:\n%s", b)
	}
	if !strings.Contains(stderr, "gpg.ssh.program is /opt/other/op-ssh-sign") {
		t.Errorf("no warning about gpg.ssh.program:\n%s", stderr)
	}
	exec.Command("git", "config", "--global", "--unset", "gpg.ssh.program").Run()
	gitCommitVerify(t, home)

	// A private key is refused: git would sign with it, not the agent.
	priv := filepath.Join(home, "id_ed25519")
	block, err := ssh.MarshalPrivateKey(k.PrivateKey.(ed25519.PrivateKey), "")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(priv, pem.EncodeToMemory(block), 0o600)
	if code, _, stderr := runVigil("git", "setup", "--pub", priv, "--yes"); code != 1 || !strings.Contains(stderr, "is not a public key") {
		t.Errorf("--pub with a private key: exit %d, %s", code, stderr)
	}
}

func TestGitSetupErrors(t *testing.T) {
	home, _ := gitHome(t)
	sock := filepath.Join(home, "agent.sock")
	testAgent(t, sock)
	for _, tt := range []struct {
		sock string
		args []string
		code int
		err  string
	}{
		{sock, []string{"git"}, 2, "usage: vigil git setup"},
		{sock, []string{"git", "frob"}, 2, "usage: vigil git setup"},
		{sock, []string{"git", "setup", "extra"}, 2, `unexpected argument "extra"`},
		{sock, []string{"git", "setup", "--key", "x", "--pub", "y"}, 2, "exclude each other"},
		{"", []string{"git", "setup"}, 1, "SSH_AUTH_SOCK is not set"},
		{sock, []string{"git", "setup"}, 1, "the agent holds no keys"},
		{filepath.Join(home, "none.sock"), []string{"git", "setup"}, 1, "no agent answers on SSH_AUTH_SOCK"},
	} {
		t.Setenv("SSH_AUTH_SOCK", tt.sock)
		if code, _, stderr := runVigil(tt.args...); code != tt.code || !strings.Contains(stderr, tt.err) {
			t.Errorf("vigil %v: exit %d, stderr %q; want %d, %q", tt.args, code, stderr, tt.code, tt.err)
		}
	}
	// An email is needed, and must be a plain principal.
	k := newEd25519(t, "k")
	sock2 := filepath.Join(home, "agent2.sock")
	testAgent(t, sock2, k)
	t.Setenv("SSH_AUTH_SOCK", sock2)
	if code, _, stderr := runVigil("git", "setup", "--yes"); code != 1 || !strings.Contains(stderr, "no email") {
		t.Errorf("no email: exit %d, %q", code, stderr)
	}
	for _, email := range []string{"*@example.com", "a\nb@x", "a\rb@x", "me@x\u202emoc", "#me@x", "me\u00a0@x", "me@\xff"} {
		if code, _, stderr := runVigil("git", "setup", "--yes", "--email", email); code != 1 ||
			!strings.Contains(stderr, "--email: ") || !strings.Contains(stderr, "cannot be an allowed signers principal") {
			t.Errorf("--email %q: exit %d, %q", email, code, stderr)
		}
	}
	// git config can hold a newline too (git writes it as \n).
	gitSet(t, "user.email", "a\nb@x")
	if code, _, stderr := runVigil("git", "setup", "--yes"); code != 1 ||
		!strings.Contains(stderr, `git config user.email: "a\nb@x" cannot be an allowed signers principal: it contains control or invisible character U+000A`) {
		t.Errorf("user.email with a newline: exit %d, %q", code, stderr)
	}
	signers := filepath.Join(home, ".config", "vigil", "allowed_signers")
	if _, err := os.Stat(signers); !os.IsNotExist(err) {
		t.Errorf("allowed signers file written for a refused email: %v", err)
	}
}
