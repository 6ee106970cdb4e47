//go:build unix

package fileperm

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"
	"time"
)

// info is a FileInfo with a chosen mode and owner: a file of another user
// cannot be made without root.
type info struct {
	mode fs.FileMode
	uid  int
}

func (i info) Name() string       { return "f" }
func (i info) Size() int64        { return 0 }
func (i info) Mode() fs.FileMode  { return i.mode }
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return i.mode.IsDir() }
func (i info) Sys() any           { return &syscall.Stat_t{Uid: uint32(i.uid)} }

func TestCheck(t *testing.T) {
	me := os.Geteuid()
	tests := []struct {
		name string
		fi   info
		perm fs.FileMode
		ok   bool
	}{
		{"private file", info{0o600, me}, 0o600, true},
		{"stricter than asked", info{0o400, me}, 0o644, true},
		{"readable when readable is allowed", info{0o644, me}, 0o644, true},
		{"group-readable", info{0o640, me}, 0o600, false},
		{"group-writable", info{0o664, me}, 0o644, false},
		{"world-writable directory", info{fs.ModeDir | 0o777, me}, 0o755, false},
		{"another user's", info{0o600, me + 1}, 0o600, false},
	}
	for _, tt := range tests {
		err := Check(tt.fi, tt.perm)
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInsecure)) {
			t.Errorf("%s: Check = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestCheckRootOwnedOK(t *testing.T) {
	me := os.Geteuid()
	other := me + 1
	if me == 0 {
		other = 4242
	}
	tests := []struct {
		name string
		fi   info
		ok   bool
	}{
		{"mine", info{0o644, me}, true},
		{"root's", info{0o644, 0}, true},
		{"root's but group-writable", info{0o664, 0}, false},
		{"another user's", info{0o644, other}, false},
	}
	for _, tt := range tests {
		err := CheckRootOwnedOK(tt.fi, 0o644)
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInsecure)) {
			t.Errorf("%s: CheckRootOwnedOK = %v, want ok %v", tt.name, err, tt.ok)
		}
		if tt.fi.uid == 0 && me != 0 && Check(tt.fi, 0o644) == nil {
			t.Errorf("%s: Check accepts root's file; only CheckRootOwnedOK should", tt.name)
		}
	}
}
