package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// storeCLI runs vigil's command line (key generate, unlock, lock, key
// passwd) as the person would, with the store passphrase coming from
// askpass (SSH_ASKPASS_REQUIRE=force).
type storeCLI struct {
	t       *testing.T
	bin     string
	home    string
	askpass string
}

func (c storeCLI) run(args ...string) result {
	c.t.Helper()
	return c.runIn("", nil, args...)
}

// runIn runs vigil in dir ("": here) with env added to its environment.
func (c storeCLI) runIn(dir string, env []string, args ...string) result {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(vigilEnvHome(c.home), "SSH_ASKPASS="+c.askpass, "SSH_ASKPASS_REQUIRE=force"), env...)
	return runCmd(c.t, time.Minute, cmd)
}

// cargoRig is what every cargo test starts from: vigil, cargo, and a vigil
// home whose key store (in its default place) has a known passphrase.
func cargoRig(t *testing.T) (bin, cargoBin, vigilHome string, cli storeCLI) {
	t.Helper()
	bin = needVigil(t)
	cargoBin = needTool(t, "cargo", "cargo")
	vigilHome = t.TempDir()
	return bin, cargoBin, vigilHome, newCargoStore(t, bin, vigilHome, "", "correct horse battery")
}

// newCargoStore makes a key store with vigil key generate: in store if it is
// not "", else in vigil's default place under home. The passphrase is pass.
func newCargoStore(t *testing.T, bin, home, store, pass string) storeCLI {
	t.Helper()
	askpass, passFile, _ := storeAskpass(t, t.TempDir())
	if err := os.WriteFile(passFile, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := storeCLI{t: t, bin: bin, home: home, askpass: askpass}
	args := []string{"key", "generate", "--comment", "ssh key"}
	if store != "" {
		args = append(args, "--store", store)
	}
	must(t, c.run(args...))
	return c
}

// wantLocked fails unless cargo's error says vigil's key store is locked and
// how to unlock it.
func wantLocked(t *testing.T, res result) {
	t.Helper()
	for _, want := range []string{"vigil's key store is locked", "run `vigil unlock`"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("cargo's error does not say %q:\n%s", want, res.stderr)
		}
	}
}

