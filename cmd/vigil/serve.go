package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-agent/vigil/internal/agent"
	"github.com/vigil-agent/vigil/internal/approve"
	"github.com/vigil-agent/vigil/internal/audit"
	"github.com/vigil-agent/vigil/internal/broker"
	"github.com/vigil-agent/vigil/internal/caller"
	"github.com/vigil-agent/vigil/internal/config"
	"github.com/vigil-agent/vigil/internal/daemon"
	"github.com/vigil-agent/vigil/internal/keystore"
	"github.com/vigil-agent/vigil/internal/knownhosts"
	"github.com/vigil-agent/vigil/internal/notify"
	"github.com/vigil-agent/vigil/internal/pins"
	"github.com/vigil-agent/vigil/internal/secmem"
	"github.com/vigil-agent/vigil/internal/watch"
	"github.com/vigil-agent/vigil/internal/words"
)

var serveCommand = &command{
	name:     "serve",
	synopsis: "[flags]",
	summary:  "run the agent in the foreground",
	help: `Runs the agent in the foreground. Once the socket accepts connections, prints
  SSH_AUTH_SOCK=PATH; export SSH_AUTH_SOCK;
on stdout (csh syntax with -c, fish with -f), so that eval "$(vigil serve &)"
works. Logs go to stderr. SIGINT or SIGTERM: stop, cancel open prompts, wipe
keys, remove the socket, exit 0. SIGHUP: re-read the rules and offers; other
settings take effect at the next start, and the log names any that changed.

Every signature needs a decision: a rule in the config file, a grant, or a
person's yes. For each prompt vigil asks through the first approver that can
be reached, in the config file's order (approver = ["pinentry", "askpass",
"tui"] by default): "tui" is a vigil watch connected to the control
socket (see vigil help watch); "pinentry" a pinentry program (--pinentry;
Allow once, Allow for a while, Deny); "askpass" a program with OpenSSH's
SSH_ASKPASS contract (--approver: the prompt text as its only argument,
SSH_ASKPASS_PROMPT=confirm; exit 0 with no output or "yes" approves). When
none can be reached, what no rule or grant allows is refused, and the log
names each approver tried.

Started by systemd with a socket (LISTEN_FDS), vigil serves that socket and
reports READY=1.
`,
	footer: `
Precedence: flags, then the config file, then the environment and defaults.

Default socket: $XDG_RUNTIME_DIR/vigil/agent.sock, or ~/.vigil/agent.sock when
XDG_RUNTIME_DIR is not set. That directory is vigil's own: created 0700, and
vigil refuses to start if it is a symlink, owned by another user or open to
others. A --socket in another directory is used as given (like ssh-agent -a).
The control socket for vigil watch is beside the agent's (0600, the agent's
own user only): control.sock beside agent.sock, or the agent's socket path
with ".control" added.

On Windows (untested), vigil listens on the named pipe
\\.\pipe\openssh-ssh-agent, where Windows' OpenSSH looks for the agent, and
only the user running vigil may open it; --socket takes \\.\pipe\NAME.
`,
	setup: func(fs *flag.FlagSet) runFunc {
		o := &serveOptions{}
		fs.StringVar(&o.socket, "socket", "", "listen on `PATH` instead of the default socket")
		fs.StringVar(&o.approver, "approver", "", "the askpass approver's `PROGRAM` (default: askpass in the config file, then $SSH_ASKPASS)")
		fs.StringVar(&o.pinentry, "pinentry", "", "the pinentry approver's `PROGRAM` (Allow once, Allow for a while, Deny); by default asked before askpass")
		fs.DurationVar(&o.promptTimeout, "prompt-timeout", 0, "refuse a signature nobody answered within `DURATION` (default 60s)")
		fs.DurationVar(&o.lifetime, "lifetime", 0, "remove keys added without ssh-add -t after `DURATION` (default: keep)")
		fs.StringVar(&o.config, "config", "", "read configuration from `FILE` (must exist; default: see vigil help check)")
		fs.BoolVar(&o.sh, "s", false, "print the socket in sh syntax (the default)")
		fs.BoolVar(&o.csh, "c", false, "print the socket in csh syntax")
		fs.BoolVar(&o.fish, "f", false, "print the socket in fish syntax")
		fs.BoolVar(&o.debug, "debug", false, "log every request, not only decisions")
		fs.StringVar(&o.auditDir, "audit-dir", "", "keep the audit log in `DIR` (default: see vigil help audit)")
		fs.StringVar(&o.store, "store", "", "offer the keys of the key store in `DIR`, which must exist (default: see vigil help key)")
		return func(args []string, stdout, stderr io.Writer) error {
			if err := noArgs(args, stderr); err != nil {
				return err
			}
			if err := oneShell(o, stderr); err != nil {
				return err
			}
			if err := negativeFlag(stderr, "lifetime", o.lifetime); err != nil {
				return err
			}
			if err := negativeFlag(stderr, "prompt-timeout", o.promptTimeout); err != nil {
				return err
			}
			// The config file refuses the same (prompt_timeout).
			if o.promptTimeout != 0 && o.promptTimeout < time.Second {
				fmt.Fprintf(stderr, "vigil: error: --prompt-timeout %v is too short for a person to answer (at least 1s)\n", o.promptTimeout)
				return errUsage
			}
			return serve(o, stdout, stderr)
		}
	},
}

