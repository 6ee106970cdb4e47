package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/notify/notifytest"
)

// TestNotifications: in a desktop session, vigil tells the desktop about a prompt waiting for an answer and about
// each signature allowed or denied, through a fake org.freedesktop.Notifications service on a private bus.
func TestNotifications(t *testing.T) {
	t.Parallel()
	svc := notifytest.Start(t)
	ap := newApprover(t, "approve")
	sock := filepath.Join(shortTempDir(t), "agent.sock")
	env := append(vigilEnv(t), "DBUS_SESSION_BUS_ADDRESS="+svc.Address)
	a, err := launchVigilEnv(t, needVigil(t), sock, env, ap)
	if err != nil {
		t.Fatal(err)
	}
	k := key(t, "ed25519")
	addKeys(t, a, k)

	s := sshsign(t, a.sock, k, "file")
	if s.res.code != 0 {
		t.Fatalf("ssh-keygen -Y sign: %v", s.res)
	}
	ap.set(t, "deny")
	mustFail(t, sshsign(t, a.sock, k, "file").res)

	calls := svc.Wait(t, 4, 20*time.Second)
	want := []struct{ summary, body string }{
		{"vigil is waiting for your answer", "Allow ssh-keygen to sign a file?"},
		{"vigil signed: ssh-keygen", "to sign a file\nprogram: /usr/bin/ssh-keygen (pid "},
		{"vigil is waiting for your answer", "Allow ssh-keygen to sign a file?"},
		{"vigil denied: ssh-keygen", "to sign a file\nprogram: /usr/bin/ssh-keygen (pid "},
	}
	for i, w := range want {
		c := calls[i]
		if c.App != "vigil" || c.Summary != w.summary || !strings.HasPrefix(c.Body, w.body) {
			t.Errorf("notification %d = %+v, want summary %q and a body starting %q", i+1, c, w.summary, w.body)
		}
	}
	for _, c := range []notifytest.Call{calls[1], calls[3]} {
		if !strings.Contains(c.Body, "key: "+k.comment+" "+k.fingerprint()) {
			t.Errorf("notification %+v does not name the key %s %s", c, k.comment, k.fingerprint())
		}
	}
	if len(calls) != 4 {
		t.Errorf("%d notifications, want 4: %+v", len(calls), calls)
	}
}
