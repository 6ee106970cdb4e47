package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// unitFile is a systemd unit read as "Key=value" lines (sections, comments and repeated keys ignored: vigil's
// units do not need them).
type unitFile map[string]string

func readUnit(t testing.TB, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: cannot parse %q", path, line)
		}
		u[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// expand resolves the specifiers vigil's units use: %t (runtime directory), %h (home) and %%.
func expand(s, runtimeDir, home string) string {
	return strings.NewReplacer("%%", "%", "%t", runtimeDir, "%h", home).Replace(s)
}

// splitExec splits an Exec line as systemd does for what vigil install writes: words separated by spaces, double
// quotes with \" and \\ escapes, $$ for $, after specifiers are expanded.
func splitExec(t testing.TB, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			quoted, inWord = !quoted, true
		case c == '$' && i+1 < len(line) && line[i+1] == '$':
			i++
			cur.WriteByte('$')
			inWord = true
		case c == '$':
			t.Fatalf("Exec line %q expands a variable", line)
		case c == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("Exec line %q: unterminated quote", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// installUnits runs "vigil install --user --no-systemctl" for home and returns the unit directory.
func installUnits(t testing.TB, bin string, env []string) string {
	t.Helper()
	cmd := exec.Command(bin, "install", "--user", "--no-systemctl")
	cmd.Env = env
	r := must(t, runCmd(t, 30*time.Second, cmd))
	if !strings.Contains(r.stdout, `export SSH_AUTH_SOCK="$XDG_RUNTIME_DIR/vigil/agent.sock"`) {
		t.Errorf("vigil install printed no shell profile line:\n%s", r.stdout)
	}
	return filepath.Join(envValue(env, "XDG_CONFIG_HOME"), "systemd", "user")
}

func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// TestSocketActivationUnit runs the command line of the vigil.service that vigil install writes, the way systemd
// would start it from vigil.socket: the test creates the listening socket as the socket unit says, passes it as fd 3
// with LISTEN_PID and LISTEN_FDS, and waits for READY=1 on a NOTIFY_SOCKET of its own. vigil serves that socket, and
// on SIGTERM exits 0 and leaves the socket file to its owner, which can start vigil again on it.
func TestSocketActivationUnit(t *testing.T) {
	t.Parallel()
	bin := needVigil(t)
	ap := newApprover(t, "approve")
	home := shortTempDir(t)
	runtimeDir := filepath.Join(home, "rt")
	if err := os.Mkdir(runtimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	env := append(vigilEnvHome(home), "XDG_RUNTIME_DIR="+runtimeDir)
	cfg := filepath.Join(home, ".config", "vigil", "config.toml")
	os.MkdirAll(filepath.Dir(cfg), 0o700)
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("approver = %q\n", ap.path)), 0o600); err != nil {
		t.Fatal(err)
	}
	units := installUnits(t, bin, env)
	socketUnit := readUnit(t, filepath.Join(units, "vigil.socket"))
	service := readUnit(t, filepath.Join(units, "vigil.service"))

	if service["Type"] != "notify" {
		t.Errorf("vigil.service Type=%q, want notify", service["Type"])
	}
	argv := splitExec(t, expand(service["ExecStart"], runtimeDir, home))
	if len(argv) != 2 || argv[0] != bin || argv[1] != "serve" {
		t.Fatalf("ExecStart=%s runs %q, want [%s serve]", service["ExecStart"], argv, bin)
	}

	// The socket, as systemd makes it from vigil.socket.
	sock := expand(socketUnit["ListenStream"], runtimeDir, home)
	if sock != filepath.Join(runtimeDir, "vigil", "agent.sock") {
		t.Errorf("ListenStream=%s is %s, not the socket vigil env and the profile line name", socketUnit["ListenStream"], sock)
	}
	dirMode, err := strconv.ParseUint(socketUnit["DirectoryMode"], 8, 32)
	if err != nil || dirMode != 0o700 {
		t.Fatalf("DirectoryMode=%q, want 0700", socketUnit["DirectoryMode"])
	}
	sockMode, err := strconv.ParseUint(socketUnit["SocketMode"], 8, 32)
	if err != nil || sockMode != 0o600 {
		t.Fatalf("SocketMode=%q, want 0600", socketUnit["SocketMode"])
	}
	if err := os.Mkdir(filepath.Dir(sock), os.FileMode(dirMode)); err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	defer ln.Close()
	if err := os.Chmod(sock, os.FileMode(sockMode)); err != nil {
		t.Fatal(err)
	}
	lnFile, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	defer lnFile.Close()

	notifyPath := filepath.Join(home, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()

	activate := func() *proc {
		t.Helper()
		cmd := exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"`, "sh"}, argv...)...)
		cmd.Env = append(env, "NOTIFY_SOCKET="+notifyPath)
		cmd.ExtraFiles = []*os.File{lnFile} // fd 3
		cmd.Stdout = new(lockedBuffer)
		p := startProc(t, "vigil (socket activated)", cmd)
		waitReady(t, p, notify)
		return p
	}

	p := activate()
	if l := sshAddList(t, sock); len(l) != 0 {
		t.Fatalf("ssh-add -l through the passed socket: %+v", l)
	}
	k := key(t, "ed25519")
	addKeys(t, &agentProc{kind: "vigil", sock: sock}, k)
	s := sshsign(t, sock, k, "file")
	if s.res.code != 0 || !s.sigExists {
		t.Fatalf("ssh-keygen -Y sign through the activated vigil: %v", s.res)
	}
	s.verify(t, k, "file")
	checkPrompt(t, ap.expectPrompts(t, 1)[0], k.fingerprint())
	if !strings.Contains(p.stderr.String(), "using the socket passed by systemd") {
		t.Errorf("vigil did not say it uses the passed socket:\n%s", p.stderr.String())
	}

	if !p.stop(t, syscall.SIGTERM) {
		t.Fatal("vigil did not exit on SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("vigil exited %d on SIGTERM, want 0; stderr:\n%s", code, p.stderr.String())
	}
	fi, err := os.Lstat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the socket file after vigil exited: %v, %v; want systemd's 0600 socket left in place", fi, err)
	}

	// The socket still listens (systemd's, not vigil's): started again on it, vigil serves it, keys gone.
	p = activate()
	if l := sshAddList(t, sock); len(l) != 0 {
		t.Errorf("keys survived a restart: %+v", l)
	}
	if !p.stop(t, syscall.SIGTERM) || p.cmd.ProcessState.ExitCode() != 0 {
		t.Errorf("second vigil did not exit 0 on SIGTERM; stderr:\n%s", p.stderr.String())
	}
}

// waitReady waits for READY=1 on the notify socket, failing early if p exits.
func waitReady(t testing.TB, p *proc, notify *net.UnixConn) {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		notify.SetReadDeadline(time.Now().Add(30 * time.Second))
		buf := make([]byte, 4096)
		n, err := notify.Read(buf)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	select {
	case msg := <-got:
		if msg != "READY=1" {
			t.Fatalf("vigil told NOTIFY_SOCKET %q, want READY=1; stderr:\n%s", msg, p.stderr.String())
		}
	case <-p.done:
		t.Fatalf("vigil exited (%v) before READY=1; stderr:\n%s", p.err, p.stderr.String())
	}
}

// TestSystemdUser installs the units with vigil install --user into a real systemd --user manager and uses the
// agent through the socket systemd holds. In a container that was not booted with systemd, the manager runs in a
// mount namespace of its own where /run/systemd/system exists (what systemd checks to know it was booted).
//
// Everything lives outside /tmp: the service runs with PrivateTmp=yes and ProtectSystem=strict, as it would for
// a user, so the binary, the approver and the home must be where such a service can see them.
func TestSystemdUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root to give systemd --user a mount namespace of its own")
	}
	unshare := needTool(t, "unshare", "util-linux")
	systemctl := needTool(t, "systemctl", "systemd")
	manager := needTool(t, "/lib/systemd/systemd", "systemd")
	vigilBuilt := needVigil(t)

	base, err := os.MkdirTemp("/var/lib", "vigil-e2e-systemd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	home := filepath.Join(base, "home")
	runtimeDir := filepath.Join(base, "rt")
	for _, d := range []string{home, runtimeDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// A binary path that needs quoting in ExecStart.
	bin := filepath.Join(base, "bin 100%", "vigil")
	os.Mkdir(filepath.Dir(bin), 0o755)
	data, err := os.ReadFile(vigilBuilt)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	// The approver runs inside the service's sandbox: it may write only below the runtime directory.
	prompts := filepath.Join(runtimeDir, "prompts.log")
	approver := filepath.Join(base, "approver")
	if err := os.WriteFile(approver, []byte("#!/bin/sh\nprintf '%s\\n--\\n' \"$1\" >> '"+prompts+"'\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(home, ".config", "vigil", "config.toml")
	os.MkdirAll(filepath.Dir(cfg), 0o700)
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("approver = %q\n", approver)), 0o600); err != nil {
		t.Fatal(err)
	}
	// journald is not running here: keep the service's log where the test can show it.
	serviceLog := filepath.Join(base, "vigil.log")
	dropIn := filepath.Join(home, ".config", "systemd", "user", "vigil.service.d", "e2e-log.conf")
	os.MkdirAll(filepath.Dir(dropIn), 0o755)
	if err := os.WriteFile(dropIn, []byte("[Service]\nStandardError=append:"+serviceLog+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(serviceLog)
			t.Logf("vigil.service log:\n%s", b)
		}
	})

	env := append(vigilEnvHome(home), "XDG_RUNTIME_DIR="+runtimeDir)
	boot := `[ -d /run/systemd/system ] || { mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system; } || exit 1
exec "$0" --user`
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", boot, manager)
	cmd.Env = env
	sd := startProc(t, "systemd --user", cmd)
	sysctl := func(args ...string) result {
		t.Helper()
		c := exec.Command(systemctl, append([]string{"--user"}, args...)...)
		c.Env = env
		return runCmd(t, 60*time.Second, c)
	}
	poll(t, 30*time.Second, "systemd --user to answer", func() (bool, string) {
		if sd.exited() {
			t.Fatalf("systemd --user exited: %v\n%s", sd.err, sd.stderr.String())
		}
		r := sysctl("show-environment")
		return r.code == 0, r.stderr
	})

	// vigil install --user, which finds the manager and enables the socket.
	c := exec.Command(bin, "install", "--user")
	c.Env = env
	r := must(t, runCmd(t, 60*time.Second, c))
	for _, want := range []string{"systemctl --user daemon-reload\n", "systemctl --user enable --now vigil.socket\n",
		"vigil.socket is listening"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("vigil install said:\n%s\nwant %q", r.stdout, want)
		}
	}
	if r.stderr != "" {
		t.Errorf("vigil install warned:\n%s", r.stderr)
	}
	must(t, sysctl("is-active", "--quiet", "vigil.socket"))
	mustFail(t, sysctl("is-active", "--quiet", "vigil.service")) // not until the first connection

	sock := filepath.Join(runtimeDir, "vigil", "agent.sock")
	fi, err := os.Lstat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, %v; want a 0600 socket", sock, fi, err)
	}
	if di, err := os.Stat(filepath.Dir(sock)); err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("socket directory: %v, %v; want 0700", di, err)
	}

	// vigil env finds the agent (and the connection starts vigil).
	c = exec.Command(bin, "env")
	c.Env = env
	if r := must(t, runCmd(t, 60*time.Second, c)); r.stdout != "SSH_AUTH_SOCK="+sock+"; export SSH_AUTH_SOCK;\n" {
		t.Errorf("vigil env printed %q", r.stdout)
	}
	// Type=notify: active means vigil said READY=1.
	must(t, sysctl("is-active", "--quiet", "vigil.service"))
	pid := sysctl("show", "--value", "-p", "MainPID", "vigil.service").stdout
	// The hardening is in force, not only written down.
	status, err := os.ReadFile("/proc/" + strings.TrimSpace(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NoNewPrivs:\t1\n", "Seccomp:\t2\n"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("vigil.service (pid %s) runs without %q:\n%s", strings.TrimSpace(pid), want, status)
		}
	}

	k := key(t, "ed25519")
	addKeys(t, &agentProc{kind: "vigil", sock: sock}, k)
	s := sshsign(t, sock, k, "git")
	if s.res.code != 0 || !s.sigExists {
		t.Fatalf("ssh-keygen -Y sign through the service: %v", s.res)
	}
	s.verify(t, k, "git")
	if b, err := os.ReadFile(prompts); err != nil || !strings.Contains(string(b), k.fingerprint()) {
		t.Errorf("the approver's log: %q, %v; want one prompt naming the key", b, err)
	}

	// ExecReload re-reads the rules in the same process.
	must(t, sysctl("reload", "vigil.service"))
	poll(t, 20*time.Second, "vigil to log the reload", func() (bool, string) {
		b, _ := os.ReadFile(serviceLog)
		return strings.Contains(string(b), "config reloaded"), string(b)
	})
	if now := sysctl("show", "--value", "-p", "MainPID", "vigil.service").stdout; now != pid {
		t.Errorf("reload changed the main PID from %s to %s", pid, now)
	}

	// Stopped, vigil exits 0; the socket stays with systemd and starts vigil again, without the keys.
	must(t, sysctl("stop", "vigil.service"))
	if got := sysctl("show", "-p", "Result", "-p", "ExecMainStatus", "vigil.service").stdout; !strings.Contains(got, "Result=success") ||
		!strings.Contains(got, "ExecMainStatus=0") {
		t.Errorf("vigil.service after stop:\n%s", got)
	}
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("socket gone after the service stopped: %v", err)
	}
	if l := sshAddList(t, sock); len(l) != 0 {
		t.Errorf("keys survived a restart: %+v", l)
	}
	must(t, sysctl("is-active", "--quiet", "vigil.service"))

	// A second vigil install changes nothing and keeps the running service.
	c = exec.Command(bin, "install", "--user")
	c.Env = env
	if r := must(t, runCmd(t, 60*time.Second, c)); strings.Count(r.stdout, "unchanged: ") != 2 || strings.Contains(r.stdout, "restart") {
		t.Errorf("second vigil install:\n%s", r.stdout)
	}
	if !sd.stop(t, syscall.SIGTERM) {
		t.Error("systemd --user did not exit on SIGTERM")
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("systemd --user left the socket behind: %v", err)
	}
}
