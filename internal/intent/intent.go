// Package intent works out what a signature request is for, from the bytes
// to be signed: an SSH login (RFC 4252 publickey user authentication), an
// SSHSIG signature (ssh-keygen -Y sign: git commits, files, any namespace),
// or something unknown. It is pure parsing: nothing here is trusted until
// the agent cross-checks it (for a login, against the session-bind the
// client sent on the same connection).
package intent

import (
	"bytes"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-agent/vigil/internal/sanitize"
)

// Kind is the broad purpose of a signature.
type Kind int

const (
	Unknown Kind = iota
	Login        // SSH user authentication
	SSHSIG       // ssh-keygen -Y sign, any namespace
)

// Intent is what a signature request asks for.
type Intent struct {
	Kind Kind

	// Login: from the SSH_MSG_USERAUTH_REQUEST being signed.
	SessionID []byte
	User      string
	Service   string
	Algorithm string
	HostKey   ssh.PublicKey // set for publickey-hostbound-v00@openssh.com

	// SSHSIG: the namespace ("git", "file", ...) and hash algorithm.
	Namespace string
	HashAlg   string

	Len int // length of the data to be signed
}

const (
	msgUserAuthRequest = 50
	sshsigMagic        = "SSHSIG"
)

// Parse classifies data. It never fails: what it cannot recognise is Unknown.
func Parse(data []byte) Intent {
	if in, ok := parseSSHSIG(data); ok {
		return in
	}
	if in, ok := parseUserAuth(data); ok {
		return in
	}
	return Intent{Kind: Unknown, Len: len(data)}
}

func parseSSHSIG(data []byte) (Intent, bool) {
	rest, ok := bytes.CutPrefix(data, []byte(sshsigMagic))
	if !ok {
		return Intent{}, false
	}
	var blob struct {
		Namespace string
		Reserved  []byte
		HashAlg   string
		Hash      []byte
	}
	if ssh.Unmarshal(rest, &blob) != nil || blob.Namespace == "" {
		return Intent{}, false
	}
	switch blob.HashAlg {
	case "sha256", "sha512":
	default:
		return Intent{}, false
	}
	return Intent{Kind: SSHSIG, Namespace: blob.Namespace, HashAlg: blob.HashAlg, Len: len(data)}, true
}

func parseUserAuth(data []byte) (Intent, bool) {
	// string session_id, byte 50, string user, string service,
	// string "publickey" or "publickey-hostbound-v00@openssh.com",
	// bool TRUE, string algorithm, string public key [, string host key]
	var req struct {
		SessionID []byte
		Type      byte
		User      string
		Service   string
		Method    string
		HasSig    bool
		Algorithm string
		PubKey    []byte
		Rest      []byte `ssh:"rest"`
	}
	if ssh.Unmarshal(data, &req) != nil || req.Type != msgUserAuthRequest || !req.HasSig {
		return Intent{}, false
	}
	in := Intent{
		Kind: Login, SessionID: req.SessionID, User: req.User, Service: req.Service,
		Algorithm: req.Algorithm, Len: len(data),
	}
	switch req.Method {
	case "publickey":
		if len(req.Rest) != 0 {
			return Intent{}, false
		}
	case "publickey-hostbound-v00@openssh.com":
		var hb struct{ HostKey []byte }
		if ssh.Unmarshal(req.Rest, &hb) != nil {
			return Intent{}, false
		}
		hk, err := ssh.ParsePublicKey(hb.HostKey)
		if err != nil {
			return Intent{}, false
		}
		in.HostKey = hk
	default:
		return Intent{}, false
	}
	return in, true
}

// String describes the intent for a person, one line, sanitised.
func (in Intent) String() string {
	switch in.Kind {
	case Login:
		s := fmt.Sprintf("SSH login as %s (service %s)", sanitize.Quote(in.User, 64), sanitize.Line(in.Service, 32))
		if in.HostKey != nil {
			s += " to the server with host key " + ssh.FingerprintSHA256(in.HostKey)
		}
		return s
	case SSHSIG:
		what := "namespace " + sanitize.Quote(in.Namespace, 64)
		switch in.Namespace {
		case "git":
			what = "a git commit or tag (namespace \"git\")"
		case "file":
			what = "a file (namespace \"file\")"
		}
		return "sign " + what + " with ssh-keygen -Y sign"
	}
	return fmt.Sprintf("unrecognised data (%d bytes)", in.Len)
}
