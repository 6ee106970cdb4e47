package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDiskFull fills a real (tmpfs) file system under the log: Append
// fails with ENOSPC and the configured policy, and the log recovers, with
// a record of the gap, once there is space again. Mounting needs root;
// TestAppendFailureAndRecovery covers the same path with injected errors
// everywhere else.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Log("not root: cannot mount a tmpfs; TestAppendFailureAndRecovery covers this path")
		return
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=128k,mode=0700"); err != nil {
		t.Logf("cannot mount a tmpfs (%v); TestAppendFailureAndRecovery covers this path", err)
		return
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	dir := filepath.Join(mnt, "audit")
	l := openLog(t, dir, Options{OnFailure: Continue})
	for i := range 5 {
		mustAppend(t, l, sign(i, Allowed, "/bin/before"))
	}
	// Fill the file system.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()

	// The log file's last page may still take a few records.
	var failErr error
	written := 0
	for i := 0; i < 1000 && failErr == nil; i++ {
		if failErr = l.Append(sign(i, Allowed, "/bin/full")); failErr == nil {
			written++
		}
	}
	var ae *AppendError
	if !errors.As(failErr, &ae) || !errors.Is(failErr, syscall.ENOSPC) || ae.Refuse() || ShouldRefuse(failErr) {
		t.Fatalf("Append on a full disk = %v, want an *AppendError for ENOSPC with policy continue", failErr)
	}
	for i := range 2 {
		if err := l.Append(sign(i, Allowed, "/bin/full")); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("second Append on a full disk = %v", err)
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, sign(99, Allowed, "/bin/after"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, dir)
	if rep.Records != 5+written+2 || len(rep.Truncated) != 0 {
		t.Errorf("report %+v: want %d records", rep, 5+written+2)
	}
	var gap string
	for _, e := range entries(t, dir, Filter{}) {
		if e.Kind == KindAuditGap {
			gap = e.Detail
		}
	}
	if !strings.HasPrefix(gap, "3 events not recorded") || !strings.Contains(gap, "no space left on device") {
		t.Errorf("gap record: %q", gap)
	}
}
