//go:build unix

package knownhosts

import (
	"path/filepath"
	"syscall"
	"testing"
)

// A FIFO named as a known_hosts file must neither be read nor block the
// lookup, even when it appears between the Stat and the open.
func TestFIFOIsSkipped(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal("mkfifo:", err)
	}
	if hf := readFile(fifo); hf != nil {
		t.Errorf("readFile(fifo) = %+v, want nil", hf)
	}
	if got := Lookup(nil, []string{fifo}, nil); got.Verified {
		t.Errorf("got %+v", got)
	}
}
