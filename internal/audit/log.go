package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options configure a Log. The zero value is a good default.
type Options struct {
	// OnFailure is carried in every *AppendError. Default Refuse.
	OnFailure FailurePolicy
	// MaxFileSize: a file is not grown past this many bytes; the record
	// that would do it starts a new file. Default 8 MiB.
	MaxFileSize int64
	// GroupSize and GroupWait: records are fsynced in groups, when
	// GroupSize of them are waiting or GroupWait after the first of them
	// was written, whichever comes first. Defaults 1024 and 20ms, so
	// under load the group is bounded by time: an fsync costs 1-2ms, and
	// with groups of 64 the disk, not signing, set the pace (55µs a record
	// against 11µs with 1024, BenchmarkAppend). Append waits for the disk
	// when 2*GroupSize records are not yet synced.
	GroupSize int
	GroupWait time.Duration
	// Now is the clock for events without a time. Default time.Now.
	Now func() time.Time
	// Logger reports background fsync failures (they also fail the next
	// Append). Default: discard.
	Logger *slog.Logger

	// testOnlyWrap lets tests inject failing files.
	testOnlyWrap func(file) file
}

func (o Options) withDefaults() Options {
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = 8 << 20
	}
	if o.GroupSize <= 0 {
		o.GroupSize = 1024
	}
	if o.GroupWait <= 0 {
		o.GroupWait = 20 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// file is what the log needs of an open file.
type file interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

// Log is an open audit log, safe for concurrent use. See the package doc
// for the format and what a crash can lose.
type Log struct {
	dir  string
	opts Options
	lock *os.File // holds the directory's writer lock; nil where there is none

	// syncMu is held while a file is fsynced, and by rotation while it
	// syncs and closes the old file. Lock order: mu, then syncMu.
	syncMu sync.Mutex
	head   headWriter

	mu       sync.Mutex
	f        file
	num      int    // number of the current file
	size     int64  // bytes of whole records in the current file
	logID    string // random, fixed for the life of the log
	seq      uint64 // seq of the last record written
	prev     string // hash of the last record written
	prevFile string // set on the next record: it starts a file that continues another
	headFile string // file of the last record written
	synced   uint64 // seq of the last record known to be on disk
	syncDone chan struct{}
	broken   error  // why the last write or sync failed; nil when healthy
	note     string // what Open found damaged, to record first
	lost     int    // events not recorded since the log broke
	brokeAt  time.Time
	closed   bool

	wake    chan struct{} // to the flusher: records are waiting
	stop    chan struct{}
	flushed chan struct{} // closed when the flusher has returned
}

// Open opens the log in dir, creating dir (0700) and the first file (0600)
// if needed, and continues the chain of the files already there. It
// refuses a directory or file that is not the user's own or that others
// can read or write, and a directory another open Log writes (an error
// wrapping ErrInUse, naming that process): a log has one writer until
// Close. If the newest file ends in a damaged record (a crash),
// that file is left as it is for Verify to report, and the chain goes on in
// a new file whose first record (kind audit_recovered) says what was found.
func Open(dir string, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: create %s: %w", dir, err)
	}
	if err := checkDir(dir); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		if errors.Is(err, ErrInUse) {
			return nil, err // names the log already
		}
		return nil, fmt.Errorf("audit: %w", err)
	}
	l, err := open(dir, opts, lock)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	return l, nil
}