// defaultPromptTimeout is how long a prompt waits for a person when neither
// --prompt-timeout nor the config file says.
const defaultPromptTimeout = 60 * time.Second

type serveOptions struct {
	socket, approver, config string
	auditDir, store          string
	pinentry                 string
	promptTimeout, lifetime  time.Duration
	csh, sh, fish, debug     bool
}

func serve(o *serveOptions, stdout, stderr io.Writer) error {
	level := slog.LevelInfo
	if o.debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// x/crypto's agent parser reports through the standard logger.
	log.SetFlags(0)
	log.SetOutput(slog.NewLogLogger(logger.Handler(), slog.LevelDebug).Writer())

	if err := secmem.HardenProcess(); err != nil {
		logger.Warn("process hardening failed", "err", err)
	}

	cfg, err := loadConfig(o.config)
	if err != nil {
		return err
	}
	socket, ownDir, err := socketPath(o.socket, cfg.Socket)
	if err != nil {
		return err
	}
	promptTimeout := firstDuration(o.promptTimeout, cfg.PromptTimeout, defaultPromptTimeout)

	auditLog, err := openAudit(o.auditDir, cfg)
	if err != nil {
		return err
	}
	defer auditLog.Close()

	// A store named by --store or store_dir must be there: a typo would
	// otherwise give an agent without the keys the user pointed it at. The
	// default location is created, so that a key generated later is seen.
	storeFlag := firstSet(o.store, cfg.StoreDir)
	store, err := openVault(storeFlag, storeFlag == "")
	if err != nil {
		return fmt.Errorf("key store: %w", err)
	}

	pinStore, err := openPins(logger)
	if err != nil {
		return err
	}

	keys := keystore.New(logger)
	defer keys.Wipe()
	// Registry tokens are in the key store, encrypted: the broker can use
	// them while the store is unlocked (OnUnlock, OnLock), and not otherwise.
	cargoBroker := broker.NewCargo(broker.CargoConfig{Log: logger})
	defer cargoBroker.Lock()
	gitBroker := broker.NewGit(broker.GitConfig{Store: cargoBroker.Labels, Log: logger})
	acfg := agent.Config{
		Keys:            keys,
		PromptTimeout:   promptTimeout,
		GrantUses:       cfg.GrantUses,
		CooldownStrikes: cfg.CooldownStrikes,
		CooldownPeriod:  cfg.CooldownPeriod,
		DefaultLifetime: firstDuration(o.lifetime, cfg.Lifetime, 0),
		Rules:           cfg.Rules,
		Offers:          cfg.Offers,
		OfferNone:       cfg.OfferNone,
		KnownHostsFiles: knownHostsFiles(),
		Audit:           auditLog,
		Extensions:      map[string]agent.Extension{broker.CargoExtension: cargoBroker, broker.GitExtension: gitBroker},
		Store:           store,
		Pins:            pinStore,
		OnUnlock: func(p []byte) {
			// Vault errors name files and store keys, never the passphrase.
			if err := cargoBroker.UnlockVault(store, p); err != nil {
				logger.Error("registry tokens stay locked: the key store's tokens could not be opened", "err", err)
			}
		},
		OnLock: cargoBroker.Lock,
		Window: agent.WindowLimits{
			Idle:          cfg.Unlock.IdleTimeout,
			MaxLifetime:   cfg.Unlock.MaxLifetime,
			MaxSignatures: cfg.Unlock.MaxSignatures,
		},
		Log: logger,
	}
	// Notifications go to the desktop session's bus, if vigil runs in one.
	if bus := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); cfg.Notify && bus != "" {
		notifier := notify.New(bus, logger)
		defer notifier.Close()
		acfg.Notifier = notifier
	}
	hub := &watch.Hub{Log: logger}
	if hub.Program, err = selfProgram(); err != nil {
		// Fail closed: with no identity to compare, no watcher is admitted.
		hub.Program = caller.Process{Exe: "(vigil's own executable could not be read)", Hash: "-"}
		logger.Warn("vigil watch cannot be used: vigil's own executable could not be identified", "err", err)
	}
	chain, err := approvers(o, cfg, hub, logger)
	if err != nil {
		return err
	}
	acfg.Approver = chain
	acfg.OnGrantsChanged = hub.GrantsChanged

	ln, err := listen(socket, ownDir, logger)
	if err != nil {
		return err
	}
	defer ln.Close()
	socket = ln.Addr().String()
	// The control socket is vigil watch's: beside the agent's, in the same
	// directory, with the same checks. Listen's only log line is the
	// warning about that directory, given once already for the agent's.
	ctl, err := daemon.Listen(controlSocket(socket), daemon.ListenOptions{OwnDir: ownDir})
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	defer ctl.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Caught from before the socket line is printed: SIGHUP's default
	// action would end an agent that its user already points clients at.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	fmt.Fprint(stdout, exportLine(o, socket))
	logger.Info("listening", "socket", socket, "pid", os.Getpid(), "prompt_timeout", promptTimeout, "rules", len(cfg.Rules))
	ag := agent.New(acfg)
	hub.Grants = ag
	go reloadOnHangup(ctx, hup, o.config, cfg, ag, auditLog, logger)
	controlDone := make(chan struct{})
	go func() {
		defer close(controlDone)
		if err := daemon.Serve(ctx, ctl.Listener, hub, logger); err != nil {
			logger.Error("control socket failed: vigil watch cannot connect", "err", err)
		}
	}()
	if err := daemon.Notify(os.Getenv("NOTIFY_SOCKET"), "READY=1"); err != nil {
		logger.Warn("could not tell systemd the agent is ready", "err", err)
	}
	err = daemon.Serve(ctx, ln.listener(), ag, logger)
	stop()
	<-controlDone
	logger.Info("shutting down: keys wiped, socket removed")
	return err
}

