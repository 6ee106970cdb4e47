//go:build !unix

package vault

import (
	"errors"
	"io/fs"
	"os"
)

var errSymlink = errors.New("symbolic link")

func openNoFollow(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, errSymlink
	}
	return os.Open(path)
}

func syncDir(string) error { return nil }

// lockDir does not lock: writers in several processes are not serialised.
func lockDir(string, bool) (func(), error) { return func() {}, nil }
