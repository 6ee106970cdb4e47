package broker

// Asymmetric tokens (RFC 3231, what cargo:paseto does on nightly cargo, here
// on stable): a registry may have, instead of a plain token, a P-384 secret
// key kept in the encrypted store as its k3.secret PASERK, under the label
// PasetoLabelPrefix + index-url. A get for such a registry is answered, after
// the same decision as for a plain token, with a fresh v3.public PASETO
// signed inside the agent (paseto.CargoResponse): claims iat, and for a
// mutation, mutation, name, vers and cksum; footer url and kip. The secret key
// never leaves the agent. A plain token, when one is stored, is preferred.
//
// # Wire format of the key messages
//
// They travel as CargoExtension messages whose contents are a JSON object
// with the member "vigil-cargo-key" (which no cargo request has):
//
//	{"vigil-cargo-key":"keygen","index-url":"sparse+https://…/"}
//	{"vigil-cargo-key":"public-key","index-url":"sparse+https://…/"}
//
// The reply, after SSH_AGENT_SUCCESS, is one JSON line: {"public-key":
// "k3.public.…"} or {"error":"…"}. keygen creates a key only where there is
// none (it never replaces one), and neither message asks: like cargo login,
// they hand out nothing secret.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/credential/cargo"
	"github.com/vigil-agent/vigil/internal/credential/paseto"
	"github.com/vigil-agent/vigil/internal/sanitize"
)

// PasetoLabelPrefix is how the registries' PASETO secret keys are labelled in
// the vault: the prefix, then the index-url. A key's subject, the sub claim
// of its tokens, is kept beside it under SubjectLabelPrefix.
const (
	PasetoLabelPrefix  = "cargo-paseto:"
	SubjectLabelPrefix = "cargo-paseto-sub:"
)

// maxSubject bounds a key's subject, which goes in every token.
const maxSubject = 256

// Key message operations.
const (
	KeyGen       = "keygen"
	KeyPublicKey = "public-key"
)

// PasetoKeyStore keeps one k3.secret PASERK per registry. A TokenStore that
// also implements it (VaultStore does) lets registries use asymmetric tokens.
// GetKey and RemoveKey return an error wrapping ErrNoToken when no key is
// stored.
//
// GetSubject returns the subject stored with the key ("" for none); PutKey
// and RemoveKey drop it, PutSubject sets it.
type PasetoKeyStore interface {
	GetKey(indexURL string) (credential.Token, error)
	PutKey(indexURL string, secret credential.Token) error
	RemoveKey(indexURL string) error
	GetSubject(indexURL string) (string, error)
	PutSubject(indexURL, subject string) error
}

// GetKey returns the k3.secret PASERK stored for indexURL.
func (s *VaultStore) GetKey(indexURL string) (credential.Token, error) {
	tok, err := s.tokens.Get(PasetoLabelPrefix + indexURL)
	return tok, vaultErr(err)
}

// PutKey stores the k3.secret PASERK secret for indexURL, without a subject.
func (s *VaultStore) PutKey(indexURL string, secret credential.Token) error {
	if err := s.removeSubject(indexURL); err != nil {
		return err
	}
	return vaultErr(s.tokens.Put(PasetoLabelPrefix+indexURL, secret))
}

// GetSubject returns the subject of indexURL's key, "" for none.
func (s *VaultStore) GetSubject(indexURL string) (string, error) {
	sub, err := s.tokens.Get(SubjectLabelPrefix + indexURL)
	if err = vaultErr(err); errors.Is(err, ErrNoToken) {
		return "", nil
	}
	return sub.Reveal(), err
}

// PutSubject sets the subject of indexURL's key.
func (s *VaultStore) PutSubject(indexURL, subject string) error {
	return vaultErr(s.tokens.Put(SubjectLabelPrefix+indexURL, credential.UncheckedToken(subject)))
}

func (s *VaultStore) removeSubject(indexURL string) error {
	if err := vaultErr(s.tokens.Remove(SubjectLabelPrefix + indexURL)); !errors.Is(err, ErrNoToken) {
		return err
	}
	return nil
}

// RemoveKey deletes the key stored for indexURL, and its subject.
func (s *VaultStore) RemoveKey(indexURL string) error {
	if err := s.removeSubject(indexURL); err != nil {
		return err
	}
	return vaultErr(s.tokens.Remove(PasetoLabelPrefix + indexURL))
}

