package vault

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-agent/vigil/internal/fileperm"
)

// checkMode refuses a file or directory that other users could read or
// write, or that someone else owns. perm is the loosest mode allowed.
func checkMode(fi fs.FileInfo, perm fs.FileMode) error { return fileperm.Check(fi, perm) }

// checkDir checks the store directory: it is one, and only its owner can
// use it. It follows a symlink (a user may keep the store elsewhere) and
// checks the target.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("vault: %s: not a directory", dir)
	}
	if err := checkMode(fi, 0o700); err != nil {
		return fmt.Errorf("vault: %s: %w", dir, err)
	}
	return nil
}

// readFile reads a file of the store, refusing symlinks, anything but a
// regular file, loose permissions, another owner, and more than
// maxFileSize bytes. The checks are made on the open file, not the name.
// A missing file is reported as an error wrapping fs.ErrNotExist.
func readFile(path string) ([]byte, error) {
	f, err := openNoFollow(path)
	if err != nil {
		if errors.Is(err, errSymlink) {
			return nil, fmt.Errorf("%w: a symbolic link", ErrInsecure)
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: not a regular file", ErrInsecure)
	}
	if err := checkMode(fi, 0o600); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	return data, nil
}

// writeAtomic replaces dir/name with data: a temporary file in dir is
// written, fsynced and renamed over name, then dir is fsynced. A crash at
// any point leaves name either as it was or as data, and at worst a
// temporary file, which sweepTemps removes. The caller holds the store's
// write lock.
func writeAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	// CreateTemp uses 0600; say so anyway, whatever the umask.
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// removeFile removes dir/name and makes the removal durable.
func removeFile(dir, name string) error {
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// sweepTemps removes temporary files left by writers that died. Every writer
// holds the write lock while its temporary file exists, so when the caller
// holds it, every temporary file is stale.
func sweepTemps(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// keyNames returns the names of the key files in dir, sorted.
func keyNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, keySuffix) && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	return names, nil
}
