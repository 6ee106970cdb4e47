package broker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"golang.org/x/crypto/ssh/agent"

	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/credential/cargo"
)

// PluginConfig is what RunCargoPlugin needs.
type PluginConfig struct {
	// Sockets are the agent sockets to try, in order (SSH_AUTH_SOCK, then
	// vigil's default). The first one that serves CargoExtension is used;
	// nothing is sent to an agent that does not.
	Sockets []string
	Stdin   io.Reader
	Stdout  io.Writer
	// ReadToken asks the person for the token of a cargo login that came
	// without one (cargo's stdin was empty), on the terminal. Nil: there is
	// no terminal, and such a login fails saying how to give the token.
	ReadToken func(registry string) (credential.Token, error)
}

// RunCargoPlugin is one run of vigil as cargo's credential provider: the
// hello, one request read from Stdin and forwarded to the agent, the agent's
// answer written to Stdout, then Stdin read to its end. It holds no token
// beyond the one passing through, and never falls back to anything but the
// agent: when no agent answers, cargo gets an error saying so. Only protocol
// lines reach Stdout. The error is for the process's exit status: it is
// returned only when cargo could not be answered.
func RunCargoPlugin(ctx context.Context, cfg PluginConfig) error {
	out := bufio.NewWriter(cfg.Stdout)
	if _, err := out.Write(cargo.EncodeHello()); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	in := bufio.NewReader(cfg.Stdin)
	line, err := cargo.ReadLine(in)
	if errors.Is(err, io.EOF) {
		return nil // cargo only wanted the hello
	}
	var resp []byte
	if err != nil {
		resp = cargo.EncodeError(cargo.FromError(fmt.Errorf("vigil: reading cargo's request: %w", err)))
	} else {
		resp = forward(ctx, cfg, line)
	}
	if _, err := out.Write(resp); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	// Cargo closes stdin once it has read the answer.
	_, _ = io.Copy(io.Discard, in)
	return nil
}

// forward sends one request line to the agent and returns cargo's response
// line.
func forward(ctx context.Context, cfg PluginConfig, line []byte) []byte {
	req, err := cargo.DecodeRequest(line)
	if err != nil {
		return cargo.EncodeError(cargo.FromError(err))
	}
	if req.Kind == cargo.KindLogin && req.Token.IsZero() {
		if cfg.ReadToken == nil {
			return cargo.EncodeError(cargo.Errorf(
				"no token given, and no terminal to ask on: pass it on cargo login's stdin or command line"))
		}
		reg := req.Registry.Name
		if reg == "" {
			reg = req.Registry.IndexURL
		}
		tok, err := cfg.ReadToken(reg)
		if err != nil {
			return cargo.EncodeError(cargo.FromError(fmt.Errorf("vigil: reading the token: %w", err)))
		}
		req.Token = tok
		if line, err = cargo.EncodeRequest(req); err != nil {
			return cargo.EncodeError(cargo.FromError(err))
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
	}

	client, sock, cerr := dialVigil(ctx, cfg.Sockets)
	if cerr != nil {
		return cargo.EncodeError(cerr)
	}
	defer client.close()
	reply, err := client.Extension(CargoExtension, line)
	if err != nil {
		return cargo.EncodeError(&cargo.Error{Kind: cargo.Other,
			Message: "the vigil agent at " + sock + " did not answer", CausedBy: []string{err.Error()}})
	}
	resp := reply[1:] // Extension has checked the first byte is not a failure
	if reply[0] != 6 || !validResponse(resp) {
		return cargo.EncodeError(cargo.Errorf("the vigil agent at %s sent a malformed answer", sock))
	}
	return resp
}

// validResponse checks that resp is one response line cargo can read.
func validResponse(resp []byte) bool {
	if len(resp) == 0 || resp[len(resp)-1] != '\n' || bytes.IndexByte(resp[:len(resp)-1], '\n') >= 0 {
		return false
	}
	_, err := cargo.DecodeResponse(resp[:len(resp)-1])
	var e *cargo.Error
	return err == nil || errors.As(err, &e)
}

// agentClient is a connection to a vigil agent.
type agentClient struct {
	agent.ExtendedAgent
	conn net.Conn
	stop func() bool
}

func (c *agentClient) close() {
	c.stop()
	c.conn.Close()
}

// dialVigil connects to the first socket whose agent serves CargoExtension
// (see dialExtension), with a failure in cargo's terms.
func dialVigil(ctx context.Context, sockets []string) (*agentClient, string, *cargo.Error) {
	c, sock, err := dialExtension(ctx, sockets, CargoExtension)
	if err != nil {
		de := err.(*dialError)
		return nil, "", &cargo.Error{Kind: cargo.Other, Message: de.msg, CausedBy: de.causes}
	}
	return c, sock, nil
}
