package vault

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-agent/vigil/internal/credential"
)

// crashDirEnv tells a re-executed test binary to be the crash child.
const crashDirEnv = "VIGIL_VAULT_CRASH_CHILD_DIR"

// TestCrashChild is not a test on its own: TestCrashSafety runs the test
// binary again with crashDirEnv set, and this loops writing to the store in
// that directory until it is killed. It prints "vault-crash add|token|passwd
// <value>" after each such operation returned, and "vault-crash remove
// <fingerprint>" before a removal.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		return // only meaningful when TestCrashSafety runs it
	}
	v, err := Open(Config{Dir: dir, KDF: cheapKDF})
	if err != nil {
		t.Fatal(err)
	}
	cur, other := pass1, pass2
	if _, _, err := v.Unlock(cur); errors.Is(err, ErrBadPassphrase) {
		cur, other = other, cur
	}
	report := func(op, val string) { fmt.Fprintf(os.Stdout, "vault-crash %s %s\n", op, val) }
	// Start the cycle of operations anywhere, so that short-lived children
	// still reach the rarer ones.
	start, err := rand.Int(rand.Reader, big.NewInt(7))
	if err != nil {
		t.Fatal(err)
	}
	// Comments must differ from those of keys that earlier children
	// stored.
	child := rand.Text()[:8]
	for i := int(start.Int64()); ; i++ {
		switch i % 7 {
		case 0, 2, 4:
			e, err := v.Generate(cur, Ed25519, fmt.Sprint("generated ", child, " ", i))
			if err != nil {
				t.Fatal(err)
			}
			report("add", e.Fingerprint)
			if i%7 == 2 {
				// A token too, so that passphrase changes reseal some.
				ts, err := v.OpenTokens(cur)
				if err != nil {
					t.Fatal(err)
				}
				label := fmt.Sprintf("cargo:https://crash%d.example/index/", i%5)
				if err := ts.Put(label, credential.UncheckedToken(crashToken(label))); err != nil {
					t.Fatal(err)
				}
				ts.Close()
				report("token", label)
			}
		case 1, 5:
			_, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			block, err := ssh.MarshalPrivateKey(priv, "")
			if err != nil {
				t.Fatal(err)
			}
			e, err := v.Import(cur, pem.EncodeToMemory(block), ImportOptions{Comment: fmt.Sprint("imported ", child, " ", i)})
			if err != nil {
				t.Fatal(err)
			}
			report("add", e.Fingerprint)
			v.MarkUsed(e.Fingerprint, time.Now())
			if err := v.FlushUsage(); err != nil {
				t.Fatal(err)
			}
		case 3:
			list, _, err := v.List()
			if err != nil {
				t.Fatal(err)
			}
			if len(list) > 6 {
				// Reported before: a kill may come before or after the
				// removal, and the parent accepts either.
				report("remove", list[0].Fingerprint)
				if _, err := v.Remove(list[0].Fingerprint); err != nil {
					t.Fatal(err)
				}
			}
		case 6:
			if err := v.ChangePassphrase(cur, other); err != nil {
				t.Fatal(err)
			}
			cur, other = other, cur
			report("passwd", string(cur))
		}
	}
}

// TestCrashSafety kills a process that writes to the store with SIGKILL at
// random moments, and checks after each kill that every key file loads,
// that every key whose write returned is there, and that a passphrase
// change, finished or not, left every key loadable.
func TestCrashSafety(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vigil")
	v := openVault(t, dir)
	if err := v.Init(pass1); err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{} // fingerprints a child reported as stored
	tokens := map[string]bool{}  // token labels a child reported as stored
	temps, interrupted, passwds := 0, 0, 0
	const rounds = 12
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill at a random moment after the child has done some work.
		ops := 0
		minOps := 1 + round%4
		n, err := rand.Int(rand.Reader, big.NewInt(30))
		if err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(n.Int64()) * time.Millisecond
		var timer *time.Timer
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			op, val, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "vault-crash "), " ")
			if !ok {
				continue
			}
			switch op {
			case "add":
				present[val] = true
			case "token":
				tokens[val] = true
			case "remove":
				delete(present, val)
			case "passwd":
				passwds++
			}
			if ops++; ops == minOps {
				timer = time.AfterFunc(delay, func() { _ = cmd.Process.Kill() })
			}
		}
		err = cmd.Wait()
		if timer == nil {
			t.Fatalf("round %d: child exited after %d operations: %v", round, ops, err)
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended with %v, not SIGKILL", round, err)
		}
		if info, _ := v.Info(); info.ChangeInterrupted {
			interrupted++
		}
		temps += checkAfterCrash(t, v, present, tokens)
		t.Logf("round %d: killed after %d operations + %v; %d keys, %d tokens", round, ops, delay, len(present), len(tokens))
	}
	t.Logf("%d temporary files were left by kills, and none was read as a key", temps)
	t.Logf("%d passphrase changes completed, %d interrupted by a kill", passwds, interrupted)
}

// crashToken is the token the crash child stores under label.
func crashToken(label string) string { return "crash-token for " + label }

// checkAfterCrash checks the store after a kill, and returns how many
// temporary files the kill left.
func checkAfterCrash(t *testing.T, v *Vault, present, tokens map[string]bool) int {
	t.Helper()
	info, err := v.Info()
	if err != nil || !info.Initialized {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	names, err := keyNames(v.Dir())
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(v.Dir())
	if err != nil {
		t.Fatal(err)
	}
	temps := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			temps++
		}
	}
	opened := 0
	for _, pass := range [][]byte{pass1, pass2} {
		keys, problems, err := v.Unlock(pass)
		if errors.Is(err, ErrBadPassphrase) {
			if info.ChangeInterrupted {
				t.Fatalf("interrupted passphrase change, and %q does not open the store", pass)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Unlock(%q): %v", pass, err)
		}
		opened++
		for _, p := range problems {
			t.Errorf("after kill: %v", p)
		}
		if len(keys) != len(names) {
			t.Errorf("after kill: %d keys loaded from %d key files", len(keys), len(names))
		}
		got := map[string]bool{}
		for _, k := range keys {
			got[k.Fingerprint] = true
			signVerify(t, k)
		}
		for fp := range present {
			if !got[fp] {
				t.Errorf("after kill: key %s, reported stored, is missing", fp)
			}
		}
		ts, err := v.OpenTokens(pass)
		if err != nil {
			t.Fatalf("OpenTokens(%q): %v", pass, err)
		}
		for label := range tokens {
			if tok, err := ts.Get(label); err != nil || tok.Reveal() != crashToken(label) {
				t.Errorf("after kill: token %s, reported stored, does not open with %q: %v", label, pass, err)
			}
		}
		ts.Close()
	}
	if opened == 0 {
		t.Fatalf("neither passphrase opens the store")
	}
	if _, problems, _ := v.List(); len(problems) > 0 {
		t.Errorf("List after kill: %v", problems)
	}
	return temps
}
