package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/policy"
	"github.com/vigil-agent/vigil/internal/vault"
)

// memAudit keeps events in memory; it fails with err when err is set.
type memAudit struct {
	mu     sync.Mutex
	events []audit.Event
	err    error
}

func (m *memAudit) Append(e audit.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.events = append(m.events, e)
	return nil
}

func (m *memAudit) take() []audit.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.events
	m.events = nil
	return e
}

// TestEveryDecisionRecordedOnce drives each decision path and checks it
// leaves exactly one audit event with the facts a reader needs.
func TestEveryDecisionRecordedOnce(t *testing.T) {
	self, _ := os.Executable()
	log := &memAudit{}
	var answer func(ctx context.Context) (bool, error)
	a, dial := serve(t, Config{Audit: log, PromptTimeout: 100 * time.Millisecond,
		Approver: funcApprover(func(ctx context.Context, _ string) (bool, error) { return answer(ctx) })})
	client := agent.NewClient(dial())
	priv, pub := newKey(t)
	if err := client.Add(agent.AddedKey{PrivateKey: priv, Comment: "audited"}); err != nil {
		t.Fatal(err)
	}
	fp := ssh.FingerprintSHA256(pub)
	if ev := log.take(); len(ev) != 1 || ev[0].Kind != audit.KindAdd || ev[0].Key != fp || ev[0].Decision != audit.Allowed {
		t.Fatalf("add recorded as %+v", ev)
	}

	yes := func(context.Context) (bool, error) { return true, nil }
	no := func(context.Context) (bool, error) { return false, nil }
	hang := func(ctx context.Context) (bool, error) { <-ctx.Done(); return false, ctx.Err() }
	tests := []struct {
		name     string
		rules    []policy.Rule
		answer   func(context.Context) (bool, error)
		decision audit.Decision
		rule     string
		approver bool
	}{
		{"approved", nil, yes, audit.Allowed, "", true},
		{"denied by the person", nil, no, audit.Denied, "", true},
		{"timed out", nil, hang, audit.TimedOut, "", true},
		{"allowed by rule", []policy.Rule{{N: 7, Exe: self, Action: policy.Allow}}, nil, audit.Allowed, "7", false},
		{"denied by rule", []policy.Rule{{N: 3, Action: policy.Deny}}, nil, audit.Denied, "3", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.SetRules(tt.rules)
			answer = tt.answer
			_, err := client.Sign(pub, []byte("SSHSIG"))
			if (err == nil) != (tt.decision == audit.Allowed) {
				t.Fatalf("sign error %v, decision %v", err, tt.decision)
			}
			ev := log.take()
			if len(ev) != 1 {
				t.Fatalf("%d events, want 1: %+v", len(ev), ev)
			}
			e := ev[0]
			if e.Kind != audit.KindSign || e.Decision != tt.decision || e.Key != fp || e.By.Rule != tt.rule {
				t.Errorf("event %+v", e)
			}
			if (e.By.Approver != "") != tt.approver {
				t.Errorf("approver %q, asked = %v", e.By.Approver, tt.approver)
			}
			if e.Caller.Exe != self || e.Caller.SHA256 == "" || e.Caller.PID != os.Getpid() {
				t.Errorf("caller %+v, want this test binary with its hash", e.Caller)
			}
			if e.DataSHA256 != audit.DataHash([]byte("SSHSIG")) || e.Origin != audit.Local || e.Intent.Purpose != "unknown" {
				t.Errorf("facts %+v", e)
			}
		})
	}
	a.SetRules(nil)

	t.Run("lock and failed unlock", func(t *testing.T) {
		a.unlockDelay = func(int) time.Duration { return 0 }
		if err := client.Lock([]byte("pw")); err != nil {
			t.Fatal(err)
		}
		if err := client.Unlock([]byte("wrong")); err == nil {
			t.Fatal("wrong passphrase unlocked")
		}
		if err := client.Unlock([]byte("pw")); err != nil {
			t.Fatal(err)
		}
		ev := log.take()
		want := []struct {
			kind audit.Kind
			dec  audit.Decision
		}{{audit.KindLock, audit.Allowed}, {audit.KindUnlock, audit.Failed}, {audit.KindUnlock, audit.Allowed}}
		if len(ev) != len(want) {
			t.Fatalf("%d events, want %d: %+v", len(ev), len(want), ev)
		}
		for i, w := range want {
			if ev[i].Kind != w.kind || ev[i].Decision != w.dec {
				t.Errorf("event %d: %s/%s, want %s/%s", i, ev[i].Kind, ev[i].Decision, w.kind, w.dec)
			}
		}
	})

	t.Run("audit failure refuses the signature", func(t *testing.T) {
		a.SetRules([]policy.Rule{{N: 1, Exe: self, Action: policy.Allow}})
		log.mu.Lock()
		log.err = &audit.AppendError{Policy: audit.Refuse, Err: errors.New("no space left on device")}
		log.mu.Unlock()
		if _, err := client.Sign(pub, []byte("data")); err == nil {
			t.Error("signature handed out although it could not be recorded")
		}
		log.mu.Lock()
		log.err = &audit.AppendError{Policy: audit.Continue, Err: errors.New("no space left on device")}
		log.mu.Unlock()
		if _, err := client.Sign(pub, []byte("data")); err != nil {
			t.Errorf("on_audit_failure = continue still refused: %v", err)
		}
	})

	t.Run("remove", func(t *testing.T) {
		log.mu.Lock()
		log.err = nil
		log.mu.Unlock()
		if err := client.Remove(pub); err != nil {
			t.Fatal(err)
		}
		if ev := log.take(); len(ev) != 1 || ev[0].Kind != audit.KindRemove || ev[0].Key != fp {
			t.Errorf("remove recorded as %+v", ev)
		}
	})
}

