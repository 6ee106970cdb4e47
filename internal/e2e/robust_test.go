package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Agent protocol message numbers (draft-miller-ssh-agent, section 6.1).
const (
	msgFailure          = 5
	msgRequestIdentites = 11
	msgIdentitiesAnswer = 12
)

// dialAgent dials a unix socket, retrying while the listen backlog is full (EAGAIN), as a blocking client would
// wait.
func dialAgent(sock string, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, syscall.EAGAIN) || time.Now().After(deadline) {
			return nil, err
		}
		// Back off briefly; this is a retry on a full backlog, not synchronisation.
		<-time.After(time.Millisecond)
	}
}

func frame(body ...byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(out, body...)
}

// readFrame reads one length-prefixed agent message.
func readFrame(c net.Conn) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > 1<<20 {
		return nil, fmt.Errorf("reply length %d", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, err
	}
	return body, nil
}

// listRaw asks for identities on c and returns how many the agent has.
func listRaw(c net.Conn) (int, error) {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(frame(msgRequestIdentites)); err != nil {
		return 0, err
	}
	body, err := readFrame(c)
	if err != nil {
		return 0, err
	}
	if len(body) < 5 || body[0] != msgIdentitiesAnswer {
		return 0, fmt.Errorf("reply %x, want SSH_AGENT_IDENTITIES_ANSWER", body)
	}
	return int(binary.BigEndian.Uint32(body[1:5])), nil
}

// TestMalformedFrames sends broken messages on raw connections. Each must get SSH_AGENT_FAILURE or a closed
// connection, promptly; afterwards the agent still serves normal clients and still holds every key.
func TestMalformedFrames(t *testing.T) {
	t.Parallel()
	a := startVigil(t, newApprover(t, "approve"))
	k1, k2 := key(t, "ed25519"), key(t, "rsa2048")
	addKeys(t, a, k1, k2)

	be32 := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name      string
		send      []byte
		closeSend bool // half-close after sending
	}{
		{name: "over 256KiB", send: cat(be32(256*1024+1), []byte{msgRequestIdentites, 1, 2, 3})},
		{name: "4GiB length", send: cat(be32(0xffffffff), []byte{msgRequestIdentites})},
		{name: "truncated", send: cat(be32(100), []byte{13, 0, 0, 0, 50, 's', 's', 'h'}), closeSend: true},
		{name: "truncated header", send: []byte{0, 0}, closeSend: true},
		{name: "zero length", send: be32(0)},
		{name: "garbage", send: []byte("GET / HTTP/1.1\r\nHost: agent\r\n\r\n")},
		{name: "unknown type 200", send: frame(200)},
		{name: "unknown type 200 with body", send: frame(200, 1, 2, 3, 4)},
		{name: "sign request garbage", send: frame(13, 0xff, 0xff, 0xff, 0xff, 1)},
		{name: "sign request empty", send: frame(13)},
		{name: "add identity garbage", send: frame(17, 0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9', 0, 0, 0, 1)},
		{name: "add constrained garbage", send: frame(25, 0, 0, 0, 3, 'x', 'y', 'z')},
		{name: "remove garbage", send: frame(18, 0, 0, 0, 200, 1)},
		{name: "lock without passphrase", send: frame(22)},
		{name: "unlock garbage", send: frame(23, 0, 0, 1, 0)},
		{name: "extension garbage", send: frame(27, 0, 0, 0, 50, 'x')},
		{name: "unknown extension", send: frame(27, 0, 0, 0, 12, 'n', 'o', '-', 's', 'u', 'c', 'h', '@', 'x', '.', 'y', 'z')},
		{name: "session-bind garbage", send: frame(cat([]byte{27}, be32(28), []byte("session-bind@openssh.com"), []byte{0, 0, 0, 9, 1})...)},
	}
	for _, tt := range tests {
		c, err := dialAgent(a.sock, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(tt.send); err != nil {
			t.Errorf("%s: write: %v", tt.name, err)
		}
		if tt.closeSend {
			c.(*net.UnixConn).CloseWrite()
		}
		var reply [5]byte
		n, err := io.ReadFull(c, reply[:])
		switch {
		case n == 5 && reply == [5]byte{0, 0, 0, 1, msgFailure}:
			t.Logf("%s: SSH_AGENT_FAILURE", tt.name)
		case n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
			t.Logf("%s: connection closed", tt.name)
		default:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("%s: no reply and no close within 5s", tt.name)
			} else {
				t.Errorf("%s: got %x (%v), want SSH_AGENT_FAILURE or a closed connection", tt.name, reply[:n], err)
			}
		}
		c.Close()
	}

	// A request split over two writes is still one request.
	c, err := dialAgent(a.sock, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	f := frame(msgRequestIdentites)
	c.Write(f[:2])
	c.Write(f[2:])
	if body, err := readFrame(c); err != nil || len(body) < 5 || body[0] != msgIdentitiesAnswer {
		t.Errorf("split request: reply %x, %v", body, err)
	}
	c.Close()

	if a.p.exited() {
		t.Fatalf("agent exited: %v", a.p.err)
	}
	l := sshAddList(t, a.sock)
	if len(l) != 2 || !hasFingerprint(l, k1.fingerprint()) || !hasFingerprint(l, k2.fingerprint()) {
		t.Fatalf("after the malformed frames, ssh-add -l lists %+v, want both keys", l)
	}
	s := sshsign(t, a.sock, k1, "file")
	if s.res.code != 0 {
		t.Errorf("sign after the malformed frames: %v", s.res)
	}
}

// TestManyClients holds 200 connections open while 200 more list keys concurrently, three times over, and
// reports the agent's resident memory around each round.
func TestManyClients(t *testing.T) {
	t.Parallel()
	const n = 200
	a := startVigil(t, newApprover(t, "approve"))
	k := key(t, "ed25519")
	addKeys(t, a, k)
	pid := a.p.pid()

	for round := 1; round <= 3; round++ {
		before := rss(t, pid)
		held := make([]net.Conn, 0, n)
		for range n {
			c, err := dialAgent(a.sock, 30*time.Second)
			if err != nil {
				t.Fatalf("round %d: dial held connection %d: %v", round, len(held), err)
			}
			held = append(held, c)
		}
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		start := time.Now()
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := func() error {
					c, err := dialAgent(a.sock, 30*time.Second)
					if err != nil {
						return err
					}
					defer c.Close()
					got, err := listRaw(c)
					if err == nil && got != 1 {
						err = fmt.Errorf("%d keys listed, want 1", got)
					}
					return err
				}()
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("client %d: %w", i, err))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		concurrent := time.Since(start)
		peak := rss(t, pid)
		// The held connections are served too.
		for i, c := range held {
			if got, err := listRaw(c); err != nil || got != 1 {
				errs = append(errs, fmt.Errorf("held connection %d: %d keys, %v", i, got, err))
			}
		}
		for _, c := range held {
			c.Close()
		}
		if len(errs) > 0 {
			t.Fatalf("round %d: %d of %d clients failed; first: %v", round, len(errs), 2*n, errs[0])
		}
		// Let the agent notice the closed connections: a round trip on a fresh one.
		if c, err := dialAgent(a.sock, 10*time.Second); err == nil {
			listRaw(c)
			c.Close()
		}
		t.Logf("round %d: %d held + %d concurrent lists in %v; VmRSS before %d KiB, with all open %d KiB, after %d KiB",
			round, n, n, concurrent.Round(time.Millisecond), before, peak, rss(t, pid))
	}
	if l := sshAddList(t, a.sock); len(l) != 1 {
		t.Fatalf("ssh-add -l after the load: %+v", l)
	}
}
