// Package config reads vigil's TOML configuration into plain structs.
// Unknown keys and bad values are errors that say where they are: a typo in
// a security setting must never be silently ignored.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/vigil-agent/vigil/internal/fileperm"
	"github.com/vigil-agent/vigil/internal/policy"
)

// Config is the whole file. Zero values mean "not set".
type Config struct {
	Socket string
	// Approvers are the ways to ask, in order: the first that can be
	// reached asks (see approve.Chain). Nil: not set, the default order.
	Approvers []string
	Askpass   string        // an askpass program (askpass = "PROGRAM", or the old approver = "PROGRAM")
	Pinentry  string        // a pinentry program
	GrantFor  time.Duration // what pinentry's "Allow for ..." button grants; 0: no such button
	GrantUses int           // how many signatures a grant covers; 0: any number until it expires
	// CooldownStrikes denied or unanswered prompts in a row for one program
	// refuse its requests without asking for CooldownPeriod. 0: the
	// agent's defaults (3, 5 minutes).
	CooldownStrikes int
	CooldownPeriod  time.Duration
	PromptTimeout   time.Duration
	Lifetime        time.Duration
	AuditDir        string
	// OnAuditFailure is "refuse" (the default: no signature that cannot
	// be recorded) or "continue".
	OnAuditFailure string
	StoreDir       string
	Unlock         Unlock
	Rules          []policy.Rule
	Offers         []policy.Offer
	// OfferNone: keys no [[offer]] names are not offered to a bound
	// destination (offer_default = "none"); the default is "all".
	OfferNone bool
	// Notify: desktop notifications when there is a session bus (the
	// default); false turns them off.
	Notify bool
}

// NeedRestart names, by their keys in the file, the settings that differ
// between c (the configuration in force) and next: every setting but the
// rules and offers, which a running agent re-reads on SIGHUP.
func (c Config) NeedRestart(next Config) []string {
	var keys []string
	diff := func(key string, changed bool) {
		if changed {
			keys = append(keys, key)
		}
	}
	diff("socket", c.Socket != next.Socket)
	diff("approver", !slices.Equal(c.Approvers, next.Approvers))
	diff("askpass", c.Askpass != next.Askpass)
	diff("pinentry", c.Pinentry != next.Pinentry)
	diff("grant_for", c.GrantFor != next.GrantFor)
	diff("grant_uses", c.GrantUses != next.GrantUses)
	diff("cooldown_after", c.CooldownStrikes != next.CooldownStrikes)
	diff("cooldown", c.CooldownPeriod != next.CooldownPeriod)
	diff("prompt_timeout", c.PromptTimeout != next.PromptTimeout)
	diff("lifetime", c.Lifetime != next.Lifetime)
	diff("audit_dir", c.AuditDir != next.AuditDir)
	diff("on_audit_failure", c.OnAuditFailure != next.OnAuditFailure)
	diff("store_dir", c.StoreDir != next.StoreDir)
	diff("unlock.idle_timeout", c.Unlock.IdleTimeout != next.Unlock.IdleTimeout)
	diff("unlock.max_lifetime", c.Unlock.MaxLifetime != next.Unlock.MaxLifetime)
	diff("unlock.max_signatures", c.Unlock.MaxSignatures != next.Unlock.MaxSignatures)
	diff("notify", c.Notify != next.Notify)
	return keys
}

// Unlock holds the limits of the unlock window. A zero field means no
// limit; fields left out of the file take DefaultUnlock's values.
type Unlock struct {
	IdleTimeout   time.Duration
	MaxLifetime   time.Duration
	MaxSignatures int
}

// DefaultUnlock is what a user gets without an [unlock] table: keys leave
// memory after 15 idle minutes and after 4 hours at most.
var DefaultUnlock = Unlock{IdleTimeout: 15 * time.Minute, MaxLifetime: 4 * time.Hour}

// file mirrors the TOML layout.
type file struct {
	Socket        string    `toml:"socket"`
	Approver      any       `toml:"approver"` // a list of approver names, or (the old form) an askpass program
	Askpass       string    `toml:"askpass"`
	Pinentry      string    `toml:"pinentry"`
	GrantFor      *duration `toml:"grant_for"`
	GrantUses     int       `toml:"grant_uses"`
	CooldownAfter int       `toml:"cooldown_after"`
	Cooldown      *duration `toml:"cooldown"`
	PromptTimeout duration  `toml:"prompt_timeout"`
	Lifetime      duration  `toml:"lifetime"`
	AuditDir      string    `toml:"audit_dir"`
	OnAuditFail   string    `toml:"on_audit_failure"`
	StoreDir      string    `toml:"store_dir"`
	Unlock        struct {
		IdleTimeout   *duration `toml:"idle_timeout"`
		MaxLifetime   *duration `toml:"max_lifetime"`
		MaxSignatures int       `toml:"max_signatures"`
	} `toml:"unlock"`
	Rules        []rule  `toml:"rule"`
	Offers       []offer `toml:"offer"`
	OfferDefault string  `toml:"offer_default"`
	Notify       *bool   `toml:"notify"`
}