// storeApprover says yes to every signature and reads the key store's
// passphrase from pass, as an askpass program would.
type storeApprover struct {
	mu   sync.Mutex
	pass string
}

func (s *storeApprover) Confirm(context.Context, string) (bool, error) { return true, nil }

func (s *storeApprover) AskPassphrase(context.Context, string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []byte(s.pass), nil
}

func (s *storeApprover) String() string { return "test askpass" }

// TestUnlockOnDemandRecorded: a signature that unlocks the key store on
// demand leaves one unlock record before its sign record, naming the
// caller, the key and the approver that read the passphrase; a wrong
// passphrase leaves a failed one.
func TestUnlockOnDemandRecorded(t *testing.T) {
	self, _ := os.Executable()
	v, e := newStore(t, "right")
	log := &memAudit{}
	ap := &storeApprover{pass: "right"}
	a, dial := serve(t, Config{Audit: log, Store: v, Approver: ap})
	a.unlockDelay = func(int) time.Duration { return 0 }
	client := agent.NewClient(dial())

	check := func(step string, unlock audit.Decision, signed bool) {
		t.Helper()
		_, err := client.Sign(e.Public, []byte("SSHSIG"))
		if (err == nil) != signed {
			t.Fatalf("%s: sign error %v, want signed = %v", step, err, signed)
		}
		ev := log.take()
		if len(ev) != 2 {
			t.Fatalf("%s: %d events, want unlock and sign: %+v", step, len(ev), ev)
		}
		u := ev[0]
		if u.Kind != audit.KindUnlock || u.Decision != unlock || u.Key != e.Fingerprint || u.By.Approver != "test askpass" ||
			u.Caller.Exe != self || u.Caller.PID != os.Getpid() || u.Origin != audit.Local || !strings.Contains(u.Detail, "on demand") {
			t.Errorf("%s: unlock recorded as %+v", step, u)
		}
		if signed && u.Detail != "key store, on demand: 1 key" {
			t.Errorf("%s: unlock detail %q", step, u.Detail)
		}
		if ev[1].Kind != audit.KindSign || ev[1].Key != e.Fingerprint || (ev[1].Decision == audit.Allowed) != signed {
			t.Errorf("%s: sign recorded as %+v", step, ev[1])
		}
	}
	check("right passphrase", audit.Allowed, true)

	if _, err := client.Extension(extLock, nil); err != nil {
		t.Fatal(err)
	}
	log.take()
	ap.mu.Lock()
	ap.pass = "wrong"
	ap.mu.Unlock()
	check("wrong passphrase", audit.Failed, false)
}

// TestLifetimeEndRecorded: a key removed because its lifetime ended
// (ssh-add -t) leaves a remove record that says so and names no caller.
func TestLifetimeEndRecorded(t *testing.T) {
	log := &notifyAudit{events: make(chan audit.Event, 4)}
	_, dial := serve(t, Config{Audit: log, Approver: funcApprover(approveAll)})
	client := agent.NewClient(dial())
	priv, pub := newKey(t)
	if err := client.Add(agent.AddedKey{PrivateKey: priv, LifetimeSecs: 1}); err != nil {
		t.Fatal(err)
	}
	if e := <-log.events; e.Kind != audit.KindAdd {
		t.Fatalf("first record %+v, want the add", e)
	}
	select {
	case e := <-log.events:
		if e.Kind != audit.KindRemove || e.Decision != audit.Allowed || e.Key != ssh.FingerprintSHA256(pub) ||
			e.Detail != "lifetime of 1s ended" || e.Caller.PID != 0 || e.Caller.Exe != "" {
			t.Errorf("expiry recorded as %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no record of the key whose lifetime ended")
	}
	if keys, err := client.List(); err != nil || len(keys) != 0 {
		t.Errorf("after the lifetime: %v, %v; want no keys", keys, err)
	}
}

// notifyAudit hands each event to a channel, for tests that wait on one.
type notifyAudit struct{ events chan audit.Event }

func (n *notifyAudit) Append(e audit.Event) error {
	n.events <- e
	return nil
}

// newStore makes a key store, quick to unlock, whose passphrase is pass,
// holding one ed25519 key commented "store key".
func newStore(t *testing.T, pass string) (*vault.Vault, vault.Entry) {
	t.Helper()
	v, err := vault.Open(vault.Config{Dir: filepath.Join(t.TempDir(), "store"), KDF: vault.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Init([]byte(pass)); err != nil {
		t.Fatal(err)
	}
	e, err := v.Generate([]byte(pass), vault.Ed25519, "store key")
	if err != nil {
		t.Fatal(err)
	}
	return v, e
}
