package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"
)

// Recording use is two calls, so that a signature costs no I/O: MarkUsed
// notes the time in memory, and FlushUsage writes every noted time to
// vault.lastused at once (under the write lock, atomically, with the fsyncs
// of any other write). The agent calls FlushUsage on a timer, say once a
// minute while unlocked, and when it locks or exits; a crash loses at most
// the uses since the last flush, which only makes "last used" older. One
// small file for all keys, rather than a sidecar per key, makes a flush one
// write however many keys were used, and keeps key files untouched after
// they are written.

// MarkUsed records, in memory, that the key with SHA256 fingerprint fp was
// used at t. It does no I/O; List and Find report it at once, and FlushUsage
// makes it durable.
func (v *Vault) MarkUsed(fp string, t time.Time) {
	t = t.UTC().Truncate(time.Second)
	v.mu.Lock()
	defer v.mu.Unlock()
	if old, ok := v.used[fp]; !ok || t.After(old) {
		v.used[fp] = t
	}
}

// FlushUsage writes the uses MarkUsed recorded to the store, merged with
// those already there (the later time wins), dropping keys no longer
// stored. It does nothing if there is nothing new. It takes the write lock,
// so it may wait for another process's write (a passphrase change, an RSA
// key being generated): call it off the signing path.
func (v *Vault) FlushUsage() error {
	v.mu.Lock()
	pending := maps.Clone(v.used)
	v.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	unlock, err := v.writeLock()
	if err != nil {
		return err
	}
	defer unlock()
	// A damaged or insecure usage file is replaced: it holds nothing
	// that cannot be lost.
	data, _ := readFile(v.path(usageName))
	stored, _ := parseUsage(data)
	for fp, t := range pending {
		if old, ok := stored[fp]; !ok || t.After(old) {
			stored[fp] = t
		}
	}
	names, err := keyNames(v.dir)
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	live := map[string]bool{}
	for _, n := range names {
		live[n] = true
	}
	for fp := range stored {
		if n, ok := fingerprintName(fp); !ok || !live[n] {
			delete(stored, fp)
		}
	}
	if err := v.write(usageName, marshalUsage(stored)); err != nil {
		return err
	}
	v.mu.Lock()
	for fp, t := range pending {
		if !v.used[fp].After(t) {
			delete(v.used, fp)
		}
	}
	v.mu.Unlock()
	return nil
}

// lastUsed returns the last use of each key, stored or pending, and a
// Problem if the usage file could not be read.
func (v *Vault) lastUsed() (map[string]time.Time, []Problem) {
	var problems []Problem
	data, err := readFile(v.path(usageName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		problems = append(problems, Problem{Path: v.path(usageName), Err: err})
	}
	used, err := parseUsage(data)
	if err != nil {
		problems = append(problems, Problem{Path: v.path(usageName), Err: err})
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for fp, t := range v.used {
		if t.After(used[fp]) {
			used[fp] = t
		}
	}
	return used, problems
}

// The usage file: a magic line, then "SHA256:<fp> <RFC 3339 time>" lines.
func marshalUsage(used map[string]time.Time) []byte {
	b := []byte(usageMagic + "\n")
	for _, fp := range slices.Sorted(maps.Keys(used)) {
		b = fmt.Appendf(b, "%s %s\n", fp, used[fp].UTC().Format(time.RFC3339))
	}
	return b
}

// parseUsage returns what it could parse, and an error if anything was
// wrong. Empty data is an empty file.
func parseUsage(data []byte) (map[string]time.Time, error) {
	used := map[string]time.Time{}
	if len(data) == 0 {
		return used, nil
	}
	lines := strings.Split(string(data), "\n")
	if lines[0] != usageMagic {
		return used, fmt.Errorf("%w: first line is not %q", ErrCorrupt, usageMagic)
	}
	var bad int
	for _, line := range lines[1:] {
		if line == "" {
			continue
		}
		fp, ts, ok := strings.Cut(line, " ")
		t, err := time.Parse(time.RFC3339, ts)
		if _, isFP := fingerprintName(fp); !ok || err != nil || !isFP {
			bad++
			continue
		}
		used[fp] = t.UTC()
	}
	if bad > 0 {
		return used, fmt.Errorf("%w: %d unreadable lines", ErrCorrupt, bad)
	}
	return used, nil
}
