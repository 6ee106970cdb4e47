package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/keystore"
	"github.com/vigil-agent/vigil/internal/secmem"
	"github.com/vigil-agent/vigil/internal/vault"
)

// Message numbers, from draft-ietf-sshm-ssh-agent.
const (
	msgFailure          = 5
	msgSuccess          = 6
	msgRequestIDs       = 11
	msgIDsAnswer        = 12
	msgSignRequest      = 13
	msgSignResponse     = 14
	msgAddIdentity      = 17
	msgRemoveIdentity   = 18
	msgRemoveAll        = 19
	msgLock             = 22
	msgUnlock           = 23
	msgAddIDConstrained = 25
	msgExtension        = 27
)

var (
	failure = []byte{msgFailure}
	success = []byte{msgSuccess}
)

// handle answers one request. It never panics on bad input and never
// returns an empty reply.
func (a *Agent) handle(ctx context.Context, c *conn, req []byte) []byte {
	start := time.Now()
	if len(req) == 0 {
		return failure
	}
	if a.log.Enabled(ctx, slog.LevelDebug) {
		a.log.Debug("request", "type", requestName(req[0]), "len", len(req), "caller", c.who.String())
	}
	switch req[0] {
	case msgRequestIDs:
		if len(req) != 1 {
			return failure
		}
		return a.list(c)
	case msgSignRequest:
		return a.sign(ctx, c, req)
	case msgAddIdentity, msgAddIDConstrained:
		// The frame holds a private key: wipe it once parsed.
		defer secmem.Wipe(req)
		return a.add(c, req, start)
	case msgRemoveIdentity:
		var m struct {
			KeyBlob []byte `sshtype:"18"`
		}
		if ssh.Unmarshal(req, &m) != nil {
			return failure
		}
		return a.remove(c, m.KeyBlob, start)
	case msgRemoveAll:
		if len(req) != 1 {
			return failure
		}
		if err := a.cfg.Keys.RemoveAll(); err != nil {
			a.log.Warn("remove all keys refused", "caller", c.who.String(), "err", err)
			a.recordAdmin(c, audit.KindRemoveAll, audit.Denied, "", err.Error(), start)
			return failure
		}
		a.log.Info("all keys removed", "caller", c.who.String())
		a.recordAdmin(c, audit.KindRemoveAll, audit.Allowed, "", "", start)
		return success
	case msgLock, msgUnlock:
		defer secmem.Wipe(req)
		return a.lockUnlock(ctx, c, req, start)
	case msgExtension:
		return a.extension(ctx, c, req)
	}
	return failure
}

// requestName names a request type for the debug log.
func requestName(t byte) string {
	switch t {
	case msgRequestIDs:
		return "list"
	case msgSignRequest:
		return "sign"
	case msgAddIdentity, msgAddIDConstrained:
		return "add"
	case msgRemoveIdentity:
		return "remove"
	case msgRemoveAll:
		return "remove all"
	case msgLock:
		return "lock"
	case msgUnlock:
		return "unlock"
	case msgExtension:
		return "extension"
	}
	return fmt.Sprintf("unknown (%d)", t)
}

// list answers with the keys in memory, then the key store's keys that
// are not loaded: those are listed while locked, so a client can pick one
// and have the store unlocked on demand.
func (a *Agent) list(c *conn) []byte {
	keys := a.cfg.Keys.List()
	c.offered, c.hidden = c.offered[:0], 0
	offer := func(fp, comment string) bool {
		ok, _ := a.offered(c, fp, comment)
		if ok {
			c.offered = append(c.offered, fp)
		} else {
			c.hidden++
		}
		return ok
	}
	type id struct{ Blob, Comment []byte }
	ids := make([]id, 0, len(keys))
	have := make(map[string]bool, len(keys))
	for _, k := range keys {
		blob := k.Public.Marshal()
		have[string(blob)] = true
		if ok, _ := a.destPermitted(c, k, nil); !ok {
			continue // hidden, as OpenSSH's agent hides it
		}
		if offer(k.Fingerprint, k.Comment) {
			ids = append(ids, id{blob, []byte(k.Comment)})
		}
	}
	for _, e := range a.storeEntries() {
		if blob := e.Public.Marshal(); !have[string(blob)] {
			if offer(e.Fingerprint, e.Comment) {
				ids = append(ids, id{blob, []byte(e.Comment)})
			}
		}
	}
	reply := ssh.Marshal(struct {
		Type byte
		N    uint32
	}{msgIDsAnswer, uint32(len(ids))})
	for _, k := range ids {
		reply = append(reply, ssh.Marshal(k)...)
	}
	return reply
}

