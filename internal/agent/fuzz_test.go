package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/keystore"
	"github.com/vigil-agent/vigil/internal/sanitize"
)

// fuzzSeeds are well-formed requests of every type the agent handles.
func fuzzSeeds(f *testing.F, pub ssh.PublicKey) [][]byte {
	seed := ed25519.NewKeyFromSeed(make([]byte, 32))
	addReq := ssh.Marshal(struct {
		Type          byte
		KeyType       string
		Pub, Priv     []byte
		Comment       string
		Confirm       byte
		Lifetime      byte
		LifetimeValue uint32
	}{msgAddIDConstrained, ssh.KeyAlgoED25519, seed.Public().(ed25519.PublicKey), seed, "c", 1, 2, 60})
	return [][]byte{
		{msgRequestIDs},
		ssh.Marshal(struct {
			Type       byte
			Blob, Data []byte
			Flags      uint32
		}{msgSignRequest, pub.Marshal(), []byte("data"), 0}),
		addReq,
		ssh.Marshal(struct {
			Type byte
			Blob []byte
		}{msgRemoveIdentity, pub.Marshal()}),
		{msgRemoveAll},
		ssh.Marshal(struct {
			Type byte
			Pass []byte
		}{msgLock, []byte("pw")}),
		ssh.Marshal(struct {
			Type byte
			Pass []byte
		}{msgUnlock, []byte("pw")}),
		ssh.Marshal(struct {
			Type     byte
			Name     string
			Contents []byte `ssh:"rest"`
		}{msgExtension, "session-bind@openssh.com", bindMsg(f, hostSigner(f), []byte("sid"), false)}),
		{},
		{200},
	}
}

// FuzzHandle feeds arbitrary requests to the dispatcher: it must never
// panic, always answer, and never sign without the approver (which here
// always says no).
func FuzzHandle(f *testing.F) {
	keys := keystore.New(nil)
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	k, err := keys.Add(priv, nil, "fuzz", keystore.Constraints{})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range fuzzSeeds(f, k.Public) {
		f.Add(s)
	}
	a := New(Config{Keys: keys, Approver: funcApprover(func(context.Context, string) (bool, error) { return false, nil })})
	f.Fuzz(func(t *testing.T, req []byte) {
		c := &conn{who: &caller.Info{}}
		reply := a.handle(context.Background(), c, append([]byte(nil), req...))
		if len(reply) == 0 {
			t.Fatal("empty reply")
		}
		if reply[0] == msgSignResponse {
			t.Fatal("signed although the approver said no")
		}
		if keys.Locked() {
			if err := keys.Unlock([]byte("pw")); err != nil {
				// Locked with a passphrase we don't know: start afresh.
				keys.Wipe()
			}
		}
		if len(keys.List()) == 0 {
			keys.Add(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)), nil, "fuzz", keystore.Constraints{})
		}
	})
}

// FuzzReadFrame checks the frame decoder never over-reads, never accepts an
// oversized frame and never panics.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 11})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0, 4, 0, 1, 11})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 5, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			frame, err := readFrame(r)
			if err != nil {
				return
			}
			if len(frame) > MaxFrame {
				t.Fatalf("frame of %d bytes accepted", len(frame))
			}
			var buf bytes.Buffer
			writeFrame(&buf, frame)
			if binary.BigEndian.Uint32(buf.Bytes()) != uint32(len(frame)) {
				t.Fatal("writeFrame length mismatch")
			}
		}
	})
}

// FuzzExtensionReply: whatever an agent answers, the client does not
// panic, and a refusal's reason is safe to print as it is.
func FuzzExtensionReply(f *testing.F) {
	f.Add([]byte{msgSuccess, 'o', 'k'})
	f.Add([]byte{msgFailure})
	f.Add(refusal(errors.New("no grant 99")))
	f.Add(append([]byte{msgExtensionFailure}, ssh.Marshal(struct{ R string }{"a\x1b[2J\u202e\r"})...))
	f.Add([]byte{msgExtensionFailure, 0, 0, 0, 9, 'x'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		reply, err := extensionReply(in)
		var refused *RefusedError
		switch {
		case err == nil && (len(reply) == 0 || reply[0] != msgSuccess):
			t.Fatalf("%q accepted as success", in)
		case errors.As(err, &refused) && (refused.Reason == "" || sanitize.Composed(refused.Reason, maxReason) != refused.Reason):
			t.Fatalf("reason %q is not safe to print", refused.Reason)
		}
	})
}
