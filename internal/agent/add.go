package agent

import (
	"bytes"
	"crypto"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/destrict"
	"github.com/vigil-agent/vigil/internal/keystore"
)

// add handles ADD_IDENTITY and ADD_ID_CONSTRAINED.
//
// The wire format of private keys (one layout per key type, certificates,
// constraints) is parsed by x/crypto's own server, run on this one frame:
// its parsers are reviewed and fuzzed upstream, and they refuse unknown
// constraint types. capture receives the parsed key instead of a keyring.
func (a *Agent) add(c *conn, req []byte, start time.Time) []byte {
	added, err := parseAdd(req)
	if err != nil {
		a.log.Warn("add key refused", "caller", c.who.String(), "err", err)
		a.recordAdmin(c, audit.KindAdd, audit.Denied, "", err.Error(), start)
		return failure
	}
	fp := ""
	if pub, err := ssh.NewPublicKey(publicOf(added.PrivateKey)); err == nil {
		fp = ssh.FingerprintSHA256(pub)
	}
	var dest []destrict.Constraint
	for _, ext := range added.ConstraintExtensions {
		if ext.ExtensionName != destrict.Name || dest != nil {
			// Never accept a key while dropping a restriction the user
			// asked for (x/crypto's CVE-2026-39832): refuse the whole add.
			a.log.Warn("add key refused: unsupported or repeated constraint", "caller", c.who.String(), "constraint", ext.ExtensionName)
			a.recordAdmin(c, audit.KindAdd, audit.Denied, fp, "unsupported constraint "+ext.ExtensionName, start)
			return failure
		}
		if dest, err = destrict.Parse(ext.ExtensionDetails); err != nil {
			a.log.Warn("add key refused: bad destination constraint", "caller", c.who.String(), "err", err)
			a.recordAdmin(c, audit.KindAdd, audit.Denied, fp, err.Error(), start)
			return failure
		}
	}
	lifetime := time.Duration(added.LifetimeSecs) * time.Second
	if lifetime == 0 {
		lifetime = a.cfg.DefaultLifetime
	}
	k, err := a.cfg.Keys.Add(added.PrivateKey, added.Certificate, added.Comment,
		keystore.Constraints{Confirm: added.ConfirmBeforeUse, Lifetime: lifetime, Dest: dest})
	if err != nil {
		a.log.Warn("add key refused", "caller", c.who.String(), "err", err)
		a.recordAdmin(c, audit.KindAdd, audit.Denied, fp, err.Error(), start)
		return failure
	}
	a.recordAdmin(c, audit.KindAdd, audit.Allowed, k.Fingerprint, k.Describe(), start)
	a.window.openNow()
	a.log.Info("key added", "fp", k.Fingerprint, "type", k.Describe(), "confirm", k.Confirm,
		"lifetime", lifetime, "caller", c.who.String())
	return success
}

// publicOf returns the public half of a parsed private key, or nil.
func publicOf(priv any) any {
	if s, ok := priv.(interface{ Public() crypto.PublicKey }); ok {
		return s.Public()
	}
	return nil
}

var errNoKey = errors.New("agent: add request carried no key")

func parseAdd(req []byte) (agent.AddedKey, error) {
	framed := make([]byte, 4, 4+len(req))
	binary.BigEndian.PutUint32(framed, uint32(len(req)))
	framed = append(framed, req...)
	var reply bytes.Buffer
	got := &capture{}
	// ServeAgent returns io.EOF after the one frame; the reply it wrote
	// says whether the parse succeeded.
	_ = agent.ServeAgent(got, struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(framed), &reply})
	clear(framed)
	if got.key == nil {
		return agent.AddedKey{}, fmt.Errorf("malformed or unsupported key")
	}
	return *got.key, nil
}

// capture is an agent.Agent that only records the key it is asked to add.
type capture struct{ key *agent.AddedKey }

var errOnlyAdd = errors.New("agent: unexpected request")

func (c *capture) Add(k agent.AddedKey) error {
	if k.PrivateKey == nil {
		return errNoKey
	}
	c.key = &k
	return nil
}

func (*capture) List() ([]*agent.Key, error)                        { return nil, errOnlyAdd }
func (*capture) Sign(ssh.PublicKey, []byte) (*ssh.Signature, error) { return nil, errOnlyAdd }
func (*capture) Remove(ssh.PublicKey) error                         { return errOnlyAdd }
func (*capture) RemoveAll() error                                   { return errOnlyAdd }
func (*capture) Lock([]byte) error                                  { return errOnlyAdd }
func (*capture) Unlock([]byte) error                                { return errOnlyAdd }
func (*capture) Signers() ([]ssh.Signer, error)                     { return nil, errOnlyAdd }
