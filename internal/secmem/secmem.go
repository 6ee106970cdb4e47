// Package secmem holds secret bytes in memory that is kept out of swap and
// core dumps where the operating system allows it, and hardens the process
// against being dumped or inspected by other unprivileged processes.
//
// Its limits, honestly: Go's crypto packages keep key material in values on
// the garbage-collected heap (big.Int for RSA and ECDSA, expanded Ed25519
// keys cached by weak pointer, which cannot even point into mmap'd memory),
// and those copies can be neither locked nor reliably wiped. secmem holds
// what vigil controls itself, such as the key derived from a lock
// passphrase. PR_SET_DUMPABLE=0 and RLIMIT_CORE=0 cover the rest against
// core dumps and same-user ptrace or /proc/PID/mem reads.
package secmem

import (
	"errors"
	"runtime/debug"
	"sync"
)

// Buffer is a fixed-size secret buffer. Call Free when done; Free wipes it.
type Buffer struct {
	mu     sync.Mutex
	b      []byte
	locked bool
	free   func([]byte)
}

// ErrNotLocked is returned (with a usable buffer) when the memory could not
// be locked, typically because RLIMIT_MEMLOCK is too small.
var ErrNotLocked = errors.New("secmem: memory not locked")

// New returns a zeroed buffer of n bytes. If the memory could not be locked,
// the buffer is still returned, with an error wrapping ErrNotLocked, so the
// caller can warn once and carry on.
func New(n int) (*Buffer, error) {
	if n <= 0 {
		return &Buffer{}, nil
	}
	return alloc(n)
}

// Copy returns a new buffer holding a copy of src.
func Copy(src []byte) (*Buffer, error) {
	b, err := New(len(src))
	copy(b.Bytes(), src)
	return b, err
}

// Bytes returns the buffer's memory. It must not be used after Free.
func (b *Buffer) Bytes() []byte { return b.b }

// Locked reports whether the memory is locked against swapping.
func (b *Buffer) Locked() bool { return b.locked }

// Free wipes the buffer and releases its memory. It is safe to call twice.
func (b *Buffer) Free() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b == nil {
		return
	}
	Wipe(b.b)
	if b.free != nil {
		b.free(b.b)
	}
	b.b = nil
}

// Wipe overwrites p with zeros.
func Wipe(p []byte) {
	clear(p)
}

// ReleaseFreed returns the heap's free memory to the operating system, in
// the background. Call it once after each passphrase derivation: argon2id's
// working memory (64 MiB for the key store, 19 MiB for ssh-add -x) is garbage
// when the derivation returns, but the runtime keeps it resident for minutes
// before its scavenger gives it back, so the agent's RSS stays several times
// its usual size, and those pages keep blocks computed from the passphrase.
// A forced collection costs milliseconds of CPU, not worth making the
// caller wait for; the runtime serialises concurrent ones.
func ReleaseFreed() {
	go debug.FreeOSMemory()
}
