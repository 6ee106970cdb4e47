// Package fileperm checks that a file or directory holding vigil's state is
// the user's own and closed to other users, so that nobody else can have
// written what vigil is about to trust.
package fileperm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrInsecure is wrapped by every refusal of Check.
var ErrInsecure = errors.New("insecure")

// Check refuses fi if its permissions go beyond perm (the loosest mode
// allowed) or another user owns it. Where modes and owners mean nothing
// portable (Windows), it accepts everything: the state there relies on the
// user's profile directory being private.
func Check(fi fs.FileInfo, perm fs.FileMode) error {
	return check(fi, perm, false)
}

// CheckRootOwnedOK is Check for files the user may share with the system,
// such as a config file kept under /etc: it also accepts root as the
// owner, since root can change anything of the user's anyway.
func CheckRootOwnedOK(fi fs.FileInfo, perm fs.FileMode) error {
	return check(fi, perm, true)
}

func check(fi fs.FileInfo, perm fs.FileMode, rootOK bool) error {
	if !Enforced {
		return nil
	}
	if m := fi.Mode().Perm(); m&^perm != 0 {
		return fmt.Errorf("%w: mode %#o, want %#o or stricter", ErrInsecure, m, perm)
	}
	if uid, ok := owner(fi); ok && uid != os.Geteuid() && !(rootOK && uid == 0) {
		return fmt.Errorf("%w: owned by uid %d, not by uid %d", ErrInsecure, uid, os.Geteuid())
	}
	return nil
}
