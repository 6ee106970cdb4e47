package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGitSetupSignsThroughVigil: vigil git setup in a fresh home, then git commit -S signs through vigil (asking
// the approver once per commit) and git verify-commit accepts the commit with nothing but that setup.
func TestGitSetupSignsThroughVigil(t *testing.T) {
	t.Parallel()
	gitBin := needTool(t, "git", "git")
	needTool(t, "ssh-keygen", "openssh-client")
	bin := needVigil(t)
	ap := newApprover(t, "approve")
	a := startVigil(t, ap)
	k := key(t, "ed25519")
	addKeys(t, a, k)

	home := t.TempDir()
	repo := filepath.Join(home, "repo")
	env := cmdEnv(home, a.sock,
		"GIT_CONFIG_GLOBAL="+filepath.Join(home, "gitconfig"),
		"GIT_CONFIG_NOSYSTEM=1",
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"GIT_AUTHOR_NAME=E2E", "GIT_COMMITTER_NAME=E2E",
	)
	vigil := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		return runCmd(t, 60*time.Second, cmd)
	}
	git := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(gitBin, args...)
		cmd.Dir = repo
		cmd.Env = env
		return runCmd(t, 60*time.Second, cmd)
	}

	must(t, vigil("git", "setup", "--email", "e2e@vigil.test", "--yes"))
	ap.expectPrompts(t, 0) // listing keys asks nobody
	signers, err := os.ReadFile(filepath.Join(home, ".config", "vigil", "allowed_signers"))
	if err != nil || string(signers) != "e2e@vigil.test namespaces=\"git\" "+k.authorizedLine()+"\n" {
		t.Errorf("allowed signers file: %q, %v", signers, err)
	}

	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	must(t, git("init", "-q"))
	must(t, git("config", "user.email", "e2e@vigil.test"))
	commit := func(name string, args ...string) result {
		t.Helper()
		if err := os.WriteFile(filepath.Join(repo, name), []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		must(t, git("add", name))
		return git(append([]string{"commit", "-q", "-m", name}, args...)...)
	}

	must(t, commit("signed", "-S"))
	p := ap.expectPrompts(t, 1)
	checkPrompt(t, p[0], k.fingerprint())
	if !a.isOpenSSH() {
		checkPrompt(t, p[0], "/usr/bin/ssh-keygen", "git")
	}
	r := must(t, git("verify-commit", "-v", "HEAD"))
	if want := `Good "git" signature for e2e@vigil.test with ED25519 key ` + k.fingerprint(); !strings.Contains(r.stderr, want) {
		t.Errorf("git verify-commit said %q, want %q", r.stderr, want)
	}

	// Without commit.gpgsign, a plain commit is not signed and asks nobody.
	must(t, commit("plain"))
	ap.expectPrompts(t, 1)
	mustFail(t, git("verify-commit", "HEAD"))

	// A refusal fails the commit.
	ap.set(t, "deny")
	r = mustFail(t, commit("refused", "-S"))
	if !strings.Contains(r.stderr, "agent refused operation") || !strings.Contains(r.stderr, "failed to write commit object") {
		t.Errorf("refused signature: git said %q", r.stderr)
	}
	ap.expectPrompts(t, 2)

	// --sign-commits: every commit is signed, each one asked for.
	ap.set(t, "approve")
	must(t, vigil("git", "setup", "--email", "e2e@vigil.test", "--sign-commits", "--yes"))
	must(t, git("commit", "-q", "-m", "now signed by default"))
	ap.expectPrompts(t, 3)
	must(t, git("verify-commit", "HEAD"))
}
