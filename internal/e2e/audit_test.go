package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAuditTrail: what vigil did is in its audit log, readable with vigil
// audit, and vigil audit verify notices a record edited afterwards.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent keeps no audit log")
		return
	}
	bin := needVigil(t)
	home := t.TempDir()
	ap := newApprover(t, "approve")
	a, err := launchVigilHome(t, bin, filepath.Join(shortTempDir(t), "agent.sock"), home, ap)
	if err != nil {
		t.Fatal(err)
	}
	k := key(t, "ed25519")
	addKeys(t, a, k)
	if s := sshsign(t, a.sock, k, "git"); !s.sigExists {
		t.Fatalf("approved signature not written: %s", s.res)
	}
	ap.set(t, "deny")
	if s := sshsign(t, a.sock, k, "file"); s.sigExists {
		t.Fatal("denied signature written")
	}

	vigil := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = vigilEnvHome(home)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	out, err := vigil("audit", "--json")
	if err != nil {
		t.Fatalf("vigil audit --json: %v\n%s", err, out)
	}
	type rec struct {
		Kind, Decision, Key string
		Caller              struct{ Exe, SHA256 string }
		Intent              struct{ Purpose, Namespace string }
		By                  struct{ Approver string }
		DataSHA256          string `json:"data_sha256"`
	}
	var recs []rec
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r rec
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want add + 2 signs:\n%s", len(recs), out)
	}
	if recs[0].Kind != "add" || recs[0].Key != k.fingerprint() {
		t.Errorf("first record %+v, want the add of %s", recs[0], k.fingerprint())
	}
	for i, want := range []struct{ decision, purpose string }{{"allowed", "git"}, {"denied", "file"}} {
		r := recs[i+1]
		if r.Kind != "sign" || r.Decision != want.decision || r.Intent.Purpose != want.purpose ||
			r.Key != k.fingerprint() || !strings.HasSuffix(r.Caller.Exe, "/ssh-keygen") ||
			len(r.Caller.SHA256) != 64 || len(r.DataSHA256) != 64 || !strings.Contains(r.By.Approver, ap.path) ||
			strings.Contains(r.By.Approver, "then") { // the way that asked, not the whole approver list
			t.Errorf("sign record %d: %+v", i, r)
		}
	}
	table, err := vigil("audit", "--denied")
	if err != nil || !strings.Contains(table, "ssh-keygen") || !strings.Contains(table, "denied") || strings.Contains(table, "allowed") {
		t.Errorf("vigil audit --denied: %v\n%s", err, table)
	}
	if out, err := vigil("audit", "verify"); err != nil || !strings.Contains(out, "3 records") {
		t.Fatalf("vigil audit verify on an intact log: %v\n%s", err, out)
	}

	// Turn the denial into an approval, as someone covering their tracks would.
	files, _ := filepath.Glob(filepath.Join(home, ".local", "state", "vigil", "audit", "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("audit files: %v", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(b, []byte(`"decision":"denied"`), []byte(`"decision":"allowed"`), 1)
	if bytes.Equal(edited, b) {
		t.Fatal("no denied record to edit")
	}
	if err := os.WriteFile(files[0], edited, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = vigil("audit", "verify")
	if err == nil || !strings.Contains(out, ":3") && !strings.Contains(out, "line 3") {
		t.Errorf("vigil audit verify after an edit: %v\n%s", err, out)
	}
	t.Logf("verify after the edit: %s", strings.TrimSpace(out))
}

// TestAuditKeyLifetime: a key that ssh-add -t removes when its lifetime
// ends leaves a remove record that says so (nobody asked, so no caller).
func TestAuditKeyLifetime(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent keeps no audit log")
		return
	}
	bin := needVigil(t)
	home := t.TempDir()
	a, err := launchVigilHome(t, bin, filepath.Join(shortTempDir(t), "agent.sock"), home, newApprover(t, "approve"))
	if err != nil {
		t.Fatal(err)
	}
	k := key(t, "ed25519")
	must(t, sshAdd(t, a.sock, "-t", "1", k.path))
	type rec struct {
		Kind, Decision, Key, Detail string
		Caller                      struct{ Exe string }
	}
	var recs []rec
	poll(t, 15*time.Second, "the remove record of the key whose lifetime ended", func() (bool, string) {
		cmd := exec.Command(bin, "audit", "--json")
		cmd.Env = vigilEnvHome(home)
		out, err := cmd.Output()
		if err != nil {
			return false, fmt.Sprintf("vigil audit --json: %v", err)
		}
		recs = recs[:0]
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var r rec
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("bad JSON line %q: %v", line, err)
			}
			recs = append(recs, r)
		}
		return len(recs) >= 2, string(out)
	})
	if len(recs) != 2 || recs[0].Kind != "add" {
		t.Fatalf("records %+v, want the add and the remove", recs)
	}
	if r := recs[1]; r.Kind != "remove" || r.Decision != "allowed" || r.Key != k.fingerprint() || r.Detail != "lifetime of 1s ended" || r.Caller.Exe != "" {
		t.Errorf("remove record %+v, want the key's, lifetime of 1s ended, no caller", r)
	}
	if l := sshAddList(t, a.sock); len(l) != 0 {
		t.Errorf("ssh-add -l after the lifetime: %+v", l)
	}
}

// TestAuditOneWriter: two vigil serve with the same state directory (on
// different sockets) would interleave two chains in one audit log, and
// verify would then report tampering. The second refuses to start, names
// the first, and the first goes on recording an intact chain.
func TestAuditOneWriter(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent keeps no audit log")
		return
	}
	bin := needVigil(t)
	home := t.TempDir()
	ap := newApprover(t, "approve")
	first, err := launchVigilHome(t, bin, filepath.Join(shortTempDir(t), "agent.sock"), home, ap)
	if err != nil {
		t.Fatal(err)
	}

	secondSock := filepath.Join(shortTempDir(t), "agent.sock")
	cmd := exec.Command(bin, "serve", "--socket", secondSock, "--approver", ap.path)
	cmd.Env = vigilEnvHome(home)
	r := runCmd(t, 20*time.Second, cmd)
	auditDir := filepath.Join(home, ".local", "state", "vigil", "audit")
	want := fmt.Sprintf("vigil: error: audit log %s is in use by another vigil (pid %d)", auditDir, first.p.pid())
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("second vigil on the same audit log: want exit 1 and %q, got %v", want, r)
	}
	if r.stdout != "" {
		t.Errorf("second vigil printed %q on stdout", r.stdout)
	}
	if _, err := os.Lstat(secondSock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("second vigil left a socket: %v", err)
	}

	// The first goes on recording, and readers need no lock.
	addKeys(t, first, key(t, "ed25519"))
	verify := exec.Command(bin, "audit", "verify")
	verify.Env = vigilEnvHome(home)
	if r := runCmd(t, 20*time.Second, verify); r.code != 0 || !strings.Contains(r.stdout+r.stderr, "1 record") {
		t.Fatalf("vigil audit verify while the agent runs: %v", r)
	}
}
