package secmem

import (
	"errors"
	"testing"
)

func TestBuffer(t *testing.T) {
	b, err := Copy([]byte("correct horse"))
	if err != nil && !errors.Is(err, ErrNotLocked) {
		t.Fatal(err)
	}
	if got := string(b.Bytes()); got != "correct horse" {
		t.Fatalf("Bytes() = %q", got)
	}
	mem := b.Bytes()
	if err == nil {
		// Only a locked (mmap'd) buffer is guaranteed to stay readable after
		// Free for this check; munmap would fault, so wipe is checked first.
		Wipe(mem)
		for _, c := range mem {
			if c != 0 {
				t.Fatal("Wipe left data behind")
			}
		}
	}
	b.Free()
	b.Free() // second Free is harmless
	if b.Bytes() != nil {
		t.Fatal("Bytes() after Free is not nil")
	}
}

func TestZeroSize(t *testing.T) {
	b, err := New(0)
	if err != nil {
		t.Fatal(err)
	}
	b.Free()
}
