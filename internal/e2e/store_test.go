package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// storeAskpass is an askpass program that answers passphrase prompts with
// the passphrase in passFile and confirm prompts with yes, recording every
// call (mode and the first line of the prompt) in log.
func storeAskpass(t *testing.T, dir string) (program, passFile, log string) {
	t.Helper()
	program, passFile, log = filepath.Join(dir, "askpass"), filepath.Join(dir, "pass"), filepath.Join(dir, "calls")
	script := fmt.Sprintf(`#!/bin/sh
first=$(printf '%%s\n' "$1" | head -n 1)
if [ "$SSH_ASKPASS_PROMPT" = confirm ]; then
	printf 'confirm|%%s\n' "$first" >> %[1]q
	exit 0
fi
printf 'passphrase|%%s\n' "$first" >> %[1]q
cat %[2]q
`, log, passFile)
	if err := os.WriteFile(program, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return program, passFile, log
}

func readCalls(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestKeyStoreUnlockOnDemand: a key generated into vigil's store is listed
// while locked; the first signature asks for the store passphrase (showing
// what the signature is for) and then for the decision; the unlock window
// ends after max_signatures, wiping the key, and the next signature asks
// for the passphrase again. A wrong passphrase signs nothing.
func TestKeyStoreUnlockOnDemand(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent has no key store")
		return
	}
	bin := needVigil(t)
	dir := t.TempDir()
	askpass, passFile, calls := storeAskpass(t, dir)
	if err := os.WriteFile(passFile, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	store := filepath.Join(home, "store")
	vigil := func(args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(vigilEnvHome(home), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("vigil %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	vigil("key", "generate", "--store", store, "--comment", "store key")
	pubLine := vigil("key", "export-public", "--store", store, "store key")
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pubLine))
	if err != nil {
		t.Fatalf("export-public printed %q: %v", pubLine, err)
	}
	if err := os.Remove(calls); err != nil {
		t.Fatal(err)
	}
	for _, f := range mustGlob(t, filepath.Join(store, "*.key")) {
		if b, _ := os.ReadFile(f); bytes.Contains(b, []byte("PRIVATE KEY")) {
			t.Fatalf("%s holds a plaintext private key", f)
		}
	}

	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte("[unlock]\nmax_signatures = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(shortTempDir(t), "agent.sock")
	a, err := launchVigilHome(t, bin, sock, home, &approver{path: askpass}, "--store", store, "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if out := must(t, client(t, a.sock, nil, "ssh-add", "-l")).stdout; !strings.Contains(out, ssh.FingerprintSHA256(pub)) {
		t.Fatalf("store key not listed while locked:\n%s", out)
	}
	k := &testKey{name: "store", comment: "store key", pub: pub}
	k.path = filepath.Join(t.TempDir(), "store_key")
	if err := os.WriteFile(k.path+".pub", []byte(pubLine), 0o644); err != nil {
		t.Fatal(err)
	}

	wantCalls := func(step string, want ...string) {
		t.Helper()
		got := readCalls(t, calls)
		if len(got) != len(want) {
			t.Fatalf("%s: askpass calls %q, want %d", step, got, len(want))
		}
		for i, w := range want {
			if !strings.HasPrefix(got[i], w) {
				t.Errorf("%s: call %d = %q, want prefix %q", step, i, got[i], w)
			}
		}
		os.Remove(calls)
	}
	s := sshsign(t, a.sock, k, "file")
	if !s.sigExists {
		t.Fatalf("first signature: %s", s.res)
	}
	s.verify(t, k, "file")
	wantCalls("first signature", "passphrase|Unlock vigil's key store so that ssh-keygen can sign a file?", "confirm|Allow ssh-keygen to sign a file?")

	if s := sshsign(t, a.sock, k, "git"); !s.sigExists {
		t.Fatalf("second signature: %s", s.res)
	}
	wantCalls("second signature, window open", "confirm|Allow ssh-keygen to sign a git commit or tag?")

	// Two signatures were the limit: the key was wiped; the next asks again.
	if s := sshsign(t, a.sock, k, "file"); !s.sigExists {
		t.Fatalf("third signature: %s", s.res)
	}
	wantCalls("after the window ended", "passphrase|Unlock", "confirm|Allow")

	// A wrong passphrase signs nothing (the window is open again with one
	// signature left; vigil lock ends it).
	cmd := exec.Command(bin, "lock", "--socket", a.sock)
	cmd.Env = vigilEnvHome(home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vigil lock: %v\n%s", err, out)
	}
	if err := os.WriteFile(passFile, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s := sshsign(t, a.sock, k, "file"); s.sigExists {
		t.Fatal("signed with a wrong store passphrase")
	}
	wantCalls("wrong passphrase", "passphrase|Unlock")

	// ssh logs in with the store key: the passphrase unlocks it on demand.
	if err := os.WriteFile(passFile, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startSSHD(t, sshdOpts{authorized: []*testKey{k}})
	sshBin := needTool(t, "ssh", "openssh-client")
	login := commandIn(t, a.sock, sshBin, append(srv.sshArgs(a.sock), "echo", "ok")...)
	p := startProc(t, "ssh", login)
	if err := p.wait(t, 60*time.Second); err != nil {
		t.Fatalf("ssh with a store key: %v\n%s", err, p.stderr.String())
	}
	wantCalls("ssh login", "passphrase|Unlock vigil's key store so that ssh can log in as "+testUser, "confirm|Allow ssh to log in as "+testUser)

	// git commit -S with the store key (the window is still open).
	git := signedCommit(t, needTool(t, "git", "git"), a.sock, k)
	if r := must(t, git("verify-commit", "HEAD")); !strings.Contains(r.stderr, "Good \"git\" signature") {
		t.Errorf("git verify-commit: %s", r.stderr)
	}
	wantCalls("git commit -S", "confirm|Allow ssh-keygen to sign a git commit or tag?")

	// Each unlock on demand is one unlock record, like vigil unlock's:
	// who asked, for which key, through which approver; the wrong
	// passphrase's is failed.
	type rec struct {
		Kind, Decision, Key, Detail string
		Caller                      struct{ Exe string }
		Intent                      struct{ Purpose string }
		By                          struct{ Approver string }
	}
	var unlocks []rec
	for _, line := range strings.Split(strings.TrimSpace(vigil("audit", "--json")), "\n") {
		var r rec
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		if r.Kind == "unlock" {
			unlocks = append(unlocks, r)
		}
	}
	want := []struct{ decision, exe, purpose string }{
		{"allowed", "/ssh-keygen", "file"}, {"allowed", "/ssh-keygen", "file"}, {"failed", "/ssh-keygen", "file"}, {"allowed", "/ssh", "login"},
	}
	if len(unlocks) != len(want) {
		t.Fatalf("%d unlock records, want %d (one per passphrase prompt): %+v", len(unlocks), len(want), unlocks)
	}
	for i, w := range want {
		u := unlocks[i]
		if u.Decision != w.decision || u.Key != ssh.FingerprintSHA256(pub) || !strings.HasSuffix(u.Caller.Exe, w.exe) ||
			u.Intent.Purpose != w.purpose || u.By.Approver != "askpass "+askpass || !strings.Contains(u.Detail, "on demand") {
			t.Errorf("unlock record %d: %+v, want %s by %s for %s", i, u, w.decision, w.exe, w.purpose)
		}
	}

	// vigil unlock with a wrong passphrase says so, and does not call the
	// agent "not vigil".
	if err := os.WriteFile(passFile, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unlock := exec.Command(bin, "unlock", "--socket", a.sock)
	unlock.Env = append(vigilEnvHome(home), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force")
	out, err := unlock.CombinedOutput()
	if wantOut := "vigil: error: unlock refused: wrong passphrase\n"; err == nil || string(out) != wantOut {
		t.Errorf("vigil unlock with a wrong passphrase: %v, %q; want %q", err, out, wantOut)
	}
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) == 0 {
		t.Fatalf("no files match %s (%v)", pattern, err)
	}
	return m
}

// TestServeMissingStore: vigil serve pointed at a key store that is not
// there (a typo in --store) refuses to start and says so, rather than
// creating the directory and its parents and serving without the keys the
// user meant (QA finding 6).
func TestServeMissingStore(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent has no key store")
		return
	}
	bin := needVigil(t)
	parent := filepath.Join(t.TempDir(), "nope")
	store := filepath.Join(parent, "store")
	sock := filepath.Join(shortTempDir(t), "agent.sock")
	cmd := exec.Command(bin, "serve", "--socket", sock, "--approver", newApprover(t, "approve").path, "--store", store)
	cmd.Env = vigilEnv(t)
	r := runCmd(t, 20*time.Second, cmd)
	if want := "vigil: error: key store: no key store at " + store; r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("vigil serve --store MISSING: want exit 1 and %q, got %v", want, r)
	}
	if _, err := os.Lstat(parent); !os.IsNotExist(err) {
		t.Errorf("vigil serve created %s (%v)", parent, err)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("vigil serve left a socket (%v)", err)
	}
}
