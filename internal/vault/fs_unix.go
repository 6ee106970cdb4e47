//go:build unix

package vault

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

var errSymlink = errors.New("symbolic link")

// openNoFollow opens path for reading, failing with errSymlink if its last
// component is a symbolic link.
func openNoFollow(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, errSymlink
	}
	return f, err
}

// syncDir makes renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// lockDir takes an flock on the directory itself, exclusive for writers and
// shared for readers, and returns the function that releases it. flock locks
// belong to the open file, so two Vaults in one process exclude each other
// as two processes do. It waits as long as it takes: holders never wait for
// a person.
func lockDir(dir string, exclusive bool) (func(), error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(int(d.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		d.Close()
		return nil, &os.PathError{Op: "flock", Path: dir, Err: err}
	}
	return func() { d.Close() }, nil
}
