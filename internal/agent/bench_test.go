package agent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/agent"

	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/policy"
)

// BenchmarkSignAllowedByRule is the whole per-request path of an ed25519
// signature a rule allows, over a real unix socket with the audit log on a
// real file: framing, caller facts, intent, policy, pinning, unlock window,
// signing and the audit record.
// The no-audit variant shows what the audit record costs.
func BenchmarkSignAllowedByRule(b *testing.B) {
	b.Run("audit", func(b *testing.B) {
		log, err := audit.Open(filepath.Join(b.TempDir(), "audit"), audit.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer log.Close()
		benchAllowedSign(b, log)
	})
	b.Run("no-audit", func(b *testing.B) { benchAllowedSign(b, nil) })
}

func benchAllowedSign(b *testing.B, log AuditLog) {
	self, _ := os.Executable()
	cfg := Config{Rules: []policy.Rule{{N: 1, Exe: self, Action: policy.Allow}}}
	if log != nil {
		cfg.Audit = log
	}
	_, dial := serve(b, cfg)
	client := agent.NewClient(dial())
	priv, pub := newKey(b)
	if err := client.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Sign(pub, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkList is a list request on a persistent connection.
func BenchmarkList(b *testing.B) {
	_, dial := serve(b, Config{})
	client := agent.NewClient(dial())
	priv, _ := newKey(b)
	if err := client.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.List(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTimeToPrompt is how long a sign request that must be asked
// about takes from the client's connect to the approver being called, as
// ssh-keygen -Y sign does it (a new connection, a git signature): caller
// identification, intent, policy, the grant and cooldown checks, the
// prompt text with the parent chain, and the prompt queue. Starting an
// approver program comes on top. It reports the p50 and p99 in µs.
func BenchmarkTimeToPrompt(b *testing.B) {
	var asked atomic.Int64 // time.Now().UnixNano() when the approver was called
	_, dial := serve(b, Config{Approver: funcApprover(func(context.Context, string) (bool, error) {
		asked.Store(time.Now().UnixNano())
		return true, nil
	})})
	priv, pub := newKey(b)
	if err := agent.NewClient(dial()).Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		b.Fatal(err)
	}
	data := sshsig("git")
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		conn := dial()
		if _, err := agent.NewClient(conn).Sign(pub, data); err != nil {
			b.Fatal(err)
		}
		conn.Close()
		lat = append(lat, time.Duration(asked.Load()-start.UnixNano()))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