type offer struct {
	Key   string   `toml:"key"`
	Hosts []string `toml:"hosts"`
}

type rule struct {
	Key       string `toml:"key"`
	Exe       string `toml:"exe"`
	Purpose   string `toml:"purpose"`
	Host      string `toml:"host"`
	Registry  string `toml:"registry"`
	Forwarded bool   `toml:"forwarded"`
	Action    string `toml:"action"`
}

type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (examples: \"30s\", \"10m\", \"1h30m\")", b)
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", b)
	}
	d.Duration = v
	return nil
}

// Load reads the file at path. If missingOK and the file does not exist,
// it returns an empty Config. A file or directory that another user could
// write is refused: its allow rules decide what is signed without asking.
func Load(path string, missingOK bool) (Config, error) {
	if err := checkDirs(path); err != nil {
		return Config{}, err
	}
	f, err := os.Open(path)
	if missingOK && errors.Is(err, fs.ErrNotExist) {
		return Config{Unlock: DefaultUnlock, GrantFor: 5 * time.Minute, Notify: true}, nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Config{}, fmt.Errorf("config: %s is not a regular file", path)
	}
	if err := fileperm.CheckRootOwnedOK(fi, 0o644); err != nil {
		return Config{}, fmt.Errorf("config %s: %w: another user could change the rules (chmod go-w, or chown it)", path, err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(string(b))
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// checkDirs refuses the config file's directory, and its target's if it
// is a symlink, when another user could write it: whoever can write the
// directory can put another file in its place.
func checkDirs(path string) error {
	dirs := []string{filepath.Dir(path)}
	if target, err := filepath.EvalSymlinks(path); err == nil && filepath.Dir(target) != dirs[0] {
		dirs = append(dirs, filepath.Dir(target))
	}
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if err := fileperm.CheckRootOwnedOK(fi, 0o755); err != nil {
			return fmt.Errorf("config: directory %s: %w: another user could replace the config file (chmod go-w, or chown it)", dir, err)
		}
	}
	return nil
}

// Parse reads a configuration from TOML text.
func Parse(text string) (Config, error) {
	var f file
	md, err := toml.Decode(text, &f)
	if err != nil {
		// A value of the wrong type first: the library's own message
		// speaks of Go types.
		if terr, ok := typeError(text, md); ok {
			return Config{}, terr
		}
		var perr toml.ParseError
		if !errors.As(err, &perr) {
			return Config{}, err
		}
		// Keys known means the text parsed, and the error is about
		// the value of LastKey; a syntax error has no key of its own.
		if len(md.Keys()) > 0 && perr.LastKey != "" {
			return Config{}, fmt.Errorf("line %d: %s: %s", perr.Position.Line, perr.LastKey, perr.Message)
		}
		return Config{}, fmt.Errorf("line %d: %s", perr.Position.Line, perr.Message)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		keys := make([]string, len(undec))
		for i, k := range undec {
			keys[i] = linePrefix(text, md, k) + "unknown key " + k.String()
		}
		return Config{}, errors.New(strings.Join(keys, "; "))
	}
	if f.PromptTimeout.Duration != 0 && f.PromptTimeout.Duration < time.Second {
		return Config{}, fmt.Errorf("prompt_timeout %v is too short for a person to answer (at least 1s)", f.PromptTimeout.Duration)
	}
	switch f.OnAuditFail {
	case "", "refuse", "continue":
	default:
		return Config{}, fmt.Errorf("on_audit_failure %q: want \"refuse\" or \"continue\"", f.OnAuditFail)
	}
	unlock := DefaultUnlock
	if f.Unlock.IdleTimeout != nil {
		unlock.IdleTimeout = f.Unlock.IdleTimeout.Duration
	}
	if f.Unlock.MaxLifetime != nil {
		unlock.MaxLifetime = f.Unlock.MaxLifetime.Duration
	}
	if f.Unlock.MaxSignatures < 0 {
		return Config{}, fmt.Errorf("unlock.max_signatures %d: want 0 (no limit) or more", f.Unlock.MaxSignatures)
	}
	unlock.MaxSignatures = f.Unlock.MaxSignatures
	var rules []policy.Rule
	for i, r := range f.Rules {
		if r.Action == "" {
			return Config{}, fmt.Errorf("rule %d: action is required (allow, ask or deny)", i+1)
		}
		action, err := policy.ParseAction(r.Action)
		if err != nil {
			return Config{}, fmt.Errorf("rule %d: %w", i+1, err)
		}
		rules = append(rules, policy.Rule{N: i + 1, Key: r.Key, Exe: r.Exe, Purpose: r.Purpose, Host: r.Host, Registry: r.Registry, Forwarded: r.Forwarded, Action: action})
		if err := rules[i].Validate(); err != nil {
			return Config{}, fmt.Errorf("rule %d: %w", i+1, err)
		}
	}
	var offers []policy.Offer
	for i, o := range f.Offers {
		po := policy.Offer{N: i + 1, Key: o.Key, Hosts: o.Hosts}
		if err := po.Validate(); err != nil {
			return Config{}, fmt.Errorf("offer %d: %w", i+1, err)
		}
		offers = append(offers, po)
	}
	switch f.OfferDefault {
	case "", "all", "none":
	default:
		return Config{}, fmt.Errorf("offer_default %q: want \"all\" or \"none\"", f.OfferDefault)
	}
	approvers, askpass, err := parseApprover(f.Approver)
	if err != nil {
		return Config{}, err
	}
	if f.Askpass != "" {
		if askpass != "" {
			return Config{}, errors.New("approver names a program and askpass names another: keep askpass, and list approver names")
		}
		askpass = f.Askpass
	}
	// A relative path would name whatever is at that path in the
	// directory vigil happens to start in (/ under systemd), and vigil
	// install would resolve it against another.
	for _, p := range []struct{ key, path string }{{"askpass", askpass}, {"pinentry", f.Pinentry},
		{"socket", f.Socket}, {"store_dir", f.StoreDir}, {"audit_dir", f.AuditDir}} {
		if p.path != "" && !filepath.IsAbs(p.path) {
			return Config{}, fmt.Errorf("%s %q: want an absolute path", p.key, p.path)
		}
	}
	if f.CooldownAfter < 0 {
		return Config{}, fmt.Errorf("cooldown_after = %d: want 1 or more (0: the default, 3)", f.CooldownAfter)
	}
	var cooldown time.Duration
	if f.Cooldown != nil {
		if cooldown = f.Cooldown.Duration; cooldown <= 0 {
			return Config{}, fmt.Errorf("cooldown = %v: want a positive duration", f.Cooldown.Duration)
		}
	}
	if f.GrantUses < 0 {
		return Config{}, fmt.Errorf("grant_uses = %d: want 0 (no limit) or more", f.GrantUses)
	}
	grantFor := 5 * time.Minute
	if f.GrantFor != nil {
		grantFor = f.GrantFor.Duration
	}
	return Config{
		Notify:          f.Notify == nil || *f.Notify,
		Pinentry:        f.Pinentry,
		GrantFor:        grantFor,
		GrantUses:       f.GrantUses,
		CooldownStrikes: f.CooldownAfter,
		CooldownPeriod:  cooldown,
		Offers:          offers,
		OfferNone:       f.OfferDefault == "none",
		Rules:           rules,
		Unlock:          unlock,
		StoreDir:        f.StoreDir,
		AuditDir:        f.AuditDir,
		OnAuditFailure:  f.OnAuditFail,
		Socket:          f.Socket,
		Approvers:       approvers,
		Askpass:         askpass,
		PromptTimeout:   f.PromptTimeout.Duration,
		Lifetime:        f.Lifetime.Duration,
	}, nil
}

// Approver names, for approver = [...].
const (
	ApproverTUI      = "tui"      // vigil watch, through the control socket
	ApproverPinentry = "pinentry" // the pinentry program
	ApproverAskpass  = "askpass"  // the askpass program
)

// DefaultApprovers is the order used when the file sets none.
// A window that only the person at the display can answer comes before a
// terminal: any program of the user can start vigil watch on a terminal it
// controls, so the terminal is used only when no window can be.
var DefaultApprovers = []string{ApproverPinentry, ApproverAskpass, ApproverTUI}

// parseApprover reads approver = [NAME, ...], or the old approver =
// "PROGRAM", which names the askpass program.
func parseApprover(v any) (names []string, askpass string, err error) {
	switch v := v.(type) {
	case nil:
		return nil, "", nil
	case string:
		if v == "" {
			return nil, "", errors.New(`approver = "": name a program, or list approvers such as ["tui", "askpass"]`)
		}
		return nil, v, nil
	case []any:
		if len(v) == 0 {
			return nil, "", errors.New("approver = []: list at least one of \"tui\", \"pinentry\", \"askpass\"")
		}
		for _, e := range v {
			name, _ := e.(string)
			switch name {
			case ApproverTUI, ApproverPinentry, ApproverAskpass:
			default:
				return nil, "", fmt.Errorf("approver: %v is not one of \"tui\", \"pinentry\", \"askpass\"", e)
			}
			if slices.Contains(names, name) {
				return nil, "", fmt.Errorf("approver: %q is listed twice", name)
			}
			names = append(names, name)
		}
		return names, "", nil
	}
	return nil, "", fmt.Errorf("approver: want a list such as [\"tui\", \"askpass\"] or a program path, not %T", v)
}
