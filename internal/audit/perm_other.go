//go:build !unix

package audit

import (
	"fmt"
	"os"
)

// On systems without Unix owners and modes the directory's access control
// is left to the system; only the file type is checked.

func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

func checkFile(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	return nil
}

func openFile(path string, flag int) (*os.File, error) {
	if err := checkFile(path); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return os.OpenFile(path, flag, 0o600)
}

func openRead(path string) (*os.File, error) { return os.Open(path) }

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

func syncDir(string) error { return nil }