// open is Open once the directory is checked and locked.
func open(dir string, opts Options, lock *os.File) (*Log, error) {
	nums, err := listFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	for _, n := range nums {
		if err := checkFile(filepath.Join(dir, fileName(n))); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	l := &Log{
		dir:      dir,
		opts:     opts,
		lock:     lock,
		syncDone: make(chan struct{}),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		flushed:  make(chan struct{}),
	}
	if l.note, err = l.resume(nums); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if l.note != "" {
		// Written now if possible; if not (a full disk), by the first
		// Append that can write, as a write failure would be.
		l.mu.Lock()
		err := l.repair()
		l.mu.Unlock()
		if err == nil {
			err = l.syncNow()
		}
		if err != nil {
			l.opts.Logger.Warn("audit: cannot record the recovery yet", "err", err)
		}
	}
	go l.flusher()
	return l, nil
}

// name (left by an earlier attempt) is used as it is.
func (l *Log) create(n int, prevFile string) error {
	path := filepath.Join(l.dir, fileName(n))
	f, err := openFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != 0 {
		f.Close()
		if err == nil {
			err = errors.New("file exists and is not empty")
		}
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return err
	}
	l.use(f, n, 0, prevFile)
	return nil
}

// open makes the existing file number n, of size bytes, the current file.
func (l *Log) open(n int, size int64, prevFile string) error {
	path := filepath.Join(l.dir, fileName(n))
	f, err := openFile(path, os.O_WRONLY|os.O_APPEND)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	l.use(f, n, size, prevFile)
	return nil
}

func (l *Log) use(f *os.File, n int, size int64, prevFile string) {
	var ff file = f
	if l.opts.testOnlyWrap != nil {
		ff = l.opts.testOnlyWrap(ff)
	}
	l.f, l.num, l.size, l.prevFile = ff, n, size, prevFile
}

// Append records e and returns once its line has been written to the
// operating system (it survives a crash of vigil, and reaches the disk
// with the next group fsync; see Sync). On failure it returns an
// *AppendError whose Refuse method says what to do with the request; the
// log then retries on every later Append and, once a write succeeds,
// records how many events it missed (kind audit_gap) before e.
func (l *Log) Append(e Event) error {
	e, err := e.prepare(l.opts.Now)
	if err != nil {
		return l.fail(err)
	}
	body, err := json.Marshal(e)
	if err != nil {
		return l.fail(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Keep what a power loss can take bounded: wait while two groups are
	// not yet on disk.
	for !l.closed && l.broken == nil && l.seq-l.synced >= 2*uint64(l.opts.GroupSize) {
		done := l.syncDone
		l.kick()
		l.mu.Unlock()
		<-done
		l.mu.Lock()
	}
	if l.closed {
		return l.fail(ErrClosed)
	}
	if err := l.repair(); err != nil {
		l.lost++
		return l.fail(err)
	}
	if err := l.write(body); err != nil {
		l.lost++
		return l.fail(err)
	}
	return nil
}

func (l *Log) fail(err error) error {
	return &AppendError{Policy: l.opts.OnFailure, Err: err}
}

// writeEvent prepares, marshals and writes an event written by the log
// itself. l.mu is held.
func (l *Log) writeEvent(e Event) error {
	e, err := e.prepare(l.opts.Now)
	if err != nil {
		return err
	}
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return l.write(body)
}

// write appends one record, rotating first if the file would grow too
// large. l.mu is held. On failure the chain state is unchanged and
// l.broken is set: the bytes that did reach the file are cut off by the
// next repair.
func (l *Log) write(body []byte) error {
	ln := line(l.logID, l.seq+1, l.prev, l.prevFile, body)
	if l.size > 0 && l.size+int64(len(ln))+1 > l.opts.MaxFileSize {
		if err := l.rotate(); err != nil {
			l.markBroken(err)
			return err
		}
		ln = line(l.logID, l.seq+1, l.prev, l.prevFile, body)
	}
	if len(ln) > MaxLine {
		// Cannot happen with prepare's limits; refuse rather than write a
		// line readers reject.
		return fmt.Errorf("record of %d bytes is too long", len(ln))
	}
	n, err := l.f.Write(append(ln, '\n'))
	if err != nil {
		err = fmt.Errorf("write %s: %w", fileName(l.num), err)
		l.markBroken(err)
		return err
	}
	l.size += int64(n)
	l.seq++
	l.prev = Hash(ln)
	l.prevFile = ""
	l.headFile = fileName(l.num)
	if p := l.seq - l.synced; p == 1 || p >= uint64(l.opts.GroupSize) {
		l.kick()
	}
	return nil
}

func (l *Log) markBroken(err error) {
	if l.broken == nil {
		l.broken = err
		l.brokeAt = l.opts.Now()
	}
}

// repair brings a broken log back: it cuts off whatever a failed write
// left, fsyncs, and records the gap. It also writes Open's note of damage
// found. l.mu is held.
func (l *Log) repair() error {
	if l.broken != nil {
		if err := l.f.Truncate(l.size); err != nil {
			return fmt.Errorf("repair %s: %w (first failure: %w)", fileName(l.num), err, l.broken)
		}
		if err := l.syncLocked(); err != nil {
			return fmt.Errorf("repair %s: %w (first failure: %w)", fileName(l.num), err, l.broken)
		}
	}
	if l.note != "" {
		if err := l.writeEvent(Event{Kind: KindAuditRecovered, Detail: l.note}); err != nil {
			return err
		}
		l.note = ""
	}
	if l.broken == nil {
		return nil
	}
	var detail string
	if l.lost > 0 {
		detail = fmt.Sprintf("%d events not recorded from %s: %v", l.lost,
			l.brokeAt.UTC().Format(time.RFC3339Nano), l.broken)
	} else {
		detail = fmt.Sprintf("writing failed from %s (%v): records up to seq %d may not have reached the disk",
			l.brokeAt.UTC().Format(time.RFC3339Nano), l.broken, l.seq)
	}
	if err := l.writeEvent(Event{Kind: KindAuditGap, Detail: detail}); err != nil {
		return err
	}
	l.broken, l.lost = nil, 0
	return nil
}

// rotate fsyncs and closes the current file and starts the next one. l.mu
// is held.
func (l *Log) rotate() error {
	if err := l.syncLocked(); err != nil {
		return err
	}
	old, oldNum := l.f, l.num
	if err := l.create(oldNum+1, fileName(oldNum)); err != nil {
		return err
	}
	l.syncMu.Lock()
	err := old.Close()
	l.syncMu.Unlock()
	if err != nil {
		l.opts.Logger.Warn("audit: close rotated file", "file", fileName(oldNum), "err", err)
	}
	return nil
}

// Close fsyncs and closes the log. Append fails after Close.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.signalSynced() // release Appends waiting for the disk
	l.mu.Unlock()
	close(l.stop)
	<-l.flushed

	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.syncLocked()
	l.syncMu.Lock()
	if cerr := l.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", fileName(l.num), cerr)
	}
	l.syncMu.Unlock()
	if l.lock != nil {
		l.lock.Close() // releases the writer lock
	}
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Head is the end of the chain: the last record written.
type Head struct {
	File string `json:"file"`
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// Head returns the end of the chain. Keeping it somewhere else (a system
// journal, another machine) lets Verify's caller later notice a log cut
// short or an edited last record, which a chain alone cannot show.
func (l *Log) Head() Head {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Head{File: l.headFile, Seq: l.seq, Hash: l.prev}
}

// ID returns the log's random id.
func (l *Log) ID() string { return l.logID }