// loginKey is cargo login given a k3.secret PASERK, as cargo:paseto takes
// one: the key is stored (refused if the registry has another key: that
// takes cargo logout first) and the plain token, if any, removed, so that every get is answered with a token
// signed by that key. The key is checked first; neither it nor the plain
// token is ever logged.
func (c *Cargo) loginKey(r *request, d decider, s TokenStore) []byte {
	ks, ok := s.(PasetoKeyStore)
	if !ok {
		return c.fail(r, d, audit.Failed, "key store cannot hold registry keys", cargo.Errorf("vigil's key store cannot hold registry keys"))
	}
	k, err := paseto.ParseSecretKey(r.Token.Reveal())
	var pk *paseto.PublicKey
	if err == nil {
		pk, err = paseto.NewPublicKey(k.Public())
	}
	if err != nil {
		return c.fail(r, d, audit.Failed, err.Error(), cargo.Errorf("the k3.secret key given to cargo login is unusable: %v", err))
	}
	old, err := ks.GetKey(r.Registry.IndexURL)
	switch {
	case errors.Is(err, ErrNoToken):
		err = ks.PutKey(r.Registry.IndexURL, r.Token)
	case err == nil && !old.Equal(r.Token):
		// Any same-user process can run cargo login: replacing the key
		// that vigil cargo keygen made (and the registry trusts) takes
		// the person's logout first.
		return c.fail(r, d, audit.Denied, "another key is stored for the registry",
			cargo.Errorf("a different key is already stored for %s; run `%s` first to replace it", registryName(r.Request), logoutCommand(r.Request)))
	}
	if err != nil {
		return c.fail(r, d, audit.Failed, err.Error(), storeError("could not store the key", "cargo login again", err))
	}
	if c.record(r, d, audit.Allowed, audit.By{}, "PASETO secret key stored, "+pk.ID()) {
		if old.IsZero() {
			if err := ks.RemoveKey(r.Registry.IndexURL); err != nil {
				c.log.Error("cargo login: could not undo a key the audit log did not record", "err", err)
			}
		}
		return cargo.EncodeError(errAudit)
	}
	if err := s.Remove(r.Registry.IndexURL); err != nil && !errors.Is(err, ErrNoToken) {
		c.log.Error("cargo login: the registry's plain token could not be removed, and is used before the key", "err", err)
	}
	c.log.Info("cargo registry key stored", "registry", sanitize.Line(r.Registry.IndexURL, 200), "kip", pk.ID(),
		"caller", r.party.self.String())
	return mustEncode(&cargo.Response{Kind: cargo.KindLogin})
}

// KeyRequest is a key message: Op is KeyGen or KeyPublicKey. Subject, for
// KeyGen, is the sub claim of the new key's tokens (none if "").
type KeyRequest struct {
	Op       string `json:"vigil-cargo-key"`
	IndexURL string `json:"index-url"`
	Subject  string `json:"subject,omitempty"`
}

// KeyReply answers a KeyRequest: the public key, or why not.
type KeyReply struct {
	PublicKey string `json:"public-key,omitempty"`
	Error     string `json:"error,omitempty"`
}

// EncodeKeyRequest returns the contents of a key message.
func EncodeKeyRequest(kr KeyRequest) []byte {
	b, _ := json.Marshal(kr)
	return b
}

// DecodeKeyReply reads the agent's answer to a key message: the public key,
// or the agent's refusal as an error.
func DecodeKeyReply(b []byte) (string, error) {
	var r KeyReply
	if err := json.Unmarshal(bytes.TrimSuffix(b, []byte("\n")), &r); err != nil {
		return "", errors.New("malformed answer from the agent (a vigil without asymmetric cargo tokens?)")
	}
	if r.Error != "" {
		return "", errors.New(r.Error)
	}
	if _, err := paseto.ParsePublicKey(r.PublicKey); err != nil {
		return "", fmt.Errorf("the agent sent an invalid public key: %w", err)
	}
	return r.PublicKey, nil
}

// keyRequest reports whether contents are a key message rather than a cargo
// request.
func keyRequest(contents []byte) (*KeyRequest, bool) {
	if !bytes.Contains(contents, []byte(`"vigil-cargo-key"`)) {
		return nil, false
	}
	var r KeyRequest
	if err := json.Unmarshal(contents, &r); err != nil || r.Op == "" {
		return nil, false
	}
	return &r, true
}

func keyReply(r KeyReply) []byte {
	b, _ := json.Marshal(r)
	return append(b, '\n')
}

