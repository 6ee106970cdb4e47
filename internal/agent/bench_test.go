package agent

import (
	"os"
	"path/filepath"
	"testing"

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
