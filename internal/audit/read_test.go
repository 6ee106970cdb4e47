package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestScanFilter(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, dir, Options{MaxFileSize: 1 << 10})
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	evs := []Event{
		{Time: t0, ID: "a", Kind: KindSign, Decision: Allowed, Key: "SHA256:one", Caller: Caller{Process: Process{Exe: "/usr/bin/ssh"}}},
		{Time: t0.Add(time.Minute), ID: "b", Kind: KindSign, Decision: Denied, Key: "SHA256:two", Caller: Caller{Process: Process{Exe: "/usr/bin/git"}}},
		{Time: t0.Add(2 * time.Minute), ID: "c", Kind: KindSign, Decision: TimedOut, Key: "SHA256:one", Caller: Caller{Process: Process{Exe: "/usr/lib/git-core/git-remote-http"}}},
		{Time: t0.Add(3 * time.Minute), ID: "d", Kind: KindUnlock, Decision: Failed},
		{Time: t0.Add(4 * time.Minute), ID: "e", Kind: KindLock},
		{Time: t0.Add(5 * time.Minute), ID: "f", Kind: KindSign, Decision: Cancelled, Key: "SHA256:two", Caller: Caller{Process: Process{Exe: "/usr/bin/ssh"}}},
	}
	for _, e := range evs {
		mustAppend(t, l, e)
	}
	tests := []struct {
		name string
		f    Filter
		want string
	}{
		{"all", Filter{}, "abcdef"},
		{"since", Filter{Since: t0.Add(2 * time.Minute)}, "cdef"},
		{"key", Filter{Key: "SHA256:one"}, "ac"},
		{"key without prefix", Filter{Key: "two"}, "bf"},
		{"key as the table shows it", Filter{Key: "SHA256:tw…"}, "bf"},
		{"start of a key", Filter{Key: "SHA256:o"}, "ac"},
		{"start of a key without prefix", Filter{Key: "t"}, "bf"},
		{"longer than a key", Filter{Key: "SHA256:twoo"}, ""},
		{"program", Filter{Program: "git"}, "bc"},
		{"program path", Filter{Program: "/usr/bin/ssh"}, "af"},
		{"denied only", Filter{DeniedOnly: true}, "bcdf"},
		{"combined", Filter{DeniedOnly: true, Program: "ssh", Since: t0}, "f"},
		{"nothing", Filter{Key: "SHA256:none"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			for _, e := range entries(t, dir, tt.f) {
				got += e.ID
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestScanStops(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, dir, Options{})
	for i := range 5 {
		mustAppend(t, l, sign(i, Allowed, "/bin/x"))
	}
	n := 0
	for range Scan(dir, Filter{}) {
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("read %d after break", n)
	}
}

func TestScanReportsBadLines(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, dir, Options{})
	mustAppend(t, l, sign(1, Allowed, "/bin/x"))
	l.Close()
	p := filepath.Join(dir, fileName(1))
	writeLines(t, p, append(fileLines(t, p), []byte("garbage")))
	var errs []string
	n := 0
	for _, err := range Scan(dir, Filter{}) {
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		n++
	}
	if n != 1 || len(errs) != 1 || !strings.Contains(errs[0], fileName(1)+":2:") {
		t.Errorf("read %d, errors %q", n, errs)
	}
}

// Follow sees records written before it started, then new ones across
// rotations, then stops with its context.
func TestFollow(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, dir, Options{MaxFileSize: 2 << 10})
	for i := range 5 {
		mustAppend(t, l, sign(i, Allowed, "/bin/before"))
	}
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan Entry)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for e, err := range Follow(ctx, dir, Filter{DeniedOnly: true}) {
			if err != nil {
				t.Error(err)
				continue
			}
			select {
			case got <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	// Denied ones only: the five before do not show.
	want := 0
	expect := func(n int) {
		t.Helper()
		for range n {
			select {
			case e := <-got:
				want++
				if e.Decision != Denied || e.Caller.PID != 100+want {
					t.Fatalf("followed %+v, want denied pid %d", e.Event, 100+want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no record after %d", want)
			}
		}
	}
	for i := 1; i <= 40; i++ {
		mustAppend(t, l, sign(i, Denied, "/bin/after"))
		mustAppend(t, l, sign(0, Allowed, "/bin/after"))
		if i%10 == 0 {
			expect(10)
		}
	}
	if all := entries(t, dir, Filter{}); all[len(all)-1].File == fileName(1) {
		t.Fatal("no rotation happened")
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not stop with its context")
	}
}

// A file that was left with a truncated tail is reported when Follow moves
// past it.
func TestFollowTruncatedTail(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, dir, Options{})
	mustAppend(t, l, sign(1, Denied, "/bin/x"))
	l.Close()
	f, err := os.OpenFile(filepath.Join(dir, fileName(1)), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"v":1,"lo`)
	f.Close()
	l = openLog(t, dir, Options{})
	mustAppend(t, l, sign(2, Denied, "/bin/x"))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var log bytes.Buffer
	for e, err := range Follow(ctx, dir, Filter{}) {
		switch {
		case errors.Is(err, ErrTruncatedTail):
			log.WriteString("tail ")
		case err != nil:
			t.Fatal(err)
		default:
			log.WriteString(string(e.Kind) + " ")
			if e.Caller.PID == 102 {
				cancel()
			}
		}
	}
	if got, want := log.String(), "sign tail audit_recovered sign "; got != want {
		t.Errorf("followed %q, want %q", got, want)
	}
}

// Follow waits for a log that does not exist yet.
func TestFollowBeforeTheLog(t *testing.T) {
	dir := logDir(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan Entry, 1)
	go func() {
		for e, err := range Follow(ctx, dir, Filter{}) {
			if err != nil {
				t.Error(err)
				return
			}
			got <- e
			return
		}
	}()
	l := openLog(t, dir, Options{})
	mustAppend(t, l, Event{Kind: KindConfigReloaded, ID: "first"})
	select {
	case e := <-got:
		if e.ID != "first" {
			t.Errorf("followed %+v", e.Event)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not see the new log")
	}
}
