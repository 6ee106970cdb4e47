// Package knownhosts names an SSH server from its host key, using the
// user's known_hosts files the way ssh(1) reads them.
//
// vigil learns a server's host key from the session-bind@openssh.com message
// that ssh sends to the agent; the server proved it holds the key by signing
// the session id. Lookup turns that key into a name the user can read, and
// says whether a known_hosts line vouches for the name (Verified), whether a
// @revoked line forbids the key (Revoked), and nothing more: a name that only
// comes from the calling ssh's command line is never reported as verified.
//
// Plain entries are found by key. Hashed entries (|1|salt|hash, Debian's
// default) and entries with wildcard patterns can only be matched against
// candidate names, such as the destination on the calling ssh's command line
// (see ParseSSHArgs and Dest.Candidates). A host certificate is verified for
// a name when a @cert-authority line for that name lists the certificate's
// signing key and the certificate is valid for the name, as ssh checks it.
//
// Nothing here sanitises names for display: that is the caller's job.
package knownhosts

import (
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Limits on what Lookup reads. A known_hosts file larger than maxFileSize
// makes every Lookup that names it report the key as unknown: it cannot have
// been checked completely, and it might hold a @revoked line.
const (
	maxFileSize   = 64 << 20
	maxCachedFile = 64   // parsed files kept; the cache is emptied beyond this
	maxCandidates = 16   // candidate names considered per lookup
	maxNameLen    = 1025 // NI_MAXHOST; longer candidate names are ignored
)

// Result is what the known_hosts files say about a host key.
type Result struct {
	// Name is the name to show for the key: the first candidate it is
	// verified for, else the first name a known_hosts line lists it under,
	// else a certificate principal a @cert-authority line vouches for.
	// It is "" when the key is unknown or revoked.
	Name string

	// Verified is true when Name is vouched for by a known_hosts line: a
	// plain entry listing the key under that name, a hashed or wildcard entry
	// that matched a candidate, or a @cert-authority line whose key signed
	// the host certificate. It is true exactly when Name is not "".
	Verified bool

	// Revoked is true when a @revoked line lists the key, or the key is a
	// certificate whose signing key a @revoked line lists. Such a key is
	// never named: Name is "" and Verified is false. Revocation applies
	// whatever host names the @revoked line carries (stricter than ssh).
	Revoked bool

	// Authority is true when Name was verified through a @cert-authority
	// line (the key is a host certificate).
	Authority bool

	// Changed is true when a candidate is listed in a plain or hashed entry,
	// but only with other keys: what ssh calls a changed host key. The key
	// may still be Verified under another name.
	Changed bool

	// Names lists every name the key is verified for, Name first.
	Names []string

	// File and Line locate the known_hosts line that verified Name or
	// revoked the key.
	File string
	Line int
}

// DefaultFiles returns the known_hosts files ssh reads when its
// configuration does not name others: the user's, under home, and the
// system's. With home "", only the system files are returned.
func DefaultFiles(home string) []string {
	var files []string
	if home != "" {
		files = append(files,
			filepath.Join(home, ".ssh", "known_hosts"),
			filepath.Join(home, ".ssh", "known_hosts2"))
	}
	return append(files, "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
}

// A Cache keeps parsed known_hosts files, keyed by path and checked against
// the file's identity, modification time and size on every lookup, so an
// unchanged file is parsed once. The zero value is ready to use, and a Cache
// is safe for concurrent use.
type Cache struct {
	mu     sync.Mutex
	files  map[string]*hostFile
	parsed int // files read and parsed, for tests
}

var defaultCache Cache

// Lookup names key from the known_hosts files, trying candidates (host
// names as ssh would look them up: "host", or "[host]:port" for a port other
// than 22) against hashed and wildcard entries. Files that are missing,
// unreadable, not regular or not absolute paths are skipped; lines that do
// not parse are skipped, as ssh skips them. It uses a process-wide Cache.
func Lookup(key ssh.PublicKey, files, candidates []string) Result {
	return defaultCache.Lookup(key, files, candidates)
}

// Lookup is like the package-level Lookup, with c's cache.
func (c *Cache) Lookup(key ssh.PublicKey, files, candidates []string) Result {
	var hfs []*hostFile
	seen := make(map[string]bool, len(files))
	for _, path := range files {
		if seen[path] {
			continue
		}
		seen[path] = true
		hf := c.load(path)
		if hf == nil {
			continue
		}
		if hf.tooBig {
			return Result{}
		}
		hfs = append(hfs, hf)
	}
	return lookup(key, hfs, candidates, time.Now())
}

// hostFile is one parsed known_hosts file.
type hostFile struct {
	path    string
	info    os.FileInfo
	tooBig  bool
	entries []entry
}

func sameVersion(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// load returns the parsed file at path, from the cache when the file has not
// changed, or nil when it cannot be read.
func (c *Cache) load(path string) *hostFile {
	if path == "" || !filepath.IsAbs(path) {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		c.mu.Lock()
		delete(c.files, path)
		c.mu.Unlock()
		return nil
	}
	c.mu.Lock()
	hf := c.files[path]
	c.mu.Unlock()
	if hf != nil && sameVersion(hf.info, fi) {
		return hf
	}

	// Read outside the lock: a slow file must not hold up other lookups.
	hf = readFile(path)
	c.mu.Lock()
	defer c.mu.Unlock()
	if hf == nil {
		delete(c.files, path)
		return nil
	}
	c.parsed++
	if c.files == nil || len(c.files) >= maxCachedFile {
		c.files = make(map[string]*hostFile)
	}
	c.files[path] = hf
	return hf
}

// readFile reads and parses a regular file.
func readFile(path string) *hostFile {
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	hf := &hostFile{path: path, info: fi}
	if fi.Size() > maxFileSize {
		hf.tooBig = true
		return hf
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil
	}
	if len(data) > maxFileSize {
		hf.tooBig = true
		return hf
	}
	hf.entries = parse(data)
	return hf
}