// reloadOnHangup re-reads the rules on SIGHUP. A file that does not parse
// keeps the rules in force, and the log says why. Other settings take
// effect at the next start (inForce holds the ones read then), and the log
// names those that changed, so that nobody believes they apply.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, explicit string, inForce config.Config, ag *agent.Agent, log *audit.Log, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := loadConfig(explicit)
		if err != nil {
			logger.Error("config reload failed; keeping the rules in force", "err", err)
			log.Append(audit.Event{Kind: audit.KindConfigReloaded, Decision: audit.Failed, Detail: err.Error()})
			continue
		}
		ag.SetRules(cfg.Rules)
		ag.SetOffers(cfg.Offers, cfg.OfferNone)
		logger.Info("config reloaded", "rules", len(cfg.Rules))
		if changed := inForce.NeedRestart(cfg); len(changed) > 0 {
			logger.Warn("config reload applies rules and offers only: restart vigil for the other changed settings",
				"settings", strings.Join(changed, ","))
		}
		log.Append(audit.Event{Kind: audit.KindConfigReloaded, Decision: audit.Allowed,
			Detail: words.Count(len(cfg.Rules), "rule")})
	}
}

// agentSocket is the listener: either vigil's own socket file, or the one
// systemd passed (which systemd created and removes).
type agentSocket interface {
	Addr() net.Addr
	Close() error
	listener() net.Listener
}

type ownSocket struct{ *daemon.Socket }

func (s ownSocket) listener() net.Listener { return s.Listener }

type activatedSocket struct{ *net.UnixListener }

func (s activatedSocket) listener() net.Listener { return s.UnixListener }

func listen(socket string, ownDir bool, logger *slog.Logger) (agentSocket, error) {
	act, err := daemon.Activated(os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"))
	// Not for the approver programs vigil starts.
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}
	if err != nil {
		return nil, err
	}
	if act != nil {
		logger.Info("using the socket passed by systemd", "socket", act.Addr().String())
		return activatedSocket{act}, nil
	}
	sock, err := daemon.Listen(socket, daemon.ListenOptions{OwnDir: ownDir, Log: logger})
	if err != nil {
		return nil, err
	}
	return ownSocket{sock}, nil
}

