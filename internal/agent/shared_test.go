package agent

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/vigil-agent/vigil/internal/audit"
)

// heldApprover is a person who answers each prompt when the test says so.
type heldApprover struct {
	asked   atomic.Int32
	shown   chan struct{} // one send per prompt shown
	answers chan heldAnswer
}

type heldAnswer struct {
	allow    bool
	grantFor time.Duration
}

func newHeldApprover() *heldApprover {
	return &heldApprover{shown: make(chan struct{}, 100), answers: make(chan heldAnswer)}
}

func (h *heldApprover) Confirm(ctx context.Context, text string) (bool, error) {
	ok, _, err := h.ConfirmGrant(ctx, text, false)
	return ok, err
}

func (h *heldApprover) ConfirmGrant(ctx context.Context, _ string, _ bool) (bool, time.Duration, error) {
	h.asked.Add(1)
	h.shown <- struct{}{}
	select {
	case a := <-h.answers:
		return a.allow, a.grantFor, nil
	case <-ctx.Done():
		return false, 0, ctx.Err()
	}
}

// waitFor polls cond until it holds, or fails the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestIdenticalRequestsSharePrompt(t *testing.T) {
	const n = 8
	tests := []struct {
		name      string
		answers   []heldAnswer // one per prompt, in order
		wantSigns int
		wantShare string // in the audit detail of the requests that shared a prompt
	}{
		{"deny", []heldAnswer{{allow: false}}, 0, "shared the prompt of an identical request, which was denied"},
		{"grant", []heldAnswer{{allow: true, grantFor: 5 * time.Minute}}, n, "grant 1"},
		// "Allow once" covers one signature: every request asks for itself.
		{"once", []heldAnswer{{allow: true}, {allow: true}, {allow: true}, {allow: true}, {allow: true},
			{allow: true}, {allow: true}, {allow: true}}, n, "approved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHeldApprover()
			log := &memAudit{}
			a, dial := serve(t, Config{Approver: h, Audit: log})
			priv, pub := newKey(t)
			if err := agent.NewClient(dial()).Add(agent.AddedKey{PrivateKey: priv}); err != nil {
				t.Fatal(err)
			}
			var signed atomic.Int32
			var wg sync.WaitGroup
			for range n {
				client := agent.NewClient(dial())
				wg.Go(func() {
					if _, err := client.Sign(pub, sshsig("git")); err == nil {
						signed.Add(1)
					}
				})
			}
			for i, ans := range tt.answers {
				<-h.shown
				// Everyone not yet served waits on this prompt rather
				// than queueing one of their own.
				waitFor(t, "the other requests to wait on the prompt", func() bool { return a.shared.waiting() == n-1-i })
				h.answers <- ans
			}
			wg.Wait()
			if got := h.asked.Load(); got != int32(len(tt.answers)) {
				t.Errorf("%d prompts for %d identical requests, want %d", got, n, len(tt.answers))
			}
			if got := signed.Load(); got != int32(tt.wantSigns) {
				t.Errorf("%d signatures, want %d", got, tt.wantSigns)
			}
			var shared int
			for _, e := range log.take() {
				if e.Kind == audit.KindSign && strings.Contains(e.Detail, tt.wantShare) {
					shared++
				}
			}
			if shared < n-1 {
				t.Errorf("%d sign records say %q, want at least %d", shared, tt.wantShare, n-1)
			}
		})
	}
}

func TestSharedPromptWaiterHangsUp(t *testing.T) {
	h := newHeldApprover()
	a, dial := serve(t, Config{Approver: h})
	priv, pub := newKey(t)
	if err := agent.NewClient(dial()).Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	leader := agent.NewClient(dial())
	done := make(chan error, 2)
	go func() {
		_, err := leader.Sign(pub, sshsig("git"))
		done <- err
	}()
	<-h.shown
	// A waiter that hangs up leaves without a trace on the prompt.
	quitter := dial()
	go signRaw(quitter, pub)
	waitFor(t, "the second request to wait", func() bool { return a.shared.waiting() == 1 })
	quitter.Close()
	waitFor(t, "the second request to leave", func() bool { return a.shared.waiting() == 0 })
	stayer := agent.NewClient(dial())
	go func() {
		_, err := stayer.Sign(pub, sshsig("git"))
		done <- err
	}()
	waitFor(t, "the third request to wait", func() bool { return a.shared.waiting() == 1 })
	h.answers <- heldAnswer{allow: true, grantFor: time.Minute}
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("sign: %v", err)
		}
	}
	if got := h.asked.Load(); got != 1 {
		t.Errorf("%d prompts, want 1", got)
	}
}

// TestDifferentRequestsDoNotShare: another purpose is another prompt.
func TestDifferentRequestsDoNotShare(t *testing.T) {
	h := newHeldApprover()
	_, dial := serve(t, Config{Approver: h})
	priv, pub := newKey(t)
	if err := agent.NewClient(dial()).Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	for _, ns := range []string{"git", "file"} {
		client := agent.NewClient(dial())
		go func() {
			_, err := client.Sign(pub, sshsig(ns))
			done <- err
		}()
	}
	for range 2 {
		<-h.shown
		h.answers <- heldAnswer{allow: true, grantFor: time.Minute}
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("sign: %v", err)
		}
	}
	if got := h.asked.Load(); got != 2 {
		t.Errorf("%d prompts for a git and a file signature, want 2", got)
	}
}

// signRaw sends one git sign request on c and reads nothing back.
func signRaw(c net.Conn, pub ssh.PublicKey) {
	body := ssh.Marshal(struct {
		Type  byte
		Key   []byte
		Data  []byte
		Flags uint32
	}{13, pub.Marshal(), sshsig("git"), 0})
	msg := append(ssh.Marshal(struct{ N uint32 }{uint32(len(body))}), body...)
	c.Write(msg)
}