// serveKey answers a key message.
func (c *Cargo) serveKey(who *caller.Info, kr *KeyRequest, d decider) []byte {
	r := &request{
		Request: &cargo.Request{Kind: cargo.Kind(kr.Op), Registry: cargo.Registry{IndexURL: kr.IndexURL}},
		who:     who, party: partyOf(who, c.cfg.IsPlugin), start: time.Now(),
	}
	failf := func(dec audit.Decision, format string, args ...any) []byte {
		msg := fmt.Sprintf(format, args...)
		c.record(r, d, dec, audit.By{}, msg)
		return keyReply(KeyReply{Error: msg})
	}
	if kr.Op != KeyGen && kr.Op != KeyPublicKey {
		return keyReply(KeyReply{Error: "unknown key operation " + sanitize.Line(kr.Op, 32)})
	}
	if kr.IndexURL == "" || sanitize.Line(kr.IndexURL, 2000) != kr.IndexURL {
		return failf(audit.Failed, "no valid registry index URL given")
	}
	if kr.Subject != "" && (kr.Op != KeyGen || sanitize.Line(kr.Subject, maxSubject) != kr.Subject) {
		return failf(audit.Failed, "a subject is given only to keygen, in at most %d printable characters", maxSubject)
	}
	s, err := c.store()
	if err != nil {
		return failf(audit.Failed, "vigil's key store is locked: run `vigil unlock`, then try again")
	}
	ks, ok := s.(PasetoKeyStore)
	if !ok {
		return failf(audit.Failed, "this key store cannot hold registry keys")
	}
	secret, err := ks.GetKey(kr.IndexURL)
	switch {
	case errors.Is(err, ErrNoToken) && kr.Op == KeyPublicKey:
		return failf(audit.Failed, "no key for registry %s: create one with vigil cargo keygen", kr.IndexURL)
	case errors.Is(err, ErrNoToken):
		k, gerr := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if gerr != nil {
			return failf(audit.Failed, "generating the key: %v", gerr)
		}
		if secret, err = paseto.FormatSecretKey(k); err == nil {
			err = ks.PutKey(kr.IndexURL, secret)
		}
		if err == nil && kr.Subject != "" {
			err = ks.PutSubject(kr.IndexURL, kr.Subject)
		}
		if err != nil {
			return failf(audit.Failed, "could not store the key: %v", err)
		}
	case err != nil:
		return failf(audit.Failed, "could not read the key: %v", err)
	case kr.Op == KeyGen:
		return failf(audit.Failed, "registry %s already has a key (vigil cargo public-key prints it); vigil never replaces one", kr.IndexURL)
	}
	k, err := paseto.ParseSecretKey(secret.Reveal())
	if err != nil {
		return failf(audit.Failed, "the key stored for this registry is unusable: %v", err)
	}
	pk, err := paseto.NewPublicKey(k.Public())
	if err != nil {
		return failf(audit.Failed, "the key stored for this registry is unusable: %v", err)
	}
	why := "public key read"
	if kr.Op == KeyGen {
		why = "key created, " + pk.ID()
		if kr.Subject != "" {
			why += ", subject " + kr.Subject
		}
	}
	if c.record(r, d, audit.Allowed, audit.By{}, why) && kr.Op == KeyPublicKey {
		return keyReply(KeyReply{Error: errAudit.Message})
	}
	c.log.Info("cargo registry key", "op", kr.Op, "registry", sanitize.Line(kr.IndexURL, 200), "kip", pk.ID(),
		"caller", r.party.self.String())
	return keyReply(KeyReply{PublicKey: pk.String()})
}

// fetchKey returns the PASETO signing key stored for r's registry, with its
// subject, if any: no key and no failure when there is none.
func (c *Cargo) fetchKey(s TokenStore, r *request, d decider) (released, []byte) {
	ks, ok := s.(PasetoKeyStore)
	if !ok {
		return released{}, nil
	}
	secret, err := ks.GetKey(r.Registry.IndexURL)
	var sub string
	if err == nil {
		sub, err = ks.GetSubject(r.Registry.IndexURL)
	}
	switch {
	case errors.Is(err, ErrNoToken):
		return released{}, nil
	case err != nil:
		return released{}, c.fail(r, d, audit.Failed, err.Error(), storeError("could not read the registry key", "try again", err))
	}
	k, err := paseto.ParseSecretKey(secret.Reveal())
	if err != nil {
		return released{}, c.fail(r, d, audit.Failed, "stored key: "+err.Error(),
			cargo.Errorf("the key vigil holds for this registry is unusable: %v", err))
	}
	return released{key: k, subject: sub}, nil
}

// pasetoResponse signs the v3.public token answering r.
func (c *Cargo) pasetoResponse(sec released, r *request) (*cargo.Response, string, error) {
	k := sec.key
	resp, err := paseto.CargoResponse(k, r.Request, c.cfg.Now(), sec.subject)
	if err != nil {
		return nil, "", err
	}
	pk, err := paseto.NewPublicKey(k.Public())
	if err != nil {
		return nil, "", err
	}
	return resp, "signed a v3.public token with " + pk.ID(), nil
}

// logoutCommand is the cargo command that forgets r's registry credentials.
func logoutCommand(r *cargo.Request) string {
	switch r.Registry.Name {
	case "":
		return "cargo logout --registry NAME"
	case "crates-io":
		return "cargo logout"
	}
	return "cargo logout --registry " + sanitize.Line(r.Registry.Name, 64)
}
