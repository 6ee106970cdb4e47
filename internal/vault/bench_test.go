package vault

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkUnlock measures what a user waits for at unlock with the
// default KDF: one argon2id derivation, then opening the keys.
func BenchmarkUnlock(b *testing.B) {
	v, err := Open(Config{Dir: filepath.Join(b.TempDir(), "vigil")})
	if err != nil {
		b.Fatal(err)
	}
	if err := v.Init(pass1); err != nil {
		b.Fatal(err)
	}
	for _, kt := range []KeyType{Ed25519, ECDSAP256, RSA3072} {
		if _, err := v.Generate(pass1, kt, string(kt)); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time too: wall time depends on what else the machine runs.
	cpu0 := cpuTime()
	for b.Loop() {
		keys, problems, err := v.Unlock(pass1)
		if err != nil || len(problems) > 0 || len(keys) != 3 {
			b.Fatal(keys, problems, err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// BenchmarkFlushUsage measures one durable write of the last-used times.
func BenchmarkFlushUsage(b *testing.B) {
	v := newVault(b)
	var fps []string
	for range 5 {
		e, err := v.Generate(pass1, Ed25519, "")
		if err != nil {
			b.Fatal(err)
		}
		fps = append(fps, e.Fingerprint)
	}
	t := time.Now()
	for b.Loop() {
		t = t.Add(time.Second)
		v.MarkUsed(fps[0], t)
		if err := v.FlushUsage(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarkUsed is what a signature costs the agent.
func BenchmarkMarkUsed(b *testing.B) {
	v := newVault(b)
	t := time.Now()
	for b.Loop() {
		v.MarkUsed("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", t)
	}
}
