package agent

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/ssh"
	sshagent "golang.org/x/crypto/ssh/agent"

	"github.com/vigil-agent/vigil/internal/sanitize"
)

// msgExtensionFailure is SSH_AGENT_EXTENSION_FAILURE (OpenSSH's
// PROTOCOL.agent): the agent serves the extension, and the extension itself
// failed; what follows the byte is up to the extension.
const msgExtensionFailure = 28

// maxReason bounds the reason a refusal carries: one line of a message.
const maxReason = 300

// RefusedError is a vigil extension's refusal, with the reason the agent
// gave: a short line the agent made safe to show, such as "no grant 99".
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

// refusal is the reply to a vigil extension that failed:
// SSH_AGENT_EXTENSION_FAILURE and the reason as one string, so that the
// command line can say why instead of pointing at the agent's log. err is
// worded by vigil (the extension's contract: no secret in it); what a caller
// chose in it was quoted where it was put in, and anything left unsafe is
// escaped here.
func refusal(err error) []byte {
	reason := ssh.Marshal(struct{ Reason string }{sanitize.Composed(err.Error(), maxReason)})
	return append([]byte{msgExtensionFailure}, reason...)
}

// Client sends extension messages to an agent on one connection. Unlike
// x/crypto's client, which drops what follows SSH_AGENT_EXTENSION_FAILURE,
// it returns a vigil extension's refusal as a *RefusedError with its reason.
type Client struct{ rw io.ReadWriter }

// NewClient talks to the agent on rw, one request at a time.
func NewClient(rw io.ReadWriter) *Client { return &Client{rw: rw} }

// Extension sends one SSH_AGENTC_EXTENSION and returns the reply, its
// SSH_AGENT_SUCCESS byte first, as x/crypto's client does. SSH_AGENT_FAILURE
// (the agent does not serve name) is x/crypto's ErrExtensionUnsupported.
func (c *Client) Extension(name string, contents []byte) ([]byte, error) {
	req := ssh.Marshal(struct {
		Name     string `sshtype:"27"`
		Contents []byte `ssh:"rest"`
	}{name, contents})
	if err := writeFrame(c.rw, req); err != nil {
		return nil, err
	}
	reply, err := readFrame(c.rw)
	if errors.Is(err, errClosed) {
		return nil, errors.New("the agent closed the connection")
	}
	if err != nil {
		return nil, err
	}
	return extensionReply(reply)
}

// extensionReply checks the agent's answer to an extension message.
func extensionReply(reply []byte) ([]byte, error) {
	switch {
	case len(reply) == 0:
		return nil, errors.New("agent: empty answer")
	case reply[0] == msgFailure:
		return nil, sshagent.ErrExtensionUnsupported
	case reply[0] == msgExtensionFailure:
		var m struct{ Reason string }
		if ssh.Unmarshal(reply[1:], &m) != nil || m.Reason == "" {
			return nil, &RefusedError{Reason: "refused, without a reason"}
		}
		// The agent escaped it; an agent that is not vigil may not have.
		return nil, &RefusedError{Reason: sanitize.Composed(m.Reason, maxReason)}
	case reply[0] != msgSuccess:
		return nil, fmt.Errorf("agent: unexpected answer of type %d", reply[0])
	}
	return reply, nil
}
