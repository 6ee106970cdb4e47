package audit

import (
	"fmt"
	"time"
)

// syncLocked fsyncs the current file with l.mu held.
func (l *Log) syncLocked() error {
	l.syncMu.Lock()
	err := l.f.Sync()
	l.syncMu.Unlock()
	if err != nil {
		return fmt.Errorf("sync %s: %w", fileName(l.num), err)
	}
	l.synced = l.seq
	l.signalSynced()
	l.anchor(Head{File: l.headFile, Seq: l.seq, Hash: l.prev})
	return nil
}

// anchor writes the head file for records known to be on disk. Failing to
// write it loses no record, so it is logged, not returned.
func (l *Log) anchor(h Head) {
	if h.Seq == 0 {
		return
	}
	if err := l.head.write(l.dir, h); err != nil {
		l.opts.Logger.Error("audit: head file not updated", "err", err)
	}
}

func (l *Log) signalSynced() {
	close(l.syncDone)
	l.syncDone = make(chan struct{})
}

func (l *Log) kick() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Sync returns once every record appended before it was called is on
// disk, for callers that must not go on before that.
func (l *Log) Sync() error {
	if err := l.syncNow(); err != nil {
		return l.fail(err)
	}
	return nil
}

// syncNow fsyncs the current file without holding l.mu during the fsync,
// so that Append goes on meanwhile.
func (l *Log) syncNow() error {
	l.mu.Lock()
	target, f, num := l.seq, l.f, l.num
	head := Head{File: l.headFile, Seq: l.seq, Hash: l.prev}
	if l.synced >= target {
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()

	l.syncMu.Lock()
	err := f.Sync()
	l.syncMu.Unlock()

	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.signalSynced()
	if l.synced >= target {
		return nil // a rotation synced (and closed) the file meanwhile
	}
	if err != nil {
		err = fmt.Errorf("sync %s: %w", fileName(num), err)
		l.markBroken(err)
		return err
	}
	l.synced = target
	l.anchor(head)
	return nil
}

// flusher fsyncs groups of records in the background.
func (l *Log) flusher() {
	defer close(l.flushed)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	for {
		l.mu.Lock()
		pending, broken := l.seq-l.synced, l.broken != nil
		l.mu.Unlock()
		switch {
		case pending >= uint64(l.opts.GroupSize) && !broken:
			timer.Stop()
			armed = false
			l.backgroundSync()
			continue
		case pending > 0 && !armed:
			// When broken, the next Append repairs; meanwhile keep trying
			// to get what was written to disk, slowly.
			wait := l.opts.GroupWait
			if broken {
				wait = max(wait, time.Second)
			}
			timer.Reset(wait)
			armed = true
		}
		select {
		case <-l.stop:
			timer.Stop()
			return
		case <-l.wake:
		case <-timer.C:
			armed = false
			l.backgroundSync()
		}
	}
}

func (l *Log) backgroundSync() {
	if err := l.syncNow(); err != nil {
		l.opts.Logger.Error("audit: background sync failed", "err", err)
	}
}
