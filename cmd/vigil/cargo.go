package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/vigil-agent/vigil/internal/broker"
	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/credential/cargo"
	"github.com/vigil-agent/vigil/internal/credential/cargoconfig"
	"github.com/vigil-agent/vigil/internal/sanitize"
	"github.com/vigil-agent/vigil/internal/secmem"
)

// cargoPluginFlag is the whole command line cargo gives a credential
// provider: configured as credential-provider = ["/path/to/vigil"], vigil is
// run as "vigil --cargo-plugin".
const cargoPluginFlag = cargo.PluginFlag

// runCargoPlugin is vigil run by cargo as its credential provider. It holds
// nothing: it forwards cargo's one request to the running agent and cargo
// gets the agent's answer. Its options would come in the request's JSON
// "args"; there are none yet. Exit 0 once cargo has an answer, errors
// included; 1 only when cargo could not be answered at all.
func runCargoPlugin(stdin io.Reader, stdout, stderr io.Writer) int {
	// Not fatal if it fails: a token only passes through this process.
	_ = secmem.HardenProcess()
	err := broker.RunCargoPlugin(context.Background(), broker.PluginConfig{
		Sockets:   cargoPluginSockets(),
		Stdin:     stdin,
		Stdout:    stdout,
		ReadToken: readTokenFromTerminal,
	})
	if err != nil {
		fmt.Fprintf(stderr, "vigil: error: %v\n", err)
		return 1
	}
	return 0
}

// cargoPluginSockets are the agent sockets the plugin tries: SSH_AUTH_SOCK,
// then vigil's own (from the config file, else the default). An agent at
// SSH_AUTH_SOCK that is not vigil is asked nothing but which extensions it
// serves.
func cargoPluginSockets() []string {
	var socks []string
	if s := os.Getenv("SSH_AUTH_SOCK"); s != "" {
		socks = append(socks, s)
	}
	var cfgSocket string
	if cfg, err := loadConfig(""); err == nil {
		cfgSocket = cfg.Socket
	}
	if def, _, err := socketPath("", cfgSocket); err == nil && !slices.Contains(socks, def) {
		socks = append(socks, def)
	}
	return socks
}

// readTokenFromTerminal asks for a login token on the terminal, as cargo's
// own cargo:token does, without echoing it.
func readTokenFromTerminal(registry string) (credential.Token, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return credential.Token{}, fmt.Errorf("no terminal to ask for it on (pass the token on cargo login's stdin): %w", err)
	}
	defer tty.Close()
	fmt.Fprintf(tty, "please paste the token for %s below\n", sanitize.Line(registry, 200))
	var line []byte
	if fd := int(tty.Fd()); term.IsTerminal(fd) {
		line, err = term.ReadPassword(fd)
		fmt.Fprintln(tty)
	} else {
		line, err = bufio.NewReader(tty).ReadBytes('\n')
		if errors.Is(err, io.EOF) && len(line) > 0 {
			err = nil
		}
	}
	defer secmem.Wipe(line)
	if err != nil {
		return credential.Token{}, err
	}
	return credential.NewToken(strings.TrimSpace(string(line)))
}

var cargoCommand = &command{
	name:     "cargo",
	synopsis: "keygen|public-key --registry NAME|--registry-url URL [--subject SUB] [--socket PATH]",
	summary:  "create or show a registry's key for asymmetric (PASETO) cargo tokens",
	help: `Asymmetric cargo tokens (RFC 3231, cargo:paseto, on stable cargo): the running
agent keeps a P-384 secret key for the registry in its encrypted key store
(which must be unlocked) and, when the registry has no plain token from cargo
login, answers each cargo request with a v3.public PASETO it signs itself,
after the same decision as for a plain token. A token is bound to the
operation, crate, version and checksum it was approved for, and names the
registry and key in its footer; the secret key never leaves the agent.

  keygen      creates the registry's key (never replacing one) and prints its
              public key (k3.public...) to register with the registry. With
              --subject, its tokens carry that sub claim (what cargo's
              registry.secret-key-subject does), for registries that want one.
  public-key  prints the public key again.

A key made elsewhere (a k3.secret... PASERK, as cargo:paseto takes) is
imported by giving it to cargo login as the token: vigil stores it as the
registry's key, replacing any plain token the registry had. If the registry
already has another key, cargo login is refused: run cargo logout first.
cargo logout forgets the key with the token.

NAME is the registry's name, found as cargo finds it: in
CARGO_REGISTRIES_<NAME>_INDEX, else [registries.NAME] index in .cargo/config.toml
of the current directory or a parent (nearest first), else in
$CARGO_HOME/config.toml (~/.cargo by default). crates-io is crates.io.
Run it where you run cargo, so that it reads the same files.

URL (instead of a name) is the registry's index URL exactly as cargo sends it
to its credential provider: with its sparse+ prefix for a sparse registry
(sparse+https://registry.example/index/).
`,
	setup: func(fs *flag.FlagSet) runFunc {
		sock := fs.String("socket", "", "the agent's `PATH` (default: $SSH_AUTH_SOCK, then vigil's default socket)")
		name := fs.String("registry", "", "the registry's `NAME` in cargo's configuration")
		url := fs.String("registry-url", "", "the registry's index `URL`, as cargo sends it")
		subject := fs.String("subject", "", "keygen: the `SUB` claim of the key's tokens")
		return func(args []string, stdout, stderr io.Writer) error {
			if len(args) != 1 || (args[0] != broker.KeyGen && args[0] != broker.KeyPublicKey) {
				return usagef("usage: vigil cargo keygen|public-key --registry NAME|--registry-url URL")
			}
			indexURL, err := registryIndexURL(*name, *url)
			if err != nil {
				return err
			}
			path, err := runningAgent(*sock)
			if err != nil {
				return err
			}
			reply, err := control(path, broker.CargoExtension, broker.EncodeKeyRequest(broker.KeyRequest{Op: args[0], IndexURL: indexURL, Subject: *subject}))
			if err != nil {
				return err
			}
			pk, err := broker.DecodeKeyReply(reply)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, pk)
			return nil
		}
	},
}

// registryIndexURL is the index-url cargo sends for the registry given by
// --registry NAME (looked up as cargo does, from here) or --registry-url.
func registryIndexURL(name, url string) (string, error) {
	switch {
	case name != "" && url != "":
		return "", usagef("--registry and --registry-url exclude each other")
	case url != "":
		return url, nil
	case name == "":
		return "", usagef("--registry NAME or --registry-url URL is required")
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	home := os.Getenv("CARGO_HOME")
	if home == "" {
		if h, err := os.UserHomeDir(); err == nil {
			home = filepath.Join(h, ".cargo")
		}
	}
	return cargoconfig.IndexURL(name, cargoconfig.Where{Getenv: os.Getenv, Dir: dir, CargoHome: home})
}
