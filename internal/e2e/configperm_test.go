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
