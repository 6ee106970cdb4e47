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

// TestConfigWritableByOthers: the config's allow rules decide what vigil
// signs without asking, so a config file or directory another user could
// write is refused by vigil check, by vigil serve at start, and on SIGHUP
// (which keeps the rules in force, as for a broken file).
func TestConfigWritableByOthers(t *testing.T) {
	t.Parallel()
	bin := needVigil(t)
	dir := shortTempDir(t)
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte("[[rule]]\npurpose = \"file\"\naction = \"allow\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkCmd := func() result {
		cmd := exec.Command(bin, "check", "--config", cfg)
		cmd.Env = vigilEnv(t)
		return runCmd(t, 20*time.Second, cmd)
	}
	must(t, checkCmd())

	if err := os.Chmod(cfg, 0o666); err != nil {
		t.Fatal(err)
	}
	if r := checkCmd(); r.code != 1 || !strings.Contains(r.stderr, "insecure: mode 0666") {
		t.Errorf("vigil check of a world-writable config: want exit 1 and \"insecure: mode 0666\", got %v", r)
	}
	sock := filepath.Join(shortTempDir(t), "agent.sock")
	if _, err := launchVigil(t, bin, sock, nil, "--config", cfg); err == nil || !strings.Contains(err.Error(), "insecure: mode 0666") {
		t.Errorf("vigil serve with a world-writable config: want it to exit naming the mode, got %v", err)
	}

	if err := os.Chmod(cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := launchVigil(t, bin, sock, nil, "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := a.p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll(t, 20*time.Second, "vigil to refuse the reload", func() (bool, string) {
		log := a.p.stderr.String()
		return strings.Contains(log, "config reload failed; keeping the rules in force") && strings.Contains(log, "insecure: mode 0777"), log
	})
	if r := checkCmd(); r.code != 1 || !strings.Contains(r.stderr, "directory "+dir) {
		t.Errorf("vigil check of a config in a world-writable directory: want exit 1 naming the directory, got %v", r)
	}
}

// TestReloadNamesSettingsNeedingRestart: SIGHUP applies the rules and
// offers only, so a reload after other settings changed logs one warning
// naming them; a reload of rules alone logs none.
func TestReloadNamesSettingsNeedingRestart(t *testing.T) {
	t.Parallel()
	bin := needVigil(t)
	ap := newApprover(t, "approve")
	cfg := filepath.Join(shortTempDir(t), "config.toml")
	const rule = "[[rule]]\npurpose = \"file\"\naction = \"allow\"\n"
	reloadRules(t, nil, cfg, "askpass = \""+ap.path+"\"\n")
	a, err := launchVigil(t, bin, filepath.Join(shortTempDir(t), "agent.sock"), nil, "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	const warning = "config reload applies rules and offers only"
	reloadRules(t, a, cfg, "askpass = \""+ap.path+"\"\n"+rule)
	if log := a.p.stderr.String(); strings.Contains(log, warning) {
		t.Errorf("reload of rules alone warned about a restart:\n%s", log)
	}
	reloadRules(t, a, cfg, "askpass = \"/bin/false\"\ngrant_uses = 2\n[unlock]\nmax_signatures = 3\n"+rule)
	log := a.p.stderr.String()
	if n := strings.Count(log, warning); n != 1 {
		t.Fatalf("reload after other settings changed: %d warnings, want 1:\n%s", n, log)
	}
	if !strings.Contains(log, `settings=askpass,grant_uses,unlock.max_signatures`) {
		t.Errorf("the warning does not name askpass, grant_uses and unlock.max_signatures:\n%s", log)
	}
}
