package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/intent"
	"github.com/vigil-agent/vigil/internal/keystore"
	"github.com/vigil-agent/vigil/internal/policy"
	"github.com/vigil-agent/vigil/internal/sanitize"
	"github.com/vigil-agent/vigil/internal/secmem"
	"github.com/vigil-agent/vigil/internal/vault"
	"github.com/vigil-agent/vigil/internal/words"
)

// KeyStore is vigil's encrypted key store; *vault.Vault implements it.
type KeyStore interface {
	Dir() string
	List() ([]vault.Entry, []vault.Problem, error)
	Unlock(passphrase []byte) ([]vault.UnlockedKey, []vault.Problem, error)
	MarkUsed(fp string, t time.Time)
	Hosts() (map[string][]string, error)
}

// PassphraseAsker is an approver that can also ask for a passphrase, for
// unlocking the key store on demand. *approve.Askpass implements it.
type PassphraseAsker interface {
	AskPassphrase(ctx context.Context, prompt string) ([]byte, error)
}

// NamingPassphraseAsker is a PassphraseAsker that also says which of its
// ways read the passphrase (approve.Chain), for the audit record.
type NamingPassphraseAsker interface {
	PassphraseAsker
	AskPassphraseBy(ctx context.Context, prompt string) (passphrase []byte, by string, err error)
}

// storeCache keeps the store's public entries, re-read only when the
// store's directory changes (a key generated, imported or removed), so
// listing costs one stat.
type storeCache struct {
	mu      sync.Mutex
	mtime   time.Time
	entries []vault.Entry
	offers  []policy.Offer // from vigil key hosts
}

func (a *Agent) storeEntries() []vault.Entry {
	entries, _ := a.storeState()
	return entries
}

// storeOffers are the hosts set on store keys (vigil key hosts), as offers.
func (a *Agent) storeOffers() []policy.Offer {
	_, offers := a.storeState()
	return offers
}

func (a *Agent) storeState() ([]vault.Entry, []policy.Offer) {
	if a.cfg.Store == nil {
		return nil, nil
	}
	fi, err := os.Stat(a.cfg.Store.Dir())
	if err != nil {
		return nil, nil
	}
	a.store.mu.Lock()
	defer a.store.mu.Unlock()
	if !fi.ModTime().Equal(a.store.mtime) {
		entries, problems, err := a.cfg.Store.List()
		if err != nil {
			a.log.Warn("key store unreadable", "err", err)
			return a.store.entries, a.store.offers
		}
		for _, p := range problems {
			a.log.Warn("key store: a key file is damaged or unsafe and was skipped", "err", p.Err)
		}
		hosts, err := a.cfg.Store.Hosts()
		if err != nil {
			// Fail closed: keys meant for some hosts must not be offered
			// everywhere because the file saying so is damaged.
			a.log.Warn("key store: hosts file unreadable; its keys are offered nowhere", "err", err)
			hosts = map[string][]string{}
			for _, e := range entries {
				hosts[e.Fingerprint] = []string{"\x00unreadable"}
			}
		}
		var offers []policy.Offer
		for _, fp := range slices.Sorted(maps.Keys(hosts)) {
			offers = append(offers, policy.Offer{Key: fp, Hosts: hosts[fp]})
		}
		a.store.entries, a.store.offers, a.store.mtime = entries, offers, fi.ModTime()
	}
	return a.store.entries, a.store.offers
}

// storeEntry finds the store key whose public blob is blob.
func (a *Agent) storeEntry(blob []byte) (vault.Entry, bool) {
	for _, e := range a.storeEntries() {
		if string(e.Public.Marshal()) == string(blob) {
			return e, true
		}
	}
	return vault.Entry{}, false
}

