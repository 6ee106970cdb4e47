package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPinSurvivesRestart: an allow rule naming a program pins its content at first use, and the pin is kept in the
// state directory: a binary replaced while vigil was stopped makes the next request ask, saying the program
// changed. `vigil pins` shows it; `vigil pins forget` lets the new content be pinned at its next use.
func TestPinSurvivesRestart(t *testing.T) {
	t.Parallel()
	bin := needVigil(t)
	keygen := needTool(t, "ssh-keygen", "openssh-client")
	dir := shortTempDir(t)
	prog := filepath.Join(dir, "ssh-keygen")
	orig, err := os.ReadFile(keygen)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prog, orig, 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.toml")
	rule := "[[rule]]\nexe = \"" + prog + "\"\npurpose = \"file\"\naction = \"allow\"\n"
	if err := os.WriteFile(config, []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	ap := newApprover(t, "deny")
	k := key(t, "ed25519")
	pub := pubOnly(t, k)
	sign := func(sock string) result {
		t.Helper()
		data := filepath.Join(t.TempDir(), "message.txt")
		if err := os.WriteFile(data, []byte("pinned\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(prog, "-Y", "sign", "-f", pub, "-n", "file", data)
		cmd.Env = cmdEnv(clientHome(t), sock)
		return runCmd(t, 60*time.Second, cmd)
	}
	pinsList := func(sock string) string {
		t.Helper()
		return must(t, client(t, sock, nil, bin, "pins", "--socket", sock)).stdout
	}

	sock := filepath.Join(dir, "a1.sock")
	a, err := launchVigilHome(t, bin, sock, home, ap, "--config", config)
	if err != nil {
		t.Fatal(err)
	}
	addKeys(t, a, k)
	must(t, sign(sock)) // the rule allows it, and pins the program
	ap.expectPrompts(t, 0)
	if out := pinsList(sock); !strings.Contains(out, prog) || !strings.Contains(out, "same") {
		t.Errorf("vigil pins:\n%s", out)
	}
	if !a.p.stop(t, syscall.SIGTERM) {
		t.Fatal("vigil did not stop on SIGTERM")
	}
	// Replaced while vigil is not running: other content at the same path.
	if err := os.WriteFile(prog+".new", append(orig, "\x00changed"...), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(prog+".new", prog); err != nil {
		t.Fatal(err)
	}

	sock = filepath.Join(dir, "a2.sock")
	a, err = launchVigilHome(t, bin, sock, home, ap, "--config", config)
	if err != nil {
		t.Fatal(err)
	}
	addKeys(t, a, k)
	mustFail(t, sign(sock))
	p := ap.expectPrompts(t, 1)
	checkPrompt(t, p[0], prog+" changed since rule 1 first allowed it")
	if out := pinsList(sock); !strings.Contains(out, "changed: the next request asks") {
		t.Errorf("vigil pins does not say the program changed:\n%s", out)
	}

	// Forgetting a pin asks: denied, the pin stays and the changed program still asks.
	forget := func() result {
		t.Helper()
		return client(t, sock, nil, bin, "pins", "--socket", sock, "forget", prog)
	}
	if r := mustFail(t, forget()); !strings.Contains(r.stderr, "pins not forgotten: not approved: approver said no") {
		t.Errorf("a denied vigil pins forget said %q", r.stderr)
	}
	p = ap.expectPrompts(t, 2)
	checkPrompt(t, p[1], "forget 1 program pin?", "whatever is at this path next", prog, bin)
	if out := pinsList(sock); !strings.Contains(out, "changed: the next request asks") {
		t.Errorf("a denied forget dropped the pin:\n%s", out)
	}

	// The user trusts the upgrade: forget the pin, and the next use pins the new content without asking.
	ap.set(t, "approve")
	if out := must(t, forget()).stdout; out != "forgot 1 pin\n" {
		t.Errorf("vigil pins forget said %q", out)
	}
	ap.expectPrompts(t, 3)
	must(t, sign(sock))
	ap.expectPrompts(t, 3)
	if out := pinsList(sock); !strings.Contains(out, "same") {
		t.Errorf("vigil pins after forget and use:\n%s", out)
	}
	fi, err := os.Stat(filepath.Join(home, ".local", "state", "vigil", "pins.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("pins.json mode %v, want 0600", fi.Mode().Perm())
	}
}