// executable resolves an approver program and checks it can be run.
func executable(program string) (string, error) {
	path, err := filepath.Abs(program)
	if err != nil {
		return "", err
	}
	// Windows has no execute bits: there, any file will do.
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 && runtime.GOOS != "windows" {
		return "", fmt.Errorf("approver %s is not an executable file", path)
	}
	return path, nil
}

// approverPrograms resolves the askpass and pinentry programs the approver
// order uses ("" for one not configured) and refuses one that cannot be
// run. vigil check runs it too, so that it accepts only what serve does.
func approverPrograms(o *serveOptions, cfg config.Config) (askpass, pinentry string, err error) {
	askpass = firstSet(o.approver, cfg.Askpass, os.Getenv("SSH_ASKPASS"))
	pinentry = firstSet(o.pinentry, cfg.Pinentry)
	for _, name := range approverOrder(cfg) {
		switch {
		case name == config.ApproverAskpass && askpass != "":
			askpass, err = executable(askpass)
		case name == config.ApproverPinentry && pinentry != "":
			pinentry, err = executable(pinentry)
		}
		if err != nil {
			return "", "", err
		}
	}
	return askpass, pinentry, nil
}

// approverOrder is the configured order of the ways to ask, or the default.
func approverOrder(cfg config.Config) []string {
	if cfg.Approvers != nil {
		return cfg.Approvers
	}
	return config.DefaultApprovers
}

// approvers builds the ways to ask, in the configured order (by default
// vigil watch, then pinentry, then askpass, each if configured).
func approvers(o *serveOptions, cfg config.Config, hub *watch.Hub, logger *slog.Logger) (approve.Chain, error) {
	askpass, pin, err := approverPrograms(o, cfg)
	if err != nil {
		return nil, err
	}
	explicit := cfg.Approvers != nil
	var chain approve.Chain
	for _, name := range approverOrder(cfg) {
		switch name {
		case config.ApproverTUI:
			chain = append(chain, hub)
		case config.ApproverPinentry:
			if pin == "" {
				if explicit {
					logger.Warn("approver lists pinentry, but no pinentry program is configured (--pinentry, pinentry in the config file)")
					chain = append(chain, &approve.Pinentry{})
				}
				continue
			}
			chain = append(chain, &approve.Pinentry{Program: pin, Env: approverEnv(), GrantFor: cfg.GrantFor})
		case config.ApproverAskpass:
			if askpass == "" {
				if explicit {
					logger.Warn("approver lists askpass, but no askpass program is configured (--approver, askpass in the config file, SSH_ASKPASS)")
					chain = append(chain, &approve.Askpass{})
				}
				continue
			}
			chain = append(chain, &approve.Askpass{Program: askpass, Env: approverEnv()})
		}
	}
	logger.Info("approvers", "order", chain.String(), "grant_for", cfg.GrantFor)
	if !slices.Contains(chain, approve.Way(hub)) {
		hub.NotAsked = "the approver list in vigil's configuration leaves out \"tui\": prompts go to " + chain.String() + ", not here"
	}
	if len(chain) == 1 && chain[0] == approve.Way(hub) {
		logger.Warn("no askpass or pinentry program configured (--approver, --pinentry, the config file, or SSH_ASKPASS): " +
			"only vigil watch can answer, and what no rule allows is refused while none is connected")
	}
	return chain, nil
}

// selfProgram identifies the running vigil as internal/caller identifies
// a peer: the executable's path and the SHA-256 of its content. Only a
// vigil watch run from that same file may answer prompts.
func selfProgram() (caller.Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return caller.Process{}, err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return caller.Process{}, err
	}
	f, err := os.Open(exe)
	if err != nil {
		return caller.Process{}, err
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return caller.Process{}, err
	}
	return caller.Process{Exe: exe, Hash: hex.EncodeToString(sum.Sum(nil))}, nil
}

// controlSocket is where vigil watch connects: control.sock beside the
// default agent.sock, or the agent's socket path with ".control" added.
func controlSocket(agentSocket string) string {
	if filepath.Base(agentSocket) == "agent.sock" {
		return filepath.Join(filepath.Dir(agentSocket), "control.sock")
	}
	return agentSocket + ".control"
}