func (a *Agent) remove(c *conn, blob []byte, start time.Time) []byte {
	k, err := a.cfg.Keys.Lookup(blob)
	if err == nil {
		err = a.cfg.Keys.Remove(blob)
	}
	if err != nil {
		a.log.Info("remove key refused", "caller", c.who.String(), "err", err)
		a.recordAdmin(c, audit.KindRemove, audit.Denied, k.Fingerprint, err.Error(), start)
		return failure
	}
	a.log.Info("key removed", "fp", k.Fingerprint, "caller", c.who.String())
	a.recordAdmin(c, audit.KindRemove, audit.Allowed, k.Fingerprint, "", start)
	return success
}

func (a *Agent) lockUnlock(ctx context.Context, c *conn, req []byte, start time.Time) []byte {
	var m struct {
		Type       byte
		Passphrase []byte
	}
	if ssh.Unmarshal(req, &m) != nil {
		return failure
	}
	defer secmem.Wipe(m.Passphrase)
	if m.Type == msgLock {
		if err := a.cfg.Keys.Lock(m.Passphrase); err != nil {
			a.log.Warn("lock refused", "caller", c.who.String(), "err", err)
			a.recordAdmin(c, audit.KindLock, audit.Failed, "", err.Error(), start)
			return failure
		}
		a.dropGrants() // grants are dropped on every lock
		if a.cfg.OnLock != nil {
			a.cfg.OnLock() // registry tokens too: they come back with vigil unlock
		}
		a.log.Info("agent locked", "caller", c.who.String())
		a.recordAdmin(c, audit.KindLock, audit.Allowed, "", "", start)
		return success
	}
	if err := a.unlock(ctx, m.Passphrase); err != nil {
		a.log.Warn("unlock refused", "caller", c.who.String(), "err", err)
		a.recordAdmin(c, audit.KindUnlock, audit.Failed, "", err.Error(), start)
		return failure
	}
	a.log.Info("agent unlocked", "caller", c.who.String())
	a.recordAdmin(c, audit.KindUnlock, audit.Allowed, "", "", start)
	return success
}

// unlock tries passphrase, waiting first if recent attempts failed.
func (a *Agent) unlock(ctx context.Context, passphrase []byte) error {
	return a.guardedUnlock(ctx, func() error { return a.cfg.Keys.Unlock(passphrase) })
}

// guardedUnlock runs one passphrase attempt (ssh-add -X, or the key
// store's), serialised with all others and delayed after wrong ones: the
// delay grows with each consecutive failure, counted across connections and
// both kinds of unlock, so guessing is slow however it is tried.
func (a *Agent) guardedUnlock(ctx context.Context, try func() error) error {
	a.unlockMu.Lock()
	defer a.unlockMu.Unlock()
	if wait := time.Until(a.unlockAfter); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := try()
	switch {
	case err == nil:
		a.unlockFails = 0
	case errors.Is(err, keystore.ErrBadPassphrase), errors.Is(err, vault.ErrBadPassphrase):
		a.unlockFails++
		a.unlockAfter = time.Now().Add(a.unlockDelay(a.unlockFails))
		a.log.Warn("wrong passphrase", "consecutive_failures", a.unlockFails,
			"next_attempt_in", a.unlockDelay(a.unlockFails))
	}
	return err
}
