package audit

import (
	"testing"
	"time"
)

// BenchmarkAppend measures Append of a typical sign event with the default
// group fsync (1024 records or 20ms), and, for comparison, with an fsync
// after every record.
func BenchmarkAppend(b *testing.B) {
	e := fullEvent(KindSign)
	e.Time, e.ID = time.Time{}, ""
	for _, bc := range []struct {
		name      string
		syncEvery bool
	}{{"group", false}, {"sync-each", true}} {
		b.Run(bc.name, func(b *testing.B) {
			l := openLog(b, logDir(b), Options{})
			b.ReportAllocs()
			for b.Loop() {
				if err := l.Append(e); err != nil {
					b.Fatal(err)
				}
				if bc.syncEvery {
					if err := l.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkAppendParallel is BenchmarkAppend/group from several goroutines.
func BenchmarkAppendParallel(b *testing.B) {
	e := fullEvent(KindSign)
	e.Time, e.ID = time.Time{}, ""
	l := openLog(b, logDir(b), Options{})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Append(e); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
