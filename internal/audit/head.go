package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// headName is the file that anchors the end of the chain. A hash chain
// shows edits anywhere but at its end: nothing follows the last record to
// vouch for it. After each group of records reaches the disk, the log
// writes its head (seq and hash of the last synced record) here, and
// Verify checks the records against it, so editing or deleting the last
// records is seen unless the head file is rewritten too (which takes the
// same knowledge as recomputing the whole chain: not defended, see the
// threat model).
const headName = "HEAD"

// headWriter writes the head file, never moving it backwards.
type headWriter struct {
	mu   sync.Mutex
	last uint64
}

func (w *headWriter) write(dir string, h Head) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if h.Seq <= w.last {
		return nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, headName+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write head: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, headName)); err != nil {
		return fmt.Errorf("write head: %w", err)
	}
	w.last = h.Seq
	return nil
}

// readHead returns the head file's contents, or nil if there is none (a
// log written before head files existed, or one never synced).
func readHead(dir string) (*Head, error) {
	b, err := os.ReadFile(filepath.Join(dir, headName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var h Head
	if err := json.Unmarshal(b, &h); err != nil || h.Seq == 0 || len(h.Hash) != 64 {
		return nil, &VerifyError{File: headName, Problem: ProblemMalformed, Detail: "unreadable head file"}
	}
	return &h, nil
}
