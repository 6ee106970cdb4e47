//go:build unix

package daemon

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

func ensurePrivateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create socket directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("refusing socket directory %s: it is a symlink", dir)
	case !fi.IsDir():
		return fmt.Errorf("refusing socket directory %s: not a directory", dir)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("refusing socket directory %s: mode %04o lets other users in (chmod 700 %s)", dir, fi.Mode().Perm(), dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("refusing socket directory %s: owned by uid %d, not %d", dir, st.Uid, os.Geteuid())
	}
	return nil
}