// unlockStore decrypts the store's keys into memory and opens the window.
func (a *Agent) unlockStore(passphrase []byte) (int, error) {
	if a.cfg.Store == nil {
		return 0, errors.New("no key store")
	}
	keys, problems, err := a.cfg.Store.Unlock(passphrase)
	if err != nil {
		return 0, err
	}
	for _, p := range problems {
		a.log.Warn("key store: a key could not be unlocked", "err", p.Err)
	}
	loaded := 0
	for _, k := range keys {
		// The keystore takes the private key over and wipes it itself.
		if _, err := a.cfg.Keys.Add(k.Private, nil, k.Comment, keystore.Constraints{Stored: true}); err != nil {
			a.log.Warn("key store: key not loaded", "fp", k.Fingerprint, "err", err)
			continue
		}
		loaded++
	}
	a.window.openNow()
	if a.cfg.OnUnlock != nil {
		a.cfg.OnUnlock(passphrase)
	}
	return loaded, nil
}

// unlockOnDemand asks for the store passphrase for a signature that needs a
// store key while it is locked, showing what the signature is for. A
// passphrase tried is one unlock record, as vigil unlock's and ssh-add
// -X's are, naming who asked, for which key, and which way read it; a
// prompt that ends with no passphrase (timed out, cancelled, no way to
// ask) tried nothing, and only the sign record says why it was refused.
func (a *Agent) unlockOnDemand(ctx context.Context, c *conn, e vault.Entry, in intent.Intent, dest destination) error {
	start := time.Now()
	asker, ok := a.cfg.Approver.(PassphraseAsker)
	if !ok {
		return errors.New("the key store is locked and the approver cannot ask for its passphrase: run vigil unlock")
	}
	wait, cancel := context.WithTimeout(ctx, a.cfg.PromptTimeout)
	defer cancel()
	if err := a.prompts.acquire(wait); err != nil {
		return fmt.Errorf("waiting for an earlier prompt: %w", err)
	}
	defer a.prompts.release()
	var b strings.Builder
	fmt.Fprintf(&b, "Unlock vigil's key store so that %s can %s?\n", sanitize.Line(c.who.Program().Name(), 64), purposePhrase(in, dest))
	writeRequester(&b, c, in, dest)
	b.WriteString(keyLine(e.Comment, e.Public, e.Fingerprint) + " (in vigil's key store)\n")
	writePath(&b, c, dest)
	b.WriteString("Enter the key store passphrase (you will still be asked to allow the signature):")
	prompt, cancel := context.WithTimeout(ctx, a.cfg.PromptTimeout)
	defer cancel()
	pass, by, err := a.askPassphrase(prompt, asker, b.String())
	if err != nil {
		return err
	}
	defer secmem.Wipe(pass)
	var n int
	err = a.guardedUnlock(ctx, func() (err error) {
		n, err = a.unlockStore(pass)
		return err
	})
	ev := audit.Event{Kind: audit.KindUnlock, Caller: callerFacts(c.who, true), Key: e.Fingerprint,
		Intent: intentFacts(in, dest), Origin: origin(c), By: audit.By{Approver: by}, Latency: time.Since(start)}
	if err != nil {
		a.log.Warn("key store unlock on demand refused", "fp", e.Fingerprint, "caller", c.who.Program().String(), "by", by, "err", err)
		ev.Decision, ev.Detail = audit.Failed, "key store, on demand: "+err.Error()
	} else {
		a.log.Info("key store unlocked on demand", "fp", e.Fingerprint, "caller", c.who.Program().String(), "by", by, "keys", n)
		ev.Decision, ev.Detail = audit.Allowed, "key store, on demand: "+words.Count(n, "key")
	}
	a.record(ev)
	return err
}

// askPassphrase asks through asker and names the way that asked.
func (a *Agent) askPassphrase(ctx context.Context, asker PassphraseAsker, prompt string) ([]byte, string, error) {
	if n, ok := asker.(NamingPassphraseAsker); ok {
		return n.AskPassphraseBy(ctx, prompt)
	}
	pass, err := asker.AskPassphrase(ctx, prompt)
	return pass, a.approverName(), err
}