// TestCargoTokenInStore: the token cargo login gives vigil is kept in the
// key store, encrypted, and nowhere else. While the store is locked, login
// and publish are refused with an error naming vigil unlock (nobody is
// asked, the registry sees nothing). After vigil unlock, login stores the
// token; a new vigil on the same store, once unlocked, publishes with it; a
// passphrase change (vigil key passwd) keeps it; vigil lock locks it again.
// The token's bytes are in no file under the store or any home.
func TestCargoTokenInStore(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent has no credential broker")
		return
	}
	bin := needVigil(t)
	cargoBin := needTool(t, "cargo", "cargo")
	vigilHome := t.TempDir()
	store := filepath.Join(t.TempDir(), "store")
	cli := newCargoStore(t, bin, vigilHome, store, "correct horse battery")
	ap := newApprover(t, "approve")
	sock := filepath.Join(shortTempDir(t), "agent.sock")
	a, err := launchVigilHome(t, bin, sock, vigilHome, ap, "--store", store)
	if err != nil {
		t.Fatal(err)
	}
	reg := newCargoRegistry(t, cargoToken)
	proj := newCargoProject(t, cargoBin, bin, reg)
	publish := []string{"publish", "--registry", "fake", "--no-verify", "--allow-dirty"}
	tokenFiles := func() []string {
		m, err := filepath.Glob(filepath.Join(store, "*.token"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	// Locked: login is refused, and nothing is stored anywhere.
	res := mustFail(t, proj.run(sock, cargoToken+"\n", "login", "--registry", "fake"))
	wantLocked(t, res)
	if !strings.Contains(res.stderr, "cargo login again") {
		t.Errorf("cargo login while locked:\n%s", res.stderr)
	}
	t.Logf("cargo login while the store is locked:\n%s", res.stderr)
	if f := tokenFiles(); len(f) != 0 {
		t.Fatalf("token files after a refused login: %q", f)
	}

	// Unlocked: login stores the token in the store, encrypted.
	must(t, cli.run("unlock", "--socket", sock))
	must(t, proj.run(sock, cargoToken+"\n", "login", "--registry", "fake"))
	if f := tokenFiles(); len(f) != 1 {
		t.Fatalf("token files after login: %q", f)
	}
	ap.expectPrompts(t, 0)

	// A new vigil on the same store: locked until unlocked, and then the
	// token is there.
	if !a.p.stop(t, syscall.SIGTERM) {
		t.Fatal("vigil did not stop on SIGTERM")
	}
	first := a
	a, err = launchVigilHome(t, bin, sock, vigilHome, ap, "--store", store)
	if err != nil {
		t.Fatal(err)
	}
	res = mustFail(t, proj.run(sock, "", publish...))
	wantLocked(t, res)
	t.Logf("cargo publish while the store is locked:\n%s", res.stderr)
	ap.expectPrompts(t, 0)
	if l := reg.takeLog(); len(l) != 0 {
		t.Errorf("the registry saw API calls while vigil was locked: %q", l)
	}

	must(t, cli.run("unlock", "--socket", sock))
	res = must(t, proj.run(sock, "", publish...))
	if _, ok := reg.version("foo", "0.2.0"); !ok {
		t.Fatalf("foo 0.2.0 not in the registry; cargo said:\n%s", res.stderr)
	}
	prompts := ap.expectPrompts(t, 2)
	checkPrompt(t, prompts[1], "Allow cargo to publish foo 0.2.0 (sha256 ")
	if l := reg.takeLog(); len(l) != 1 || !strings.Contains(l[0], "published foo 0.2.0") || !strings.Contains(l[0], "with the logged-in token") {
		t.Errorf("registry log: %q", l)
	}

	// vigil key passwd reseals the token: the agent, unlocked with the old
	// passphrase, now says it is locked; unlocked with the new one, it
	// publishes.
	oldFile, newFile := filepath.Join(t.TempDir(), "old"), filepath.Join(t.TempDir(), "new")
	if err := os.WriteFile(oldFile, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newFile, []byte("another horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	passwdAskpass := filepath.Join(t.TempDir(), "askpass")
	script := fmt.Sprintf("#!/bin/sh\ncase \"$1\" in\nCurrent*) cat %q ;;\n*) cat %q ;;\nesac\n", oldFile, newFile)
	if err := os.WriteFile(passwdAskpass, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	must(t, storeCLI{t: t, bin: bin, home: vigilHome, askpass: passwdAskpass}.run("key", "passwd", "--store", store))
	proj.setVersion("0.3.0")
	res = mustFail(t, proj.run(sock, "", publish...))
	wantLocked(t, res)
	if !strings.Contains(res.stderr, "passphrase changed") {
		t.Errorf("cargo's error does not say the passphrase changed:\n%s", res.stderr)
	}
	newCLI := storeCLI{t: t, bin: bin, home: vigilHome, askpass: cli.askpass}
	if err := os.WriteFile(filepath.Join(filepath.Dir(cli.askpass), "pass"), []byte("another horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	must(t, newCLI.run("unlock", "--socket", sock))
	must(t, proj.run(sock, "", publish...))
	if _, ok := reg.version("foo", "0.3.0"); !ok {
		t.Fatal("foo 0.3.0 not published with the token after vigil key passwd")
	}

	// vigil lock: locked again.
	must(t, cli.run("lock", "--socket", sock))
	proj.setVersion("0.4.0")
	wantLocked(t, mustFail(t, proj.run(sock, "", publish...)))
	if _, ok := reg.version("foo", "0.4.0"); ok {
		t.Error("published while locked")
	}

	// The token is in no file in the clear: not in the store, vigil's
	// home, CARGO_HOME, cargo's home or the crate; nor in vigil's logs.
	for _, dir := range []string{store, vigilHome, proj.cargoHome, proj.home, proj.dir} {
		if f := filesHolding(t, dir, cargoToken); len(f) > 0 {
			t.Errorf("the token is written in clear in %q", f)
		}
	}
	if f := tokenFiles(); len(f) != 1 {
		t.Errorf("token files at the end: %q", f)
	}
	for _, v := range []*agentProc{first, a} {
		if strings.Contains(v.p.stderr.String(), cargoToken) {
			t.Errorf("vigil's log holds the token:\n%s", v.p.stderr.String())
		}
	}
}
