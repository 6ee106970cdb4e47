//go:build linux

package notify_test

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/notify"
	"github.com/vigil-agent/vigil/internal/notify/notifytest"
)

func TestNotify(t *testing.T) {
	svc := notifytest.Start(t)
	n := notify.New(svc.Address, nil)
	defer n.Close()
	n.Notify("vigil signed", "program: /usr/bin/git\nkey: <b>work</b> & co")
	got := svc.Wait(t, 1, 10*time.Second)[0]
	want := notifytest.Call{App: "vigil", Summary: "vigil signed", Body: "program: /usr/bin/git\nkey: &lt;b&gt;work&lt;/b&gt; &amp; co"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// syncBuffer is a log destination the notifier's goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoBusNeverBlocks: without a bus, Notify returns at once every time,
// and the failure is logged once.
func TestNoBusNeverBlocks(t *testing.T) {
	var logs syncBuffer
	n := notify.New("unix:path="+filepath.Join(t.TempDir(), "none"), slog.New(slog.NewTextHandler(&logs, nil)))
	for range 1000 {
		n.Notify("vigil refused", "body")
	}
	n.Close()
	if c := strings.Count(logs.String(), "notifications dropped"); c != 1 {
		t.Errorf("logged the failure %d times, want once:\n%s", c, logs.String())
	}
}
