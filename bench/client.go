//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// agentConn is one client connection, driven the way OpenSSH's own clients
// drive one: blocking system calls on a plain socket, one write per request
// and, for a reply that fits the buffer, one read.
//
// The benchmark runs on the same cores as the agents, so whatever a request
// costs the client is CPU the agents cannot have. Through Go's net package
// and x/crypto's agent client a request costs the client about 50 µs (two
// reads through the runtime's poller, reflection on both sides): as much as
// a fast agent spends answering it, which would cap every multi-threaded
// agent near half the machine. A blocking read costs no poller round trip.
type agentConn struct {
	fd  int
	buf []byte
}

// connError is a failure of the connection itself, after which it cannot
// be used; an agent's refusal is a plain error.
type connError struct{ err error }

func (e *connError) Error() string { return e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// maxReply bounds a reply: OpenSSH's agent caps messages at 256 KiB.
const maxReply = 256 << 10

// dialAgent connects to the agent at sock. Every system call on the
// connection, the connect included, gives up after timeout (SO_SNDTIMEO
// and SO_RCVTIMEO), so no agent can hang the benchmark. A connect to an
// agent whose listen backlog is full waits for room, as a real client's
// blocking connect does.
func dialAgent(sock string, timeout time.Duration) (*agentConn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &connError{fmt.Errorf("socket: %w", err)}
	}
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	for _, opt := range []int{unix.SO_SNDTIMEO, unix.SO_RCVTIMEO} {
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, opt, &tv); err != nil {
			unix.Close(fd)
			return nil, &connError{fmt.Errorf("setsockopt: %w", err)}
		}
	}
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: sock})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, &connError{fmt.Errorf("connect %s: %w", sock, timeoutErr(err))}
	}
	return &agentConn{fd: fd, buf: make([]byte, 4096)}, nil
}

func (c *agentConn) Close() error { return unix.Close(c.fd) }

// timeoutErr names EAGAIN on a blocking socket for what it is.
func timeoutErr(err error) error {
	if err == unix.EAGAIN {
		return fmt.Errorf("timed out (%w)", err)
	}
	return err
}

// roundTrip writes one request frame (length prefix included) and returns
// the reply's message, without its length prefix. The message is valid
// until the next call.
func (c *agentConn) roundTrip(frame []byte) ([]byte, error) {
	for w := frame; len(w) > 0; {
		n, err := unix.Write(c.fd, w)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &connError{fmt.Errorf("write: %w", timeoutErr(err))}
		}
		w = w[n:]
	}
	n := 0
	for {
		m, err := unix.Read(c.fd, c.buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &connError{fmt.Errorf("read: %w", timeoutErr(err))}
		}
		if m == 0 {
			return nil, &connError{io.ErrUnexpectedEOF}
		}
		n += m
		if n < 4 {
			continue
		}
		size := int(binary.BigEndian.Uint32(c.buf))
		switch {
		case size > maxReply:
			return nil, &connError{fmt.Errorf("reply of %d bytes is longer than %d", size, maxReply)}
		case n > 4+size:
			return nil, &connError{errors.New("agent sent more than one reply")}
		case n == 4+size:
			return c.buf[4:n], nil
		case 4+size > len(c.buf):
			c.buf = append(c.buf, make([]byte, 4+size-len(c.buf))...)
		}
	}
}

// Agent protocol message numbers the benchmark sends and expects.
const (
	msgFailure      = 5
	msgRequestIDs   = 11
	msgIDsAnswer    = 12
	msgSignRequest  = 13
	msgSignResponse = 14
)

// request is the frame of the operation's request, signing data.
func (o operation) request(data []byte) []byte {
	var msg []byte
	if o.key == nil {
		msg = []byte{msgRequestIDs}
	} else {
		msg = ssh.Marshal(struct {
			Type  byte
			Key   []byte
			Data  []byte
			Flags uint32
		}{msgSignRequest, o.key.pub.Marshal(), data, uint32(o.key.flags)})
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...)
}
