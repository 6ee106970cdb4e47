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

// gitRig is a repository with one commit, served over HTTP to callers
// giving Basic auth, and git run with a home of its own whose global config
// names helper as credential.helper.
type gitRig struct {
	t          *testing.T
	gitBin     string
	home, root string // git's home; the served repositories
	path       string // PATH for git
	srv        *gitBasicServer
	host       string // 127.0.0.1:PORT
	repoURL    string
}

// newGitRig sets the rig up; pathDir, if not "", goes first on git's PATH.
func newGitRig(t *testing.T, gitBin, backend, helper, pathDir string) *gitRig {
	t.Helper()
	g := &gitRig{t: t, gitBin: gitBin, home: t.TempDir(), root: t.TempDir(), path: os.Getenv("PATH")}
	if pathDir != "" {
		g.path = pathDir + string(os.PathListSeparator) + g.path
	}
	must(t, g.run("", "", "config", "--global", "credential.helper", helper))
	must(t, g.run("", "", "init", "-q", "--bare", filepath.Join(g.root, "repo.git")))
	work := filepath.Join(t.TempDir(), "work")
	must(t, g.run("", "", "init", "-q", work))
	must(t, g.run("", "", "-C", work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "one"))
	must(t, g.run("", "", "-C", work, "push", "-q", filepath.Join(g.root, "repo.git"), "HEAD:refs/heads/main"))
	g.srv = newGitBasicServer(t, backend, g.root)
	g.host = strings.TrimPrefix(g.srv.URL, "http://")
	g.repoURL = g.srv.URL + "/repo.git"
	return g
}

// run runs git with stdin, against the agent at sock.
func (g *gitRig) run(sock, stdin string, args ...string) result {
	g.t.Helper()
	cmd := exec.Command(g.gitBin, args...)
	cmd.Dir = g.home
	cmd.Env = []string{"PATH=" + g.path, "HOME=" + g.home, "LANG=C",
		"GIT_CONFIG_GLOBAL=" + filepath.Join(g.home, ".gitconfig"), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=", "SSH_AUTH_SOCK=" + sock,
		"XDG_CONFIG_HOME=" + filepath.Join(g.home, ".config"), "XDG_RUNTIME_DIR=" + filepath.Join(g.home, "run")}
	cmd.Stdin = strings.NewReader(stdin)
	return runCmd(g.t, time.Minute, cmd)
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

	g := newGitRig(t, gitBin, backend, bin+" git-credential", "")
	git, srv, host, repoURL := g.run, g.srv, g.host, g.repoURL

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

	for _, dir := range []string{store, vigilHome, g.home, g.root} {
		if f := filesHolding(t, dir, gitCredPassword); len(f) > 0 {
			t.Errorf("the password is written in clear in %q", f)
		}
	}
	if strings.Contains(a.p.stderr.String(), gitCredPassword) {
		t.Errorf("vigil's log holds the password")
	}
}

// TestGitCredentialHelperName: vigil installed as git-credential-vigil (a
// link on PATH), with credential.helper = vigil, as the README says. git
// runs "git credential-vigil get", which is vigil git-credential: the
// credential stored through git credential approve is released for a real
// git ls-remote over HTTP after a yes, and not after a no; the prompt names
// git, and the helper by its path.
func TestGitCredentialHelperName(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent has no credential broker")
		return
	}
	bin := needVigil(t)
	gitBin := needTool(t, "git", "git")
	backend := needTool(t, "/usr/lib/git-core/git-http-backend", "git")
	linkDir := t.TempDir()
	link := filepath.Join(linkDir, "git-credential-vigil")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	g := newGitRig(t, gitBin, backend, "vigil", linkDir)

	vigilHome := t.TempDir()
	cli := newCargoStore(t, bin, vigilHome, "", "correct horse battery")
	ap := newApprover(t, "approve")
	sock := filepath.Join(shortTempDir(t), "agent.sock")
	if _, err := launchVigilHome(t, bin, sock, vigilHome, ap); err != nil {
		t.Fatal(err)
	}
	must(t, cli.run("unlock", "--socket", sock))
	must(t, g.run(sock, "url="+g.srv.URL+"\nusername="+gitCredUser+"\npassword="+gitCredPassword+"\n\n", "credential", "approve"))
	ap.expectPrompts(t, 0)

	res := must(t, g.run(sock, "", "ls-remote", g.repoURL))
	if !strings.Contains(res.stdout, "refs/heads/main") {
		t.Errorf("ls-remote printed:\n%s", res.stdout)
	}
	p := ap.expectPrompts(t, 1)[0]
	checkPrompt(t, p, "Allow git to use your credential for http://"+g.host+" (user alice)?\n",
		"  program:  /usr/lib/git-core/git-remote-http (pid ",
		"  via:      "+bin+" (pid ", "vigil's git credential helper, run by /usr/lib/git-core/git (pid ")
	t.Logf("through git-credential-vigil, the person read:\n%s", p.Text)

	before := len(g.srv.seen())
	ap.set(t, "deny")
	res = mustFail(t, g.run(sock, "", "ls-remote", g.repoURL))
	if !strings.Contains(res.stderr, "vigil did not allow git") {
		t.Errorf("ls-remote denied:\n%s", res.stderr)
	}
	ap.expectPrompts(t, 2)
	for _, pw := range g.srv.seen()[before:] {
		if pw == gitCredPassword {
			t.Error("the server saw the password after a denial")
		}
	}
}
