package e2e

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	gitCredUser     = "alice"
	gitCredPassword = "git-SECRET-pw-0123456789"
)

// gitBasicServer serves the repositories under root with git http-backend,
// to callers giving Basic auth alice:gitCredPassword. It remembers every
// password it was shown.
type gitBasicServer struct {
	*httptest.Server
	mu        sync.Mutex
	passwords []string
}

func (s *gitBasicServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.passwords...)
}

func newGitBasicServer(t *testing.T, backend, root string) *gitBasicServer {
	s := &gitBasicServer{}
	h := &cgi.Handler{Path: backend, Root: "/", Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if ok {
			s.mu.Lock()
			s.passwords = append(s.passwords, pass)
			s.mu.Unlock()
		}
		if !ok || user != gitCredUser || pass != gitCredPassword {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestGitCredential: vigil git-credential as git's credential.helper, with
// real git over HTTP to a server wanting Basic auth. While the store is
// locked git gets nothing and is told to run vigil unlock; git credential
// approve stores the password through the helper (no prompt); git ls-remote
// then asks the person, showing host and user, and succeeds on a yes; on a
// no it fails and the server never sees the password. Without an agent, git
// is told so. The password is in no file in the clear.
func TestGitCredential(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent has no credential broker")
		return
	}
	bin := needVigil(t)
	gitBin := needTool(t, "git", "git")
	backend := needTool(t, "/usr/lib/git-core/git-http-backend", "git")
	if strings.ContainsAny(bin, " '\"\\$") {
		t.Fatalf("vigil's path %q would be split by git's shell", bin)
	}

	// A repository with one commit, served over HTTP.
	root := t.TempDir()
	gitHome := t.TempDir()
	gitEnv := func(sock string) []string {
		return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + gitHome, "LANG=C",
			"GIT_CONFIG_GLOBAL=" + filepath.Join(gitHome, ".gitconfig"), "GIT_CONFIG_NOSYSTEM=1",
			"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=", "SSH_AUTH_SOCK=" + sock,
			"XDG_CONFIG_HOME=" + filepath.Join(gitHome, ".config"), "XDG_RUNTIME_DIR=" + filepath.Join(gitHome, "run")}
	}
	git := func(sock, stdin string, args ...string) result {
		t.Helper()
		cmd := exec.Command(gitBin, args...)
		cmd.Dir = gitHome
		cmd.Env = gitEnv(sock)
		cmd.Stdin = strings.NewReader(stdin)
		return runCmd(t, time.Minute, cmd)
	}
	must(t, git("", "", "config", "--global", "credential.helper", bin+" git-credential"))
	must(t, git("", "", "init", "-q", "--bare", filepath.Join(root, "repo.git")))
	work := filepath.Join(t.TempDir(), "work")
	must(t, git("", "", "init", "-q", work))
	must(t, git("", "", "-C", work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "one"))
	must(t, git("", "", "-C", work, "push", "-q", filepath.Join(root, "repo.git"), "HEAD:refs/heads/main"))

	srv := newGitBasicServer(t, backend, root)
	host := strings.TrimPrefix(srv.URL, "http://")
	repoURL := srv.URL + "/repo.git"

	// No agent: git gets nothing, and the helper says why.
	res := mustFail(t, git(filepath.Join(shortTempDir(t), "none.sock"), "", "ls-remote", repoURL))
	if !strings.Contains(res.stderr, "vigil agent not running") {
		t.Errorf("ls-remote without an agent:\n%s", res.stderr)
	}

	vigilHome := t.TempDir()
	store := filepath.Join(t.TempDir(), "store")
	cli := newCargoStore(t, bin, vigilHome, store, "correct horse battery")
	ap := newApprover(t, "approve")
	sock := filepath.Join(shortTempDir(t), "agent.sock")
	a, err := launchVigilHome(t, bin, sock, vigilHome, ap, "--store", store)
	if err != nil {
		t.Fatal(err)
	}

	// Locked: git is told to run vigil unlock.
	res = mustFail(t, git(sock, "", "ls-remote", repoURL))
	if !strings.Contains(res.stderr, "vigil's key store is locked") || !strings.Contains(res.stderr, "vigil unlock") {
		t.Errorf("ls-remote while locked:\n%s", res.stderr)
	}
	t.Logf("git ls-remote while the store is locked:\n%s", res.stderr)
	must(t, cli.run("unlock", "--socket", sock))

	// Store through git's own credential approve: no prompt.
	must(t, git(sock, "url="+srv.URL+"\nusername="+gitCredUser+"\npassword="+gitCredPassword+"\n\n", "credential", "approve"))
	ap.expectPrompts(t, 0)

	// Approved: ls-remote succeeds, after a prompt showing host and user.
	res = must(t, git(sock, "", "ls-remote", repoURL))
	if !strings.Contains(res.stdout, "refs/heads/main") {
		t.Errorf("ls-remote printed:\n%s", res.stdout)
	}
	prompts := ap.expectPrompts(t, 1)
	checkPrompt(t, prompts[0], "Allow git to use your credential for http://"+host+" (user alice)?",
		"host:     "+host, "protocol: http", "user:     alice", "git")
	t.Logf("the person read:\n%s", prompts[0].Text)

	// Denied: ls-remote fails, and the server never saw the password.
	before := len(srv.seen())
	ap.set(t, "deny")
	res = mustFail(t, git(sock, "", "ls-remote", repoURL))
	if !strings.Contains(res.stderr, "vigil did not allow git") {
		t.Errorf("ls-remote denied:\n%s", res.stderr)
	}
	t.Logf("git ls-remote denied:\n%s", res.stderr)
	for _, p := range srv.seen()[before:] {
		if p == gitCredPassword {
			t.Error("the server saw the password after a denial")
		}
	}
	ap.expectPrompts(t, 2)

	// Erase through git credential reject: then get has nothing, and asks nobody.
	ap.set(t, "approve")
	must(t, git(sock, "url="+srv.URL+"\nusername="+gitCredUser+"\n\n", "credential", "reject"))
	mustFail(t, git(sock, "", "ls-remote", repoURL))
	ap.expectPrompts(t, 2)

	for _, dir := range []string{store, vigilHome, gitHome, root} {
		if f := filesHolding(t, dir, gitCredPassword); len(f) > 0 {
			t.Errorf("the password is written in clear in %q", f)
		}
	}
	if strings.Contains(a.p.stderr.String(), gitCredPassword) {
		t.Errorf("vigil's log holds the password")
	}
}