// openAudit opens the audit log. A log that cannot be opened stops vigil
// from starting: signing without a record is what on_audit_failure =
// "continue" allows only for write failures that come later.
func openAudit(flagDir string, cfg config.Config) (*audit.Log, error) {
	dir, err := auditDirFor(flagDir, cfg)
	if err != nil {
		return nil, err
	}
	policy := audit.Refuse
	if cfg.OnAuditFailure == "continue" {
		policy = audit.Continue
	}
	l, err := audit.Open(dir, audit.Options{OnFailure: policy})
	if errors.Is(err, audit.ErrInUse) {
		return nil, err // "audit log DIR is in use by another vigil (pid N)"
	}
	if err != nil {
		return nil, err // "audit: ...", naming the directory
	}
	return l, nil
}

// auditDirFor is the audit log's directory: the flag, else the config's
// audit_dir, else the default.
func auditDirFor(flagDir string, cfg config.Config) (string, error) {
	if dir := firstSet(flagDir, cfg.AuditDir); dir != "" {
		return dir, nil
	}
	return defaultAuditDir()
}

// openPins reads the program pins kept in the state directory. Without a
// state directory they are kept in memory only, and the log says so.
func openPins(logger *slog.Logger) (*pins.Store, error) {
	dir, err := stateDir()
	if err != nil {
		logger.Warn("program pins kept in memory only: a program replaced while vigil is stopped will not be noticed", "err", err)
		return pins.Memory(), nil
	}
	return pins.Open(filepath.Join(dir, pinsFile))
}

// knownHostsFiles are the files that name verified hosts in prompts: the
// user's and the system's defaults, never files a caller names.
func knownHostsFiles() []string {
	home, _ := os.UserHomeDir() // without a home, only the system files
	return knownhosts.DefaultFiles(home)
}

func loadConfig(explicit string) (config.Config, error) {
	if explicit != "" {
		return config.Load(explicit, false)
	}
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return config.Config{}, nil
		}
		dir = filepath.Join(home, ".config")
	}
	return config.Load(filepath.Join(dir, "vigil", "config.toml"), true)
}

// socketPath picks the socket and says whether its directory is vigil's
// own (the default), which Listen then checks strictly.
func socketPath(flagPath, cfgPath string) (string, bool, error) {
	if p := firstSet(flagPath, cfgPath); p != "" {
		abs, err := filepath.Abs(p)
		return abs, false, err
	}
	if runtime.GOOS == "windows" {
		return daemon.OpenSSHPipe, false, nil
	}
	if rt := os.Getenv("XDG_RUNTIME_DIR"); rt != "" {
		return filepath.Join(rt, "vigil", "agent.sock"), true, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", false, fmt.Errorf("no XDG_RUNTIME_DIR and no home directory: use --socket")
	}
	return filepath.Join(home, ".vigil", "agent.sock"), true, nil
}

// approverEnv is the environment an approver runs with: vigil's own (for
// DISPLAY, WAYLAND_DISPLAY and the like), minus what is meant for vigil
// alone: the askpass mode it sets itself and systemd's activation state.
func approverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "SSH_ASKPASS_PROMPT", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstDuration(vals ...time.Duration) time.Duration {
	for _, v := range vals {
		if v != 0 {
			return v
		}
	}
	return 0
}

// oneShell refuses more than one of -s, -c and -f (vigil serve and vigil
// env): which syntax wins would otherwise be an accident of the code.
func oneShell(o *serveOptions, stderr io.Writer) error {
	n := 0
	for _, set := range []bool{o.sh, o.csh, o.fish} {
		if set {
			n++
		}
	}
	if n > 1 {
		fmt.Fprintln(stderr, "vigil: error: -s, -c and -f exclude each other")
		return errUsage
	}
	return nil
}

// exportLine says how to point a shell at the socket, in the syntax asked for.
func exportLine(o *serveOptions, socket string) string {
	switch {
	case o.csh:
		return fmt.Sprintf("setenv SSH_AUTH_SOCK %s;\n", shellQuote(socket))
	case o.fish:
		return fmt.Sprintf("set -gx SSH_AUTH_SOCK %s;\n", shellQuote(socket))
	}
	return fmt.Sprintf("SSH_AUTH_SOCK=%s; export SSH_AUTH_SOCK;\n", shellQuote(socket))
}

// shellQuote quotes s for sh and csh when it holds anything but safe
// characters.
func shellQuote(s string) string {
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