// endWindow wipes every private key: store keys stay listed (from the
// store) and need unlocking again; keys added with ssh-add are gone.
func (a *Agent) endWindow(reason string) {
	var added int
	for _, k := range a.cfg.Keys.List() {
		if !k.Stored {
			added++
		}
	}
	a.cfg.Keys.Wipe()
	dropped := a.dropGrants() // before OnLock, which may drop some itself
	if a.cfg.OnLock != nil {
		a.cfg.OnLock()
	}
	a.log.Info("unlock window ended: private keys wiped", "why", reason, "ssh_added_keys_removed", added, "grants_dropped", dropped)
	a.record(audit.Event{Kind: audit.KindWindowEnded, Decision: audit.Allowed,
		Detail: fmt.Sprintf("%s; %s added with ssh-add removed", reason, words.Count(added, "key"))})
}

// Built-in extensions for the vigil command line.
const (
	extUnlock = "unlock@vigil"
	extLock   = "lock@vigil"
	extStatus = "status@vigil"
	extGrants = "grants@vigil"     // list, as JSON
	extRevoke = "revoke@vigil"     // contents: a grant id, or "all"
	extPins   = "pins@vigil"       // list, as JSON
	extForget = "forget-pin@vigil" // contents: a program's path, or "all"
	extOffers = "offers@vigil"     // contents: a host name; the keys offered to it, as JSON
)

// Status is what status@vigil answers, as JSON.
type Status struct {
	Locked     bool         `json:"locked"` // ssh-add -x
	Window     WindowStatus `json:"window"`
	Keys       []StatusKey  `json:"keys"`
	Pending    int          `json:"pending_prompts"`
	StoreDir   string       `json:"store,omitempty"`
	StoreError string       `json:"store_error,omitempty"`
}

// StatusKey is one key as vigil status lists it.
type StatusKey struct {
	Fingerprint string `json:"fingerprint"`
	Comment     string `json:"comment"`
	Type        string `json:"type"`
	Source      string `json:"source"` // "ssh-add" or "store"
	Loaded      bool   `json:"loaded"` // private key in memory
}

func (a *Agent) builtinExtension(ctx context.Context, c *conn, name string, contents []byte) ([]byte, error) {
	start := time.Now()
	switch name {
	case extUnlock:
		defer secmem.Wipe(contents)
		var m struct{ Passphrase []byte }
		if err := ssh.Unmarshal(contents, &m); err != nil {
			return nil, errors.New("malformed unlock request")
		}
		defer secmem.Wipe(m.Passphrase)
		var n int
		err := a.guardedUnlock(ctx, func() (err error) {
			n, err = a.unlockStore(m.Passphrase)
			return err
		})
		if err != nil {
			a.recordAdmin(c, audit.KindUnlock, audit.Failed, "", "key store: "+err.Error(), start)
			if errors.Is(err, vault.ErrBadPassphrase) {
				return nil, errors.New("wrong passphrase")
			}
			return nil, err
		}
		a.recordAdmin(c, audit.KindUnlock, audit.Allowed, "", "key store: "+words.Count(n, "key"), start)
		return ssh.Marshal(struct{ N uint32 }{uint32(n)}), nil
	case extLock:
		a.window.close("locked by vigil lock")
		a.cfg.Keys.Wipe() // also when no window was open
		a.dropGrants()
		if a.cfg.OnLock != nil {
			a.cfg.OnLock()
		}
		a.recordAdmin(c, audit.KindLock, audit.Allowed, "", "vigil lock", start)
		return nil, nil
	case extGrants:
		return json.Marshal(a.listGrants())
	case extRevoke:
		what := string(contents)
		n := a.revokeGrants(what)
		if n == 0 && what != "all" {
			if _, err := strconv.Atoi(what); err == nil {
				return nil, fmt.Errorf("no grant %s", what)
			}
			return nil, fmt.Errorf("no grant %s", sanitize.Quote(what, 64))
		}
		a.recordAdmin(c, audit.KindGrantRevoked, audit.Allowed, "", fmt.Sprintf("revoked %s (%s)", what, words.Count(n, "grant")), start)
		return []byte(fmt.Sprint(n)), nil
	case extPins:
		return json.Marshal(a.cfg.Pins.List())
	case extOffers:
		verdicts, err := a.whyNot(string(contents))
		if err != nil {
			return nil, err
		}
		return json.Marshal(verdicts)
	case extForget:
		return a.forgetPins(ctx, c, string(contents), start)
	case extStatus:
		st := Status{Locked: a.cfg.Keys.Locked(), Window: a.window.status(), Pending: a.prompts.pending()}
		loaded := map[string]bool{}
		for _, k := range a.cfg.Keys.List() {
			loaded[string(k.Public.Marshal())] = true
			src := "ssh-add"
			if k.Stored {
				src = "store"
			}
			st.Keys = append(st.Keys, StatusKey{k.Fingerprint, k.Comment, k.Describe(), src, !st.Locked})
		}
		if a.cfg.Store != nil {
			st.StoreDir = a.cfg.Store.Dir()
			for _, e := range a.storeEntries() {
				if !loaded[string(e.Public.Marshal())] {
					st.Keys = append(st.Keys, StatusKey{e.Fingerprint, e.Comment, strings.ToUpper(string(e.Type)), "store", false})
				}
			}
		}
		return json.Marshal(st)
	}
	return nil, fmt.Errorf("unknown extension %s", name)
}

