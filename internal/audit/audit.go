// Package audit is vigil's append-only, hash-chained event log: one JSON
// line per request that matters (a signature allowed or refused, a key
// added, an unlock, a grant, a credential released), with who asked, for
// what, through which path, what was decided and by whom. It never holds a
// secret or the signed bytes, only a SHA-256 of them.
//
// # Files
//
// The log lives in a directory of its own (vigil uses
// $XDG_STATE_HOME/vigil/audit), mode 0700, in files audit-000001.jsonl,
// audit-000002.jsonl, ..., mode 0600. Open refuses a directory or file that
// is not the user's own or that others can read or write. A file is not
// grown past Options.MaxFileSize: the record that would do it starts the
// next file. The log has one writer: an open Log holds an exclusive lock
// (flock on the file writer.lock, which holds the writer's pid) and a
// second Open of the same directory fails with ErrInUse. Readers (Read,
// Follow, Verify) take no lock.
//
// # Chain
//
// Every record has a log id (random, the same in every file), a seq (1, 2,
// 3, ... across files), and prev: the hash of the record before it. The
// hash of a record is the hex SHA-256 of its line exactly as stored, without
// the newline (see Hash); the first record's prev is Genesis(log id). The
// first record of every file after the first also names the file before it
// (prev_file). Verify walks the chain and reports the first record that is
// edited, missing, out of order or from another log, and a missing file.
//
// # Durability
//
// Append writes each record with one write call and returns: from then on
// the record survives a crash of vigil (kill -9). Records reach the disk in
// groups: the flusher fsyncs after Options.GroupSize records or
// Options.GroupWait after the first unsynced one, and Append waits for the
// disk when two groups are not yet synced; rotation fsyncs the old file
// before it creates the next, and a new file's directory entry is fsynced.
// A power loss or kernel crash can lose or damage only what was not yet
// fsynced, which is the end of the log: at most the last two groups
// (2*GroupSize records, appended within GroupWait plus one fsync's time).
// Everything before the last completed fsync is intact. A record cut in
// two (or zero-filled) by the crash is left in place and reported by Verify
// as a truncated tail, which is crash damage and not tampering; the next
// Open goes on in a new file and records what it found (kind
// audit_recovered). Sync waits until everything appended so far is on
// disk.
//
// # Failures
//
// When a record cannot be written (a full disk), Append returns an
// *AppendError carrying the configured FailurePolicy (on_audit_failure):
// Refuse means the request must be refused, Continue that it may go on
// unrecorded. The log tries again on every Append and, once it can write,
// first records how many events it missed (kind audit_gap), so a gap is
// never silent.
package audit
