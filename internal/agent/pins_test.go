package agent

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/pins"
)

// TestForgetPinsAsks: dropping pins lets the next program at that path be
// pinned without a prompt, so it takes a person's yes, and every attempt
// is recorded.
func TestForgetPinsAsks(t *testing.T) {
	const hash = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	self, _ := os.Executable()
	for _, tt := range []struct {
		name     string
		approver func(context.Context, string) (bool, error)
		what     string
		forgot   int
		decision audit.Decision
		refusal  string // the reason the client is given
	}{
		{"denied", func(context.Context, string) (bool, error) { return false, nil }, "all", 0, audit.Denied, "not approved: approver said no"},
		{"nobody to ask", nil, "all", 0, audit.Denied, "not approved: no approver configured"},
		{"unanswered", func(ctx context.Context, _ string) (bool, error) { <-ctx.Done(); return false, ctx.Err() }, "/usr/bin/git", 0, audit.TimedOut, "not approved: "},
		{"approved, one", approveAll, "/usr/bin/git", 1, audit.Allowed, ""},
		{"approved, all", approveAll, "all", 2, audit.Allowed, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := pins.Memory()
			for _, exe := range []string{"/usr/bin/git", "/usr/bin/ssh"} {
				if err := store.Store(exe, hash); err != nil {
					t.Fatal(err)
				}
			}
			var (
				mu    sync.Mutex
				asked []string
			)
			cfg := Config{Pins: store, Audit: &memAudit{}, PromptTimeout: 200 * time.Millisecond}
			if tt.approver != nil {
				cfg.Approver = funcApprover(func(ctx context.Context, text string) (bool, error) {
					mu.Lock()
					asked = append(asked, text)
					mu.Unlock()
					return tt.approver(ctx, text)
				})
			}
			log := cfg.Audit.(*memAudit)
			_, dial := serve(t, cfg)
			reply, err := NewClient(dial()).Extension(extForget, []byte(tt.what))
			left := 2 - len(store.List())
			if left != tt.forgot {
				t.Errorf("%d pins dropped, want %d", left, tt.forgot)
			}
			var refused *RefusedError
			if tt.refusal == "" && err != nil || tt.refusal != "" && (!errors.As(err, &refused) || !strings.HasPrefix(refused.Reason, tt.refusal)) {
				t.Errorf("reply %q, %v; want a refusal saying %q", reply, err, tt.refusal)
			}
			if tt.approver != nil {
				mu.Lock()
				if len(asked) != 1 || !strings.Contains(asked[0], self) || !strings.Contains(asked[0], "/usr/bin/git") {
					t.Errorf("the person was shown %q; want the caller %s and the pin", asked, self)
				}
				mu.Unlock()
			}
			ev := log.take()
			if len(ev) != 1 || ev[0].Kind != audit.KindPinsForgotten || ev[0].Decision != tt.decision || !strings.Contains(ev[0].Detail, tt.what) {
				t.Fatalf("recorded %+v, want one %s event with decision %s", ev, audit.KindPinsForgotten, tt.decision)
			}
		})
	}
}

// TestForgetPinsRecordsPathAsGiven: the record holds the path as the
// caller named it; vigil audit escapes it when it shows it, once.
func TestForgetPinsRecordsPathAsGiven(t *testing.T) {
	const exe = "/tmp/evil\x1b[2J\\x1b\u202e"
	store := pins.Memory()
	if err := store.Store(exe, strings.Repeat("a", 64)); err != nil {
		t.Fatal(err)
	}
	log := &memAudit{}
	_, dial := serve(t, Config{Pins: store, Audit: log, Approver: funcApprover(approveAll)})
	if _, err := NewClient(dial()).Extension(extForget, []byte(exe)); err != nil {
		t.Fatal(err)
	}
	if ev := log.take(); len(ev) != 1 || ev[0].Detail != "forgot "+exe+" (1 pin)" {
		t.Errorf("recorded %+v, want the path as given", ev)
	}
}