// forgetPins drops the pin of one program, or every pin (what is "all"),
// once a person agrees: the next program at a forgotten path is pinned
// without a prompt, so any same-user process that could drop pins silently
// could make a replaced binary look trusted. The request is recorded
// whatever the answer.
func (a *Agent) forgetPins(ctx context.Context, c *conn, what string, start time.Time) ([]byte, error) {
	exe := what
	if what == "all" {
		exe = ""
	}
	var which []string
	for _, p := range a.cfg.Pins.List() {
		if exe == "" || p.Exe == exe {
			which = append(which, p.Exe)
		}
	}
	shown := sanitize.Line(what, 200)
	if len(which) == 0 {
		if what == "all" {
			return []byte("0"), nil
		}
		return nil, fmt.Errorf("no such pin: %s", shown)
	}
	outcome, why := a.ask(ctx, c.who, forgetPrompt(c, which))
	// The record keeps the path as given; vigil audit escapes it when it
	// shows it, once.
	detail := fmt.Sprintf("forget %s (%s)", what, words.Count(len(which), "pin"))
	if outcome != outcomeSigned {
		a.recordAdmin(c, audit.KindPinsForgotten, outcomeDecision[outcome], "", detail+": "+why, start)
		return nil, fmt.Errorf("not approved: %s", why)
	}
	n, err := a.cfg.Pins.Forget(exe)
	if err != nil {
		a.recordAdmin(c, audit.KindPinsForgotten, audit.Failed, "", detail+": "+err.Error(), start)
		return nil, err
	}
	a.recordAdmin(c, audit.KindPinsForgotten, audit.Allowed, "", fmt.Sprintf("forgot %s (%s)", what, words.Count(n, "pin")), start)
	a.log.Info("program pins forgotten: pinned again at their next use", "what", what, "pins", n, "by", c.who.Program().String())
	return []byte(fmt.Sprint(n)), nil
}

// forgetPrompt asks a person whether the caller may drop pins, naming the
// caller and the programs (at most a few, then how many more).
func forgetPrompt(c *conn, exes []string) string {
	const show = 5
	var b strings.Builder
	prog := c.who.Program()
	fmt.Fprintf(&b, "Allow %s to forget %s?\n", sanitize.Line(prog.Name(), 64), words.Count(len(exes), "program pin"))
	fmt.Fprintf(&b, "  program: %s\n", prog.String())
	fmt.Fprintf(&b, "  who:     %s\n", c.who.Summary())
	for i, e := range exes {
		if i == show {
			fmt.Fprintf(&b, "  pins:    and %d more\n", len(exes)-show)
			break
		}
		fmt.Fprintf(&b, "  pin:     %s\n", sanitize.Line(e, 200))
	}
	where := "these paths"
	if len(exes) == 1 {
		where = "this path"
	}
	fmt.Fprintf(&b, "  effect:  whatever is at %s next is pinned, without asking, as the program its rule allows\n", where)
	return b.String()
}
