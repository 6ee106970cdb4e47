//go:build unix && !aix

package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Two writers would interleave two chains from the same head and Verify
// would call it tampering (QA finding 4): the second Open must fail, name
// the first writer, and leave the log readable.
func TestOpenRefusesSecondWriter(t *testing.T) {
	dir := logDir(t)
	first := openLog(t, dir, Options{})
	mustAppend(t, first, sign(1, Allowed, "/bin/x"))

	second, err := Open(dir, Options{})
	if err == nil {
		second.Close()
		t.Fatal("second Open of a log that is being written succeeded")
	}
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open = %v, want ErrInUse", err)
	}
	want := fmt.Sprintf("audit log %s is in use by another vigil (pid %d)", dir, os.Getpid())
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("second Open = %q, want it to contain %q", err, want)
	}

	// Readers need no lock.
	mustAppend(t, first, sign(2, Allowed, "/bin/x"))
	if err := first.Sync(); err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, dir); rep.Records != 2 {
		t.Fatalf("Verify while the log is held counted %d records, want 2", rep.Records)
	}

	// Close releases the lock, and the next writer continues the chain.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again := openLog(t, dir, Options{})
	mustAppend(t, again, sign(3, Allowed, "/bin/x"))
	again.Close()
	mustVerify(t, dir)
}

func TestLockFileIsPrivate(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, dir, Options{})
	defer l.Close()
	fi, err := os.Lstat(filepath.Join(dir, lockName))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file mode %v, want a regular file 0600", fi.Mode())
	}
}
