//go:build !linux

package secmem

import "errors"

func alloc(n int) (*Buffer, error) {
	return &Buffer{b: make([]byte, n)}, ErrNotLocked
}

// HardenProcess is a no-op where the platform offers no equivalent of
// PR_SET_DUMPABLE; the returned error says so.
func HardenProcess() error {
	return errNoHardening
}

var errNoHardening = errors.New("secmem: process hardening not implemented on this platform")
