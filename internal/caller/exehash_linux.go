package caller

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// fileKey identifies one version of one file: a new file, or a change to
// the content, gives a new key. ctime cannot be set by a user, so restoring
// mtime after a rewrite does not bring an old key back; btime (where the
// file system has it) tells a new file on a reused inode from the old one.
type fileKey struct {
	devMajor, devMinor uint32
	ino, size          uint64
	mtime, ctime       unix.StatxTimestamp
	btime              unix.StatxTimestamp
}

const statxMask = unix.STATX_TYPE | unix.STATX_INO | unix.STATX_SIZE |
	unix.STATX_MTIME | unix.STATX_CTIME | unix.STATX_BTIME

func keyOf(s *unix.Statx_t) fileKey {
	k := fileKey{
		devMajor: s.Dev_major, devMinor: s.Dev_minor,
		ino: s.Ino, size: s.Size, mtime: s.Mtime, ctime: s.Ctime,
	}
	if s.Mask&unix.STATX_BTIME != 0 {
		k.btime = s.Btime
	}
	return k
}

const maxCached = 1024

var (
	hashCache = struct {
		sync.Mutex
		m map[fileKey]string
	}{m: make(map[fileKey]string)}

	// hashCount counts executables hashed, so tests can see the cache work.
	hashCount atomic.Uint64
)

// exeHash returns the hex SHA-256 of the executable behind dir, whose
// statx is stx, from the cache when this version of the file was hashed
// before. It returns "" when the content cannot be read (an execute-only
// file, not a regular file) or changed while it was read.
func exeHash(dir int, key fileKey, stx *unix.Statx_t) string {
	hashCache.Lock()
	h, ok := hashCache.m[key]
	hashCache.Unlock()
	if ok {
		return h
	}
	if stx.Mode&unix.S_IFMT != unix.S_IFREG {
		return ""
	}
	// Opening /proc/PID/exe opens the file that is running, wherever its
	// path now leads.
	fd, err := unix.Openat(dir, "exe", unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	h, err = hashFD(fd, key)
	if err != nil {
		return ""
	}
	hashCache.Lock()
	if len(hashCache.m) >= maxCached {
		for k := range hashCache.m { // evict one, arbitrarily
			delete(hashCache.m, k)
			break
		}
	}
	hashCache.m[key] = h
	hashCache.Unlock()
	return h
}

// hashFD hashes the open file fd, which must be the file version key before
// and after reading it.
func hashFD(fd int, key fileKey) (string, error) {
	check := func() error {
		var s unix.Statx_t
		if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, statxMask, &s); err != nil {
			return err
		}
		if keyOf(&s) != key {
			return errChanged
		}
		return nil
	}
	if err := check(); err != nil {
		return "", err
	}
	hashCount.Add(1)
	sum := sha256.New()
	buf := make([]byte, 128<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", err
		}
		if n == 0 {
			break
		}
		sum.Write(buf[:n])
	}
	if err := check(); err != nil {
		return "", err
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}
