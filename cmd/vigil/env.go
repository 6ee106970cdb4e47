package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/ssh/agent"
)

var envCommand = &command{
	name:     "env",
	synopsis: "[-s | -c | -f] [--socket PATH] [--config FILE]",
	summary:  "print SSH_AUTH_SOCK for the running agent",
	help: `Prints the line that points a shell at the running agent, as vigil serve does:
  SSH_AUTH_SOCK=PATH; export SSH_AUTH_SOCK;
(csh syntax with -c, fish with -f). Use it in a shell started before the agent,
or in a shell profile when systemd runs vigil:
  eval "$(vigil env)"          sh, bash, zsh
  eval ` + "`vigil env -c`" + `          csh, tcsh
  vigil env -f | source        fish

The socket is the one vigil serve listens on: --socket, then socket in the
config file, then the default. vigil env prints nothing and exits 1 unless an
agent answers there (a socket that systemd holds for vigil starts it).
`,
	setup: func(fs *flag.FlagSet) runFunc {
		o := &serveOptions{}
		cfgPath := fs.String("config", "", "read the socket from `FILE` instead of the default config file")
		fs.StringVar(&o.socket, "socket", "", "the agent's socket `PATH` (default: as vigil serve)")
		fs.BoolVar(&o.sh, "s", false, "print in sh syntax (the default)")
		fs.BoolVar(&o.csh, "c", false, "print in csh syntax")
		fs.BoolVar(&o.fish, "f", false, "print in fish syntax")
		return func(args []string, stdout, stderr io.Writer) error {
			if err := noArgs(args, stderr); err != nil {
				return err
			}
			if err := oneShell(o, stderr); err != nil {
				return err
			}
			cfg, err := loadConfig(*cfgPath)
			if err != nil {
				return err
			}
			sock, _, err := socketPath(o.socket, cfg.Socket)
			if err != nil {
				return err
			}
			if err := agentAnswers(sock); err != nil {
				return err
			}
			fmt.Fprint(stdout, exportLine(o, sock))
			return nil
		}
	},
}

// agentAnswers checks that an SSH agent answers a key list request on sock.
func agentAnswers(sock string) error {
	c, err := dialAgent(sock)
	if err != nil {
		return fmt.Errorf("no agent answers on %s: %v\n"+
			"  start one with: vigil serve (in the background), or have systemd start it: vigil install --user", sock, err)
	}
	defer c.Close()
	// A socket-activated vigil may take a moment to start; a person never
	// answers a list request, so this bound is generous.
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := agent.NewClient(c).List(); err != nil {
		return fmt.Errorf("%s does not answer as an SSH agent: %v\n"+
			"  (if systemd runs vigil, journalctl --user -u vigil says why)", sock, err)
	}
	return nil
}
