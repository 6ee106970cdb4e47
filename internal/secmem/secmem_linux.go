package secmem

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func alloc(n int) (*Buffer, error) {
	page := os.Getpagesize()
	size := (n + page - 1) / page * page
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		// Fall back to the heap rather than fail: the process is still
		// non-dumpable, and the caller is told the memory is not locked.
		return &Buffer{b: make([]byte, n)}, fmt.Errorf("%w: mmap: %v", ErrNotLocked, err)
	}
	buf := &Buffer{b: mem[:n:n], free: func([]byte) { _ = unix.Munmap(mem) }}
	// Best effort: keep it out of core dumps even if mlock fails.
	_ = unix.Madvise(mem, unix.MADV_DONTDUMP)
	if err := unix.Mlock(mem); err != nil {
		return buf, fmt.Errorf("%w: mlock %d bytes: %v", ErrNotLocked, size, err)
	}
	buf.locked = true
	return buf, nil
}

// HardenProcess makes the process non-dumpable (no core files, no ptrace or
// /proc/PID/mem access by other processes of the same user) and sets the core
// size limit to zero.
func HardenProcess() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("secmem: prctl PR_SET_DUMPABLE: %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("secmem: setrlimit RLIMIT_CORE: %w", err)
	}
	return nil
}
