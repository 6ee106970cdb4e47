package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// MaxFrame is the largest request accepted: OpenSSH's AGENT_MAX_LEN.
const MaxFrame = 256 * 1024

// errClosed marks an orderly end of the connection.
var errClosed = errors.New("agent: connection closed")

// readFrame reads one length-prefixed message. A zero-length frame is
// returned as an empty message (answered with a failure); an oversized one
// is an error, because the stream cannot be resynchronised without reading
// the whole thing.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			return nil, errClosed
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return nil, fmt.Errorf("agent: frame of %d bytes exceeds %d", n, MaxFrame)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("agent: truncated frame: %w", err)
	}
	return buf, nil
}

func writeFrame(w io.Writer, msg []byte) error {
	buf := make([]byte, 4+len(msg))
	binary.BigEndian.PutUint32(buf, uint32(len(msg)))
	copy(buf[4:], msg)
	_, err := w.Write(buf)
	return err
}
