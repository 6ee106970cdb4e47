package agent

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// testWindow returns a window on a fake clock and a way to read why it ended.
func testWindow(limits WindowLimits) (*window, *time.Time, func() []string) {
	now := time.Unix(1_000_000, 0)
	var mu sync.Mutex
	var ended []string
	w := &window{limits: limits, now: func() time.Time { return now }, end: func(reason string) {
		mu.Lock()
		ended = append(ended, reason)
		mu.Unlock()
	}}
	return w, &now, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), ended...)
	}
}

func TestWindowIdle(t *testing.T) {
	w, now, ended := testWindow(WindowLimits{Idle: 15 * time.Minute, MaxLifetime: 4 * time.Hour})
	w.openNow()
	for range 10 { // each signature restarts the idle timeout
		*now = now.Add(14 * time.Minute)
		if !w.used() {
			t.Fatal("signature refused within the idle timeout")
		}
	}
	*now = now.Add(15 * time.Minute)
	if w.used() {
		t.Fatal("signature allowed after 15 idle minutes")
	}
	if e := ended(); len(e) != 1 || !strings.Contains(e[0], "idle") {
		t.Errorf("ended %q", e)
	}
}

func TestWindowAbsolute(t *testing.T) {
	w, now, ended := testWindow(WindowLimits{Idle: 15 * time.Minute, MaxLifetime: time.Hour})
	w.openNow()
	for i := range 5 {
		*now = now.Add(10 * time.Minute)
		if !w.used() {
			t.Fatalf("signature %d refused before the hour", i)
		}
		w.openNow() // adding a key does not extend the window
	}
	*now = now.Add(10 * time.Minute)
	if w.used() {
		t.Fatal("signature allowed after the absolute cap")
	}
	if e := ended(); len(e) != 1 || !strings.Contains(e[0], "maximum") {
		t.Errorf("ended %q", e)
	}
}

func TestWindowCounter(t *testing.T) {
	w, _, ended := testWindow(WindowLimits{MaxSignatures: 3})
	w.openNow()
	for i := range 3 {
		if !w.used() {
			t.Fatalf("signature %d of 3 refused", i+1)
		}
		w.spent()
	}
	if w.status().Open {
		t.Error("window still open after the last allowed signature")
	}
	if e := ended(); len(e) != 1 || !strings.Contains(e[0], "3 signatures") {
		t.Errorf("ended %q", e)
	}
}

func TestWindowTimerEnds(t *testing.T) {
	var mu sync.Mutex
	done := make(chan string, 1)
	w := &window{limits: WindowLimits{Idle: 20 * time.Millisecond}, now: time.Now, end: func(r string) {
		mu.Lock()
		defer mu.Unlock()
		done <- r
	}}
	w.openNow()
	select {
	case r := <-done:
		if !strings.Contains(r, "idle") {
			t.Errorf("ended because %q", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("idle timer never ended the window")
	}
}

func TestWindowStatus(t *testing.T) {
	w, now, _ := testWindow(WindowLimits{Idle: 15 * time.Minute, MaxLifetime: time.Hour, MaxSignatures: 10})
	if w.status().Open {
		t.Fatal("closed window reported open")
	}
	w.openNow()
	*now = now.Add(5 * time.Minute)
	w.used()
	st := w.status()
	if !st.Open || st.IdleLeft != 15*time.Minute || st.LifetimeLeft != 55*time.Minute || st.SignaturesLeft != 9 {
		t.Errorf("status %+v", st)
	}
}
