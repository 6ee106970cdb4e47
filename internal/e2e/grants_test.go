package e2e

import (
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// These tests prove issue 5's rules and grants end to end: what a rule or a grant lets through silently, and that
// any other program, path or purpose still asks. Denials are answered at once (the scripted pinentry's "deny"), so
// only grants cost a person's 1.1 seconds per dialog.

// renamedSignerScript is a program that makes itself look like ssh-keygen: it sets its comm with PR_SET_NAME (its
// argv[0] is set by whoever starts it), then asks the agent for an SSHSIG signature over a file, exiting 0 only if
// it got one. It prints its comm, so the test can see the disguise took.
const renamedSignerScript = `
import base64, ctypes, hashlib, os, socket, struct, sys
namespace, pub, msg = sys.argv[1:4]
ctypes.CDLL(None).prctl(15, b"ssh-keygen", 0, 0, 0)
print("comm=" + open("/proc/self/comm").read().strip(), flush=True)
def string(b):
    return struct.pack(">I", len(b)) + b
blob = base64.b64decode(open(pub).read().split()[1])
digest = hashlib.sha512(open(msg, "rb").read()).digest()
data = b"SSHSIG" + string(namespace.encode()) + string(b"") + string(b"sha512") + string(digest)
conn = socket.socket(socket.AF_UNIX)
conn.connect(os.environ["SSH_AUTH_SOCK"])
conn.sendall(string(bytes([13]) + string(blob) + string(data) + struct.pack(">I", 0)))
def read(n):
    b = b""
    while len(b) < n:
        chunk = conn.recv(n - len(b))
        if not chunk:
            sys.exit("the agent hung up")
        b += chunk
    return b
reply = read(struct.unpack(">I", read(4))[0])
sys.exit(0 if reply[:1] == bytes([14]) else 1)
`

// renamedSign runs renamedSignerScript with argv[0] "ssh-keygen" through Debian's python3, asking for a signature
// over a fresh file with k in namespace. It fails the test unless the disguise took.
func renamedSign(t testing.TB, sock string, k *testKey, namespace string) result {
	t.Helper()
	py := needTool(t, debianPython, "python3")
	pub := pubOnly(t, k)
	data := filepath.Join(filepath.Dir(pub), "renamed.txt")
	if err := os.WriteFile(data, []byte("a program that calls itself ssh-keygen\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", renamedSignerScript, namespace, pub, data)
	cmd.Args[0] = "ssh-keygen"
	cmd.Env = cmdEnv(clientHome(t), sock)
	r := runCmd(t, 60*time.Second, cmd)
	if !strings.Contains(r.stdout, "comm=ssh-keygen") {
		t.Fatalf("the renamed program did not rename itself: %v", r)
	}
	return r
}

// copyProgram copies the executable at path into a fresh directory, under the same name, and returns the copy.
func copyProgram(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(cp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return cp
}

// title is the first line of a prompt.
func title(text string) string {
	first, _, _ := strings.Cut(text, "\n")
	return first
}

// TestRuleAllowsOnlyThatProgram: a rule allowing /usr/bin/ssh-keygen to sign files lets it sign without a prompt.
// The same request from a copy of ssh-keygen at another path asks, and so does one from a python program that calls
// itself ssh-keygen (comm and argv[0]); its prompt names python. Both are denied and get nothing.
func TestRuleAllowsOnlyThatProgram(t *testing.T) {
	t.Parallel()
	keygen := needTool(t, "/usr/bin/ssh-keygen", "openssh-client")
	config := filepath.Join(t.TempDir(), "config.toml")
	rule := "[[rule]]\nexe = \"" + keygen + "\"\npurpose = \"file\"\naction = \"allow\"\n"
	if err := os.WriteFile(config, []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	ap := newApprover(t, "deny")
	a := startVigil(t, ap, "--config", config)
	if a.isOpenSSH() {
		t.Fatal("OpenSSH's agent has no rules: this test is vigil's own")
	}
	k := key(t, "ed25519")
	addKeys(t, a, k)

	s := sshsign(t, a.sock, k, "file")
	if s.res.code != 0 || !s.sigExists {
		t.Fatalf("the rule allows %s to sign files, yet: %v", keygen, s.res)
	}
	s.verify(t, k, "file")
	ap.expectPrompts(t, 0)

	t.Run("copy at another path", func(t *testing.T) {
		cp := copyProgram(t, keygen)
		pub := pubOnly(t, k)
		data := filepath.Join(filepath.Dir(pub), "message.txt")
		if err := os.WriteFile(data, []byte("from a copy\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(cp, "-Y", "sign", "-f", pub, "-n", "file", data)
		cmd.Env = cmdEnv(clientHome(t), a.sock)
		r := mustFail(t, runCmd(t, 60*time.Second, cmd))
		if fileExists(data + ".sig") {
			t.Errorf("the copy was denied, yet %s.sig was written", data)
		}
		ps := ap.waitPrompts(t, 1, 10*time.Second)
		checkPrompt(t, ps[len(ps)-1], callerLine(cp, r.pid)...)
		checkPrompt(t, ps[len(ps)-1], k.fingerprint())
	})
	t.Run("renamed to ssh-keygen", func(t *testing.T) {
		before := len(ap.prompts(t))
		r := mustFail(t, renamedSign(t, a.sock, k, "file"))
		p := ap.expectPrompts(t, before+1)[before]
		t.Logf("prompt for the renamed program:\n%s", p.Text)
		checkPrompt(t, p, "/usr/bin/python3", fmt.Sprintf("pid %d", r.pid), "sign a file")
		if head := title(p.Text); !strings.HasPrefix(head, "Allow python3") {
			t.Errorf("the prompt's title %q does not name the real program", head)
		}
	})

	// The rule still holds for the program it names.
	s = sshsign(t, a.sock, k, "file")
	if s.res.code != 0 {
		t.Fatalf("ssh-keygen after the others were denied: %v", s.res)
	}
	ap.expectPrompts(t, 2)
}

// TestGrantCoversOneGit: "Allow for 5 min" on a signed commit covers the next nineteen commits of the same git,
// and no other program: ssh-keygen signing for namespace git when started by something other than that git, or a
// copy of git at another path running the same ssh-keygen, each ask.
func TestGrantCoversOneGit(t *testing.T) {
	t.Parallel()
	const n = 20
	gitBin := needTool(t, "/usr/bin/git", "git")
	needTool(t, "ssh-keygen", "openssh-client")
	pin := newScriptedPinentry(t, "grant")
	a := startVigil(t, nil, "--pinentry", pin.path)
	k := key(t, "ed25519")
	addKeys(t, a, k)

	repo := newSigningRepo(t, gitBin, a.sock, k)
	git := func(args ...string) result {
		t.Helper()
		return repo.run(t, gitBin, args...)
	}
	for i := 1; i <= n; i++ {
		must(t, git("commit", "-q", "-S", "--allow-empty", "-m", fmt.Sprintf("commit %d", i)))
	}
	r := must(t, git("log", "--format=%G?"))
	if strings.Count(r.stdout, "G") != n {
		t.Errorf("git log %%G? = %q, want %d good signatures", r.stdout, n)
	}
	ps := pin.prompts(t)
	t.Logf("%d signed commits with a grant: %d prompts", n, len(ps))
	if len(ps) != 1 || !strings.Contains(ps[0], "sign a git commit") {
		t.Fatalf("prompts %q, want one, to sign a git commit", ps)
	}

	pin.set(t, "deny")
	t.Run("ssh-keygen run by another program", func(t *testing.T) {
		s := sshsign(t, a.sock, k, "git")
		if s.res.code == 0 || s.sigExists {
			t.Errorf("ssh-keygen -Y sign -n git, started by the test and not by git, signed under git's grant: %v", s.res)
		}
		if ps := pin.prompts(t); len(ps) != 2 {
			t.Errorf("prompts %q, want a second one", ps)
		}
	})
	t.Run("copy of git", func(t *testing.T) {
		cp := copyProgram(t, gitBin)
		before := len(pin.prompts(t))
		mustFail(t, repo.run(t, cp, "commit", "-q", "-S", "--allow-empty", "-m", "from a copy of git"))
		if ps := pin.prompts(t); len(ps) != before+1 {
			t.Errorf("prompts %q, want one more for the copy of git", ps)
		}
	})
	if out := must(t, git("log", "--format=%s")).stdout; strings.Contains(out, "from a copy") {
		t.Errorf("the copy of git committed without a signature:\n%s", out)
	}
}

// sshsigData is what ssh-keygen -Y sign asks an agent to sign: the SSHSIG signed-data blob over msg.
func sshsigData(namespace string, msg []byte) []byte {
	digest := sha512.Sum512(msg)
	return append([]byte("SSHSIG"), ssh.Marshal(struct {
		Namespace, Reserved, HashAlg string
		Hash                         []byte
	}{namespace, "", "sha512", digest[:]})...)
}

// grantInfo is what the tests read of one grant in `vigil grants --json`.
type grantInfo struct {
	ID        int
	Exe       string
	Purpose   string
	Host      string
	Forwarded bool
}

// listGrants runs `vigil grants --json` against the agent at sock.
func listGrants(t testing.TB, sock string) []grantInfo {
	t.Helper()
	r := must(t, client(t, sock, nil, needVigil(t), "grants", "--socket", sock, "--json"))
	var gs []grantInfo
	if err := json.Unmarshal([]byte(r.stdout), &gs); err != nil {
		t.Fatalf("vigil grants --json printed %q: %v", r.stdout, err)
	}
	return gs
}

// TestRevokeEndsGrant: `vigil grants revoke ID` ends that grant at once and no other; `vigil grants revoke all`
// ends the rest. The next request each covered asks again.
func TestRevokeEndsGrant(t *testing.T) {
	t.Parallel()
	bin := needVigil(t)
	pin := newScriptedPinentry(t, "grant")
	a := startVigil(t, nil, "--pinentry", pin.path)
	k := key(t, "ed25519")
	addKeys(t, a, k)
	sign := func(namespace string, wantSigned bool, wantPrompts int) {
		t.Helper()
		s := sshsign(t, a.sock, k, namespace)
		if signed := s.res.code == 0 && s.sigExists; signed != wantSigned {
			t.Fatalf("sign for %s: signed %v, want %v: %v", namespace, signed, wantSigned, s.res)
		}
		if ps := pin.prompts(t); len(ps) != wantPrompts {
			t.Fatalf("after a sign for %s: %d prompts, want %d: %q", namespace, len(ps), wantPrompts, ps)
		}
	}
	revoke := func(what, want string) {
		t.Helper()
		r := must(t, client(t, a.sock, nil, bin, "grants", "--socket", a.sock, "revoke", what))
		if r.stdout != want {
			t.Errorf("vigil grants revoke %s printed %q, want %q", what, r.stdout, want)
		}
	}

	sign("file", true, 1) // granted
	sign("git", true, 2)  // granted
	sign("file", true, 2) // covered
	gs := listGrants(t, a.sock)
	byPurpose := map[string]int{}
	for _, g := range gs {
		byPurpose[g.Purpose] = g.ID
	}
	if len(gs) != 2 || byPurpose["file"] == 0 || byPurpose["git"] == 0 {
		t.Fatalf("vigil grants lists %+v, want one grant for file and one for git", gs)
	}
	if out := must(t, client(t, a.sock, nil, bin, "grants", "--socket", a.sock)).stdout; !strings.Contains(out, "/usr/bin/ssh-keygen") {
		t.Errorf("vigil grants does not name the program:\n%s", out)
	}

	pin.set(t, "deny")
	revoke(strconv.Itoa(byPurpose["file"]), "revoked 1 grant\n")
	sign("file", false, 3)               // asks, denied
	sign("git", true, 3)                 // the other grant still covers it
	revoke("--all", "revoked 1 grant\n") // as "all"
	sign("git", false, 4)                // asks, denied
	if gs := listGrants(t, a.sock); len(gs) != 0 {
		t.Errorf("grants left after revoke all: %+v", gs)
	}
}

// TestGrantDoesNotCoverOthers is the seed issue's acceptance with grants on: the person grants one program; a
// second same-user program that connects mid-window asks for a signature with the same key for the same purpose,
// and gets nothing without its own approval, however it names itself, and even when it runs the very ssh-keygen
// that was granted; the first program's grant still holds.
func TestGrantDoesNotCoverOthers(t *testing.T) {
	t.Parallel()
	pin := newScriptedPinentry(t, "grant")
	a := startVigil(t, nil, "--pinentry", pin.path)
	k := key(t, "ed25519")
	addKeys(t, a, k)

	if s := sshsign(t, a.sock, k, "git"); s.res.code != 0 || !s.sigExists {
		t.Fatalf("the granted program's signature: %v", s.res)
	}
	if gs := listGrants(t, a.sock); len(gs) != 1 {
		t.Fatalf("grants %+v, want one", gs)
	}
	pin.set(t, "deny")

	t.Run("renamed to ssh-keygen", func(t *testing.T) {
		mustFail(t, renamedSign(t, a.sock, k, "git"))
		ps := pin.prompts(t)
		if len(ps) != 2 || !strings.HasPrefix(ps[1], "Allow python3") {
			t.Errorf("prompts %q, want a second one naming python3", ps)
		}
	})
	t.Run("agent client", func(t *testing.T) {
		conn, err := net.Dial("unix", a.sock)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if sig, err := agent.NewClient(conn).Sign(k.pub, sshsigData("git", []byte("B's commit"))); err == nil {
			t.Errorf("a second program got a %s signature under another program's grant", sig.Format)
		}
		ps := pin.prompts(t)
		exe, _ := os.Executable()
		if len(ps) != 3 || !strings.HasPrefix(ps[2], "Allow "+filepath.Base(exe)) {
			t.Errorf("prompts %q, want a third one naming %s", ps, filepath.Base(exe))
		}
	})

	t.Run("the same ssh-keygen, run by a script", func(t *testing.T) {
		bash := needTool(t, "bash", "bash")
		keygen := needTool(t, "/usr/bin/ssh-keygen", "openssh-client")
		pub := pubOnly(t, k)
		data := filepath.Join(filepath.Dir(pub), "message.txt")
		if err := os.WriteFile(data, []byte("a script's commit\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// "; exit" keeps bash from exec'ing ssh-keygen in its own place: bash is its parent.
		cmd := exec.Command(bash, "-c", `"$0" -Y sign -f "$1" -n git "$2"; exit $?`, keygen, pub, data)
		cmd.Env = cmdEnv(clientHome(t), a.sock)
		mustFail(t, runCmd(t, 60*time.Second, cmd))
		if ps := pin.prompts(t); len(ps) != 4 || !strings.HasPrefix(ps[3], "Allow ssh-keygen") {
			t.Errorf("prompts %q, want a fourth one for ssh-keygen", ps)
		}
	})

	// The granted program goes on without asking.
	if s := sshsign(t, a.sock, k, "git"); s.res.code != 0 || !s.sigExists {
		t.Fatalf("the granted program after the others were denied: %v", s.res)
	}
	if ps := pin.prompts(t); len(ps) != 4 {
		t.Errorf("prompts %q, want no new one for the granted program", ps)
	}
}

// knowingHome is a home for vigil whose ~/.ssh/known_hosts names srv, so that logins to it have a verified
// destination (which a login grant needs).
func knowingHome(t testing.TB, srv *sshd) string {
	t.Helper()
	home := t.TempDir()
	if err := os.Mkdir(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	line := knownHostsLine(net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.port)), srv.hostKey)
	if err := os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

// TestForwardedAsksDespiteGrant: a grant for ssh to log in to a host does not cover the same login asked for
// through a forwarded agent: ssh -A to the host, and from there ssh to the same host again. The outer login is
// covered; the forwarded one asks, says it is forwarded, and, denied, fails.
func TestForwardedAsksDespiteGrant(t *testing.T) {
	t.Parallel()
	sshBin := needTool(t, "ssh", "openssh-client")
	k := key(t, "ed25519")
	srv := startSSHD(t, sshdOpts{authorized: []*testKey{k}})
	pin := newScriptedPinentry(t, "grant")
	a, err := launchVigilHome(t, needVigil(t), filepath.Join(shortTempDir(t), "agent.sock"), knowingHome(t, srv), nil,
		"--pinentry", pin.path)
	if err != nil {
		t.Fatal(err)
	}
	addKeys(t, a, k)
	login := func(args ...string) (*proc, *lockedBuffer) {
		t.Helper()
		cmd := commandIn(t, a.sock, sshBin, args...)
		p := startProc(t, "ssh", cmd)
		p.wait(t, 60*time.Second)
		return p, cmd.Stdout.(*lockedBuffer)
	}

	if p, out := login(append(srv.sshArgs(a.sock), "echo", "ok")...); p.err != nil || strings.TrimSpace(out.String()) != "ok" {
		t.Fatalf("local login: %v, printed %q\nstderr:\n%s", p.err, out.String(), p.stderr.String())
	}
	gs := listGrants(t, a.sock)
	if len(gs) != 1 || gs[0].Purpose != "login" || gs[0].Host == "" || gs[0].Forwarded {
		t.Fatalf("grants %+v, want one for a local login to a verified host", gs)
	}

	pin.set(t, "deny")
	inner := strings.Join(quoteAll(srv.sshArgs("$SSH_AUTH_SOCK")), " ")
	inner = strings.Replace(inner, "'IdentityAgent=$SSH_AUTH_SOCK'", `"IdentityAgent=$SSH_AUTH_SOCK"`, 1)
	p, out := login(append(srv.sshArgs(a.sock, "-A"), "echo outer-ok; ssh "+inner+" echo inner-ok")...)
	if got := out.String(); !strings.Contains(got, "outer-ok") || strings.Contains(got, "inner-ok") {
		t.Fatalf("ssh -A printed %q (%v), want the outer login only\nstderr:\n%s", got, p.err, p.stderr.String())
	}
	ps := pin.prompts(t)
	t.Logf("prompts: %q", ps)
	if len(ps) != 2 {
		t.Fatalf("%d prompts, want 2: the local login's grant, then the forwarded login", len(ps))
	}
	if want := fmt.Sprintf("Allow ssh to log in as %s to [127.0.0.1]:%d?", testUser, srv.port); ps[0] != want {
		t.Errorf("first prompt %q, want %q", ps[0], want)
	}
	if !strings.HasPrefix(ps[1], "Allow ssh to log in as "+testUser) {
		t.Errorf("second prompt %q is not for the forwarded login", ps[1])
	}
	var denied []string
	for l := range strings.Lines(a.p.stderr.String()) {
		if strings.Contains(l, `msg="sign request"`) && strings.Contains(l, "outcome=denied") {
			denied = append(denied, l)
		}
	}
	if len(denied) != 1 || !strings.Contains(denied[0], "forwarded=true") {
		t.Errorf("vigil logged these denials, want one, of a forwarded request: %q", denied)
	}
}

// TestFetchLoopPrompts counts prompts for twenty `git ls-remote` over ssh to the loopback sshd, each a new ssh
// login: with a 5-minute grant the person is asked once; answering each alone (an askpass approver, which cannot
// grant), twenty times.
func TestFetchLoopPrompts(t *testing.T) {
	t.Parallel()
	const n = 20
	gitBin := needTool(t, "/usr/bin/git", "git")
	needTool(t, "ssh", "openssh-client")
	k := key(t, "ed25519")
	srv := startSSHD(t, sshdOpts{authorized: []*testKey{k}})
	uid, gid := ensureTestUser(t)

	// A bare repository the sshd's user owns, with one commit.
	dir, err := os.MkdirTemp("", "vigil-e2e-fetch-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := newSigningRepo(t, gitBin, "", k)
	must(t, src.run(t, gitBin, "commit", "-q", "-m", "fetched"))
	bare := filepath.Join(dir, "repo.git")
	must(t, src.run(t, gitBin, "clone", "-q", "--bare", src.dir, bare))
	if err := filepath.Walk(bare, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}); err != nil {
		t.Fatal(err)
	}
	head := strings.TrimSpace(must(t, src.run(t, gitBin, "rev-parse", "HEAD")).stdout)

	for _, tt := range []struct {
		name        string
		grant       bool
		wantPrompts int
	}{{"grant", true, 1}, {"once", false, n}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var flags []string
			var ap *approver
			var pin *scriptedPinentry
			if tt.grant {
				pin = newScriptedPinentry(t, "grant")
				flags = []string{"--pinentry", pin.path}
			} else {
				ap = newApprover(t, "approve")
			}
			a, err := launchVigilHome(t, needVigil(t), filepath.Join(shortTempDir(t), "agent.sock"), knowingHome(t, srv), ap, flags...)
			if err != nil {
				t.Fatal(err)
			}
			addKeys(t, a, k)
			opts := srv.sshArgs(a.sock)
			opts = opts[:len(opts)-5] // without -p PORT -l USER HOST: git says where to go
			url := fmt.Sprintf("ssh://%s@127.0.0.1:%d%s", testUser, srv.port, bare)
			cmd := func() result {
				c := exec.Command(gitBin, "ls-remote", url, "HEAD")
				c.Env = cmdEnv(t.TempDir(), a.sock, "GIT_SSH_COMMAND=ssh "+strings.Join(quoteAll(opts), " "),
					"GIT_CONFIG_NOSYSTEM=1")
				return runCmd(t, 60*time.Second, c)
			}
			for i := 1; i <= n; i++ {
				if r := must(t, cmd()); !strings.HasPrefix(r.stdout, head) {
					t.Fatalf("git ls-remote #%d printed %q, want %s", i, r.stdout, head)
				}
			}
			var prompts int
			if tt.grant {
				prompts = len(pin.prompts(t))
			} else {
				prompts = len(ap.prompts(t))
			}
			t.Logf("%d git ls-remote over ssh, each a new login, %s: %d prompts", n, tt.name, prompts)
			if prompts != tt.wantPrompts {
				t.Errorf("%d prompts, want %d", prompts, tt.wantPrompts)
			}
		})
	}
}
