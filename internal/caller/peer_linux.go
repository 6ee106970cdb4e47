package caller

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// On kernels without SO_PEERPIDFD (before 6.5) the peer is known only by
// the pid number SO_PEERCRED recorded at connect, and that number may name
// another process by the time it is opened. So the process found at that
// pid must hold the other end of this very connection: sock_diag gives the
// peer socket's inode, and /proc/PID/fd must contain it. An unrelated
// process that was given the pid cannot pass that test.

// From linux/unix_diag.h.
const (
	udiagShowPeer = 0x4
	unixDiagPeer  = 2
)

// peerInode returns the inode of the socket at the other end of the unix
// socket whose inode is ino.
func peerInode(ino uint64) (uint64, error) {
	if ino > 0xffffffff {
		return 0, fmt.Errorf("socket inode %d does not fit sock_diag", ino)
	}
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, err
	}
	defer unix.Close(s)
	// struct nlmsghdr, then struct unix_diag_req.
	req := make([]byte, unix.NLMSG_HDRLEN+24)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], 1) // seq
	r := req[unix.NLMSG_HDRLEN:]
	r[0] = unix.AF_UNIX
	ne.PutUint32(r[4:], 0xffffffff) // all states
	ne.PutUint32(r[8:], uint32(ino))
	ne.PutUint32(r[12:], udiagShowPeer)
	ne.PutUint32(r[16:], 0xffffffff) // no cookie
	ne.PutUint32(r[20:], 0xffffffff)
	if err := unix.Sendto(s, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, err
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(s, buf, 0)
	if err != nil {
		return 0, err
	}
	return parseDiagPeer(buf[:n])
}

var errNoPeer = errors.New("sock_diag: no peer in reply")

// parseDiagPeer finds UNIX_DIAG_PEER in a sock_diag reply.
func parseDiagPeer(b []byte) (uint64, error) {
	ne := binary.NativeEndian
	if len(b) < unix.NLMSG_HDRLEN {
		return 0, errNoPeer
	}
	l := int(ne.Uint32(b[0:]))
	typ := ne.Uint16(b[4:])
	if l < unix.NLMSG_HDRLEN || l > len(b) {
		return 0, errNoPeer
	}
	b = b[unix.NLMSG_HDRLEN:l]
	if typ == unix.NLMSG_ERROR {
		if len(b) >= 4 {
			if e := int32(ne.Uint32(b)); e < 0 {
				return 0, fmt.Errorf("sock_diag: %w", unix.Errno(-e))
			}
		}
		return 0, errNoPeer
	}
	if typ != unix.SOCK_DIAG_BY_FAMILY || len(b) < 16 { // struct unix_diag_msg
		return 0, errNoPeer
	}
	for a := b[16:]; len(a) >= 4; {
		alen := int(ne.Uint16(a[0:]))
		atyp := ne.Uint16(a[2:])
		if alen < 4 || alen > len(a) {
			break
		}
		if atyp == unixDiagPeer && alen >= 8 {
			return uint64(ne.Uint32(a[4:])), nil
		}
		a = a[min((alen+3)&^3, len(a)):]
	}
	return 0, errNoPeer
}

// holdsSocket reports whether the process behind dir has the socket with
// inode ino open.
func holdsSocket(dir int, ino uint64) (bool, error) {
	fd, err := unix.Openat(dir, "fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	want := "socket:[" + strconv.FormatUint(ino, 10) + "]"
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, err
		}
		if n == 0 {
			return false, nil
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil) // skips "." and ".."
		for _, name := range names {
			if l, err := readlinkAt(fd, name); err == nil && l == want {
				return true, nil
			}
		}
	}
}
