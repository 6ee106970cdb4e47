package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// signing is one `ssh-keygen -Y sign` through the agent.
type signing struct {
	res       result
	dataPath  string
	sigPath   string
	sigExists bool
}

// sshsign signs a fresh file with `ssh-keygen -Y sign -f KEY.pub -n NS` where only the public half of k sits
// beside KEY.pub, so the private key must come from the agent.
func sshsign(t testing.TB, sock string, k *testKey, namespace string) signing {
	t.Helper()
	keygen := needTool(t, "ssh-keygen", "openssh-client")
	pub := pubOnly(t, k)
	data := filepath.Join(filepath.Dir(pub), "message.txt")
	if err := os.WriteFile(data, []byte("vigil e2e message for "+namespace+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(keygen, "-Y", "sign", "-f", pub, "-n", namespace, data)
	cmd.Env = cmdEnv(clientHome(t), sock)
	s := signing{dataPath: data, sigPath: data + ".sig"}
	s.res = runCmd(t, 60*time.Second, cmd)
	_, err := os.Stat(s.sigPath)
	s.sigExists = err == nil
	return s
}

// verify checks a signature with ssh-keygen -Y verify and an allowed_signers file naming k.
func (s signing) verify(t testing.TB, k *testKey, namespace string) {
	t.Helper()
	keygen := needTool(t, "ssh-keygen", "openssh-client")
	dir := t.TempDir()
	allowed := filepath.Join(dir, "allowed_signers")
	line := fmt.Sprintf("e2e@vigil.test namespaces=%q %s\n", namespace, k.authorizedLine())
	if err := os.WriteFile(allowed, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	msg, err := os.Open(s.dataPath)
	if err != nil {
		t.Fatal(err)
	}
	defer msg.Close()
	cmd := exec.Command(keygen, "-Y", "verify", "-f", allowed, "-I", "e2e@vigil.test", "-n", namespace, "-s", s.sigPath)
	cmd.Stdin = msg
	cmd.Env = cmdEnv(dir, "")
	r := must(t, runCmd(t, 30*time.Second, cmd))
	want := fmt.Sprintf("Good %q signature for e2e@vigil.test", namespace)
	if !strings.Contains(r.stdout+r.stderr, want) {
		t.Errorf("ssh-keygen -Y verify said %q, want %q", r.stdout+r.stderr, want)
	}
}

func TestSSHKeygenSign(t *testing.T) {
	t.Parallel()
	tests := []struct{ key, namespace string }{
		{"ed25519", "git"},
		{"ed25519", "file"},
		{"ecdsa256", "file"},
		{"ecdsa384", "git"},
		{"ecdsa521", "file"},
		{"rsa2048", "file"},
		{"rsa3072", "git"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"-"+tt.namespace, func(t *testing.T) {
			t.Parallel()
			ap := newApprover(t, "approve")
			a := startVigil(t, ap)
			k := key(t, tt.key)
			addKeys(t, a, k)
			for i := 1; i <= 2; i++ {
				s := sshsign(t, a.sock, k, tt.namespace)
				if s.res.code != 0 || !s.sigExists {
					t.Fatalf("ssh-keygen -Y sign #%d: %v", i, s.res)
				}
				s.verify(t, k, tt.namespace)
				// Asked exactly once per signature, never reusing an earlier answer.
				p := ap.expectPrompts(t, i)
				checkPrompt(t, p[i-1], k.fingerprint(), k.comment)
				if !a.isOpenSSH() {
					checkPrompt(t, p[i-1], callerLine("/usr/bin/ssh-keygen", s.res.pid)...)
					if !strings.Contains(p[i-1].Text, tt.namespace) {
						t.Logf("note: the prompt does not name the namespace %q:\n%s", tt.namespace, p[i-1].Text)
					}
				}
			}
		})
	}
}

// signingRepo is a git repository in a temporary home, set up to sign commits with SSH through an agent.
type signingRepo struct {
	dir string
	env []string
}

// run runs the git at gitBin in the repository.
func (r signingRepo) run(t testing.TB, gitBin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(gitBin, args...)
	cmd.Dir = r.dir
	cmd.Env = r.env
	return runCmd(t, 60*time.Second, cmd)
}

// newSigningRepo makes a git repository in a temporary home, with SSH commit signing set to k's public half
// through the agent at sock, and one file staged.
func newSigningRepo(t testing.TB, gitBin, sock string, k *testKey) signingRepo {
	t.Helper()
	home := t.TempDir()
	r := signingRepo{dir: filepath.Join(home, "repo")}
	allowed := filepath.Join(home, "allowed_signers")
	if err := os.WriteFile(allowed, []byte("e2e@vigil.test namespaces=\"git\" "+k.authorizedLine()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.env = cmdEnv(home, sock,
		"GIT_CONFIG_GLOBAL="+filepath.Join(home, "gitconfig"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=E2E", "GIT_AUTHOR_EMAIL=e2e@vigil.test",
		"GIT_COMMITTER_NAME=E2E", "GIT_COMMITTER_EMAIL=e2e@vigil.test",
	)
	if err := os.Mkdir(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	must(t, r.run(t, gitBin, "init", "-q"))
	must(t, r.run(t, gitBin, "config", "gpg.format", "ssh"))
	must(t, r.run(t, gitBin, "config", "user.signingkey", pubOnly(t, k)))
	must(t, r.run(t, gitBin, "config", "gpg.ssh.allowedSignersFile", allowed))
	if err := os.WriteFile(filepath.Join(r.dir, "README"), []byte("signed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, r.run(t, gitBin, "add", "README"))
	return r
}

// TestGitCommitSigned: git commit -S with gpg.format=ssh runs ssh-keygen -Y sign -n git through the agent.
// signedCommit makes a signing repository (newSigningRepo), commits with -S through the agent at sock and returns
// a function running git there.
func signedCommit(t *testing.T, gitBin, sock string, k *testKey) func(args ...string) result {
	t.Helper()
	r := newSigningRepo(t, gitBin, sock, k)
	git := func(args ...string) result {
		t.Helper()
		return r.run(t, gitBin, args...)
	}
	must(t, git("commit", "-q", "-S", "-m", "signed by the agent"))
	return git
}

func TestGitCommitSigned(t *testing.T) {
	t.Parallel()
	gitBin := needTool(t, "git", "git")
	needTool(t, "ssh-keygen", "openssh-client")
	ap := newApprover(t, "approve")
	a := startVigil(t, ap)
	k := key(t, "ed25519")
	addKeys(t, a, k)

	git := signedCommit(t, gitBin, a.sock, k)
	p := ap.expectPrompts(t, 1)
	checkPrompt(t, p[0], k.fingerprint(), k.comment)
	if !a.isOpenSSH() {
		checkPrompt(t, p[0], "/usr/bin/ssh-keygen")
	}

	r := must(t, git("verify-commit", "-v", "HEAD"))
	if !strings.Contains(r.stderr, `Good "git" signature for e2e@vigil.test`) {
		t.Errorf("git verify-commit said %q", r.stderr)
	}
	r = must(t, git("log", "-1", "--format=%G?"))
	if got := strings.TrimSpace(r.stdout); got != "G" {
		t.Errorf("git log %%G? = %q, want G", got)
	}
	// Verifying does not use the agent.
	ap.expectPrompts(t, 1)
}

// startSign starts `ssh-keygen -Y sign` through the agent in the background; see sshsign.
func startSign(t testing.TB, sock string, k *testKey, namespace string) (*proc, signing) {
	t.Helper()
	keygen := needTool(t, "ssh-keygen", "openssh-client")
	pub := pubOnly(t, k)
	data := filepath.Join(filepath.Dir(pub), "message.txt")
	if err := os.WriteFile(data, []byte("vigil e2e message for "+namespace+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := commandIn(t, sock, keygen, "-Y", "sign", "-f", pub, "-n", namespace, data)
	p := startProc(t, "ssh-keygen -Y sign", cmd)
	return p, signing{dataPath: data, sigPath: data + ".sig"}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
