package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var plain struct {
	once sync.Once
	bin  string
	err  error
}

// plainVigil returns a vigil built without -race, for tests of its memory:
// the race detector's shadow memory would swamp what they measure.
func plainVigil(t testing.TB) string {
	t.Helper()
	if !raceBuild() || os.Getenv(envVigil) != "" {
		return needVigil(t)
	}
	plain.once.Do(func() {
		plain.bin, plain.err = buildVigil(filepath.Join(binDir, "vigil-norace"), false)
	})
	if plain.err != nil {
		t.Fatalf("building vigil without -race: %v", plain.err)
	}
	return plain.bin
}

// TestMemoryAfterUnlock: the working memory of argon2id (64 MiB for the key
// store's vigil unlock, 19 MiB for ssh-add -x and -X) goes back to the
// system once the passphrase is derived, instead of keeping vigil's
// resident set several times its usual size for minutes.
func TestMemoryAfterUnlock(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent has no key store")
		return
	}
	const bound = 48 << 10 // KiB; about 12 MiB when idle
	ssha := needTool(t, "ssh-add", "openssh-client")
	bin := plainVigil(t)
	home := t.TempDir()
	cli := newCargoStore(t, bin, home, "", "memory test passphrase")
	a, err := launchVigilHome(t, bin, filepath.Join(shortTempDir(t), "agent.sock"), home, newApprover(t, "approve"))
	if err != nil {
		t.Fatal(err)
	}
	pid := a.p.pid()
	settles := func(after string) {
		t.Helper()
		poll(t, 30*time.Second, fmt.Sprintf("vigil's VmRSS after %s to drop below %d KiB", after, bound), func() (bool, string) {
			kib := rss(t, pid)
			return kib < bound, fmt.Sprintf("VmRSS %d KiB", kib)
		})
		t.Logf("after %s: VmRSS %d KiB", after, rss(t, pid))
	}
	settles("start")
	must(t, cli.run("unlock", "--socket", a.sock))
	settles("vigil unlock")

	addKeys(t, a, key(t, "ed25519"))
	askpass := []string{"SSH_ASKPASS=" + cli.askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY="}
	must(t, client(t, a.sock, askpass, ssha, "-x"))
	settles("ssh-add -x")
	must(t, client(t, a.sock, askpass, ssha, "-X"))
	settles("ssh-add -X")
}
