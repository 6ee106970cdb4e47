package main

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode"
)

// The units are copies of contrib/systemd/user, their documented source;
// install_test.go fails when the two differ.
//
//go:embed systemd/vigil.socket systemd/vigil.service
var unitFS embed.FS

// unitMarker starts every unit file vigil install writes, so that a later
// install knows it may replace the file.
const unitMarker = "# Written by vigil install --user; the next install replaces this file."

// profileLine is what a shell needs to use the socket-activated agent.
const profileLine = `export SSH_AUTH_SOCK="$XDG_RUNTIME_DIR/vigil/agent.sock"`

var installCommand = &command{
	name:     "install",
	synopsis: "--user [--dry-run] [--no-systemctl] [--bin PATH] [--force]",
	summary:  "install and start the systemd user units",
	help: `Writes the systemd user units vigil.socket and vigil.service to
$XDG_CONFIG_HOME/systemd/user (~/.config/systemd/user), with the service's
ExecStart set to this vigil binary's absolute path, creates the directories
the hardened service may write to and lists them in its ReadWritePaths: the
key store, the state directory and the audit log's, found as vigil serve
finds them (store_dir and audit_dir in the config file, $XDG_DATA_HOME/vigil,
$XDG_STATE_HOME/vigil; by default ~/.local/share/vigil and
~/.local/state/vigil). Then it runs
  systemctl --user daemon-reload
  systemctl --user enable --now vigil.socket
when systemd --user is reachable; otherwise it says what to run. systemd then
holds the socket $XDG_RUNTIME_DIR/vigil/agent.sock and starts vigil on the
first connection. Finally it prints the line for your shell profile:
  export SSH_AUTH_SOCK="$XDG_RUNTIME_DIR/vigil/agent.sock"

The units run vigil serve with no flags: settings, the approver among them,
come from the config file (vigil.toml(5)). The service has the environment of
systemd --user: if XDG_DATA_HOME or XDG_STATE_HOME is set in your shell only,
set it there too (environment.d(5)), or vigil cannot write where it looks.
A unit file that vigil install did not write is left alone unless --force is
given.
`,
	setup: func(fs *flag.FlagSet) runFunc {
		o := &installOptions{}
		fs.BoolVar(&o.user, "user", false, "install for the current user (required: there is no system-wide install)")
		fs.BoolVar(&o.dryRun, "dry-run", false, "print what would be written and run, and change nothing")
		fs.BoolVar(&o.noSystemctl, "no-systemctl", false, "write the files but do not run systemctl")
		fs.StringVar(&o.bin, "bin", "", "the vigil `PATH` the service runs (default: this binary)")
		fs.BoolVar(&o.force, "force", false, "replace unit files that vigil install did not write")
		return func(args []string, stdout, stderr io.Writer) error {
			if err := noArgs(args, stderr); err != nil {
				return err
			}
			if !o.user {
				fmt.Fprintln(stderr, "vigil: error: vigil install needs --user: it installs systemd user units only")
				return errUsage
			}
			return install(o, stdout, stderr)
		}
	},
}

type installOptions struct {
	user, dryRun, noSystemctl, force bool
	bin                              string
}

// unitFile is one unit as vigil install writes it.
type unitFile struct {
	path    string
	content []byte
	old     []byte // nil if the file does not exist
}

func (u *unitFile) changed() bool { return u.old == nil || !bytes.Equal(u.old, u.content) }

func install(o *installOptions, stdout, stderr io.Writer) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("vigil install --user writes systemd units, which are Linux only (this is %s)", runtime.GOOS)
	}
	bin, err := installedBinary(o.bin)
	if err != nil {
		return err
	}
	for _, w := range binaryWarnings(bin) {
		fmt.Fprintf(stderr, "vigil: warning: %s\n", w)
	}
	confDir, err := configHome()
	if err != nil {
		return err
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return fmt.Errorf("no home directory: %w", err)
	}
	// ProtectSystem=strict leaves these read-only unless they exist and
	// are listed in ReadWritePaths.
	dataDirs, err := serveDataDirs()
	if err != nil {
		return err
	}
	unitDir := filepath.Join(confDir, "systemd", "user")
	units, err := renderUnits(unitDir, bin, home, dataDirs)
	if err != nil {
		return err
	}
	for _, u := range units {
		if u.old != nil && !bytes.HasPrefix(u.old, []byte(unitMarker)) && u.changed() && !o.force {
			return fmt.Errorf("%s exists and was not written by vigil install: move it away, or replace it with --force", u.path)
		}
	}
	commands := [][]string{{"daemon-reload"}, {"enable", "--now", "vigil.socket"}}

	if o.dryRun {
		for _, d := range dataDirs {
			if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(stdout, "would create directory %s (mode 0700)\n", d)
			}
		}
		for _, u := range units {
			verb := "would write"
			if !u.changed() {
				verb = "unchanged:"
			}
			fmt.Fprintf(stdout, "%s %s\n", verb, u.path)
			if u.changed() {
				fmt.Fprintf(stdout, "%s\n", indent(string(u.content), "    "))
			}
		}
		for _, c := range commands {
			fmt.Fprintf(stdout, "would run: systemctl --user %s\n", strings.Join(c, " "))
		}
		printProfileLine(stdout)
		return nil
	}

	for _, d := range dataDirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		return err
	}
	serviceChanged := false
	for _, u := range units {
		if !u.changed() {
			fmt.Fprintf(stdout, "unchanged: %s\n", u.path)
			continue
		}
		if err := writeFileAtomic(u.path, u.content, 0o644); err != nil {
			return err
		}
		serviceChanged = serviceChanged || strings.HasSuffix(u.path, ".service")
		fmt.Fprintf(stdout, "wrote %s\n", u.path)
	}

	reachable, why := false, ""
	if !o.noSystemctl {
		reachable, why = systemdUserReachable()
	}
	switch {
	case o.noSystemctl:
		fmt.Fprintln(stdout, "\nNot running systemctl (--no-systemctl). To start the agent, run:")
	case !reachable:
		fmt.Fprintf(stdout, "\nsystemd --user is not reachable (%s). Once it is, run:\n", why)
	}
	if o.noSystemctl || !reachable {
		for _, c := range commands {
			fmt.Fprintf(stdout, "  systemctl --user %s\n", strings.Join(c, " "))
		}
	} else {
		// Seen before the reload: a service running now keeps its old
		// command line until restarted.
		wasActive := serviceChanged && systemctlQuiet("is-active", "vigil.service")
		for _, c := range commands {
			fmt.Fprintf(stdout, "systemctl --user %s\n", strings.Join(c, " "))
			if out, err := systemctl(c...); err != nil {
				return fmt.Errorf("systemctl --user %s: %v\n%s", strings.Join(c, " "), err, out)
			}
		}
		fmt.Fprintln(stdout, "vigil.socket is listening: systemd starts vigil on the first connection.")
		if wasActive {
			fmt.Fprintln(stdout, "vigil.service is running from the old unit; restart it when convenient "+
				"(this wipes the keys in its memory):\n  systemctl --user restart vigil.service")
		}
	}
	approverNote(confDir, stderr)
	printProfileLine(stdout)
	return nil
}

func printProfileLine(w io.Writer) {
	fmt.Fprintf(w, "\nAdd this line to your shell profile (~/.profile, ~/.bashrc or ~/.zshrc):\n  %s\n", profileLine)
	fmt.Fprintln(w, "(fish, in ~/.config/fish/config.fish: set -gx SSH_AUTH_SOCK \"$XDG_RUNTIME_DIR/vigil/agent.sock\")")
}

// approverNote warns when the service would have no approver: it does not
// see the SSH_ASKPASS of a login shell.
func approverNote(confDir string, stderr io.Writer) {
	cfg, err := loadConfig("")
	if err != nil {
		fmt.Fprintf(stderr, "vigil: warning: the service will not start until the config file is fixed: %v\n", err)
		return
	}
	if cfg.Askpass != "" || cfg.Pinentry != "" {
		return
	}
	fmt.Fprintf(stderr, "vigil: warning: no askpass or pinentry in %s: started by systemd, vigil does not\n"+
		"see your shell's SSH_ASKPASS and refuses every signature no rule allows unless vigil watch runs\n"+
		"in a terminal. Add a line such as\n"+
		"  askpass = \"/usr/bin/ssh-askpass\"\n"+
		"(a graphical approver also needs DISPLAY or WAYLAND_DISPLAY in systemctl --user show-environment;\n"+
		"desktop sessions put them there.)\n", filepath.Join(confDir, "vigil", "config.toml"))
}

// installedBinary is the absolute path the service runs.
func installedBinary(flagPath string) (string, error) {
	p := flagPath
	if p == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("cannot tell where this vigil binary is (%v): use --bin", err)
		}
		p = exe
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("the binary for the service: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("the binary for the service, %s, is not an executable file", abs)
	}
	return abs, nil
}

// binaryWarnings are the reasons the service might not run bin.
func binaryWarnings(bin string) []string {
	var w []string
	if strings.Contains(bin, string(filepath.Separator)+"go-build") {
		w = append(w, fmt.Sprintf("%s looks like a temporary binary from go run: "+
			"build vigil (go build -o ~/.local/bin/vigil ./cmd/vigil) and install with that one", bin))
	}
	for _, tmp := range []string{"/tmp/", "/var/tmp/"} {
		if strings.HasPrefix(bin, tmp) {
			w = append(w, fmt.Sprintf("%s is under %s, which the service cannot see (PrivateTmp=yes): "+
				"put vigil elsewhere, such as ~/.local/bin, or pass --bin", bin, tmp))
		}
	}
	return w
}

// serveDataDirs are the directories vigil serve (run with no flags, as the
// units run it) writes: the key store, its state directory (program pins,
// and the audit log by default), and the audit log's directory if
// audit_dir puts it elsewhere; resolved as serve resolves them, from the
// config file and XDG_STATE_HOME / XDG_DATA_HOME.
func serveDataDirs() ([]string, error) {
	cfg, err := loadConfig("")
	if err != nil {
		return nil, err
	}
	state, err := stateDir()
	if err != nil {
		return nil, err
	}
	auditDir, err := auditDirFor("", cfg)
	if err != nil {
		return nil, err
	}
	store, err := storeDir(cfg.StoreDir)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, d := range []string{store, state, auditDir} {
		d, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(dirs, func(w string) bool { return within(d, w) }) {
			dirs = append(dirs, d)
		}
	}
	return dirs, nil
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// readWritePaths is the service's ReadWritePaths line: the runtime
// directory and dirs, each ignored by systemd if missing ("-"), written
// relative to %h when under home so the default unit stays the documented
// one.
func readWritePaths(home string, dirs []string) (string, error) {
	line := "ReadWritePaths=%t"
	for _, d := range dirs {
		if strings.ContainsAny(d, " \t\n\"'\\") || strings.ContainsFunc(d, unicode.IsControl) {
			return "", fmt.Errorf("%q: systemd's ReadWritePaths cannot name a directory with spaces, quotes or control characters; choose another, or edit the unit", d)
		}
		// systemd expands % specifiers in the path: a literal % is %%.
		if rel, err := filepath.Rel(home, d); err == nil && within(d, home) && rel != "." {
			d = "%h/" + strings.ReplaceAll(rel, "%", "%%")
		} else {
			d = strings.ReplaceAll(d, "%", "%%")
		}
		line += " -" + d
	}
	return line, nil
}

// renderUnits reads the embedded units and sets the service's ExecStart
// and ReadWritePaths.
func renderUnits(dir, bin, home string, dataDirs []string) ([]*unitFile, error) {
	program, err := systemdExecPath(bin)
	if err != nil {
		return nil, err
	}
	rw, err := readWritePaths(home, dataDirs)
	if err != nil {
		return nil, err
	}
	var units []*unitFile
	for _, name := range []string{"vigil.socket", "vigil.service"} {
		src, err := unitFS.ReadFile("systemd/" + name)
		if err != nil {
			return nil, err
		}
		text := string(src)
		if name == "vigil.service" {
			if text, err = setExecStart(text, program); err != nil {
				return nil, err
			}
			if text, err = setLine(text, "ReadWritePaths=", rw); err != nil {
				return nil, err
			}
		}
		u := &unitFile{
			path:    filepath.Join(dir, name),
			content: []byte(unitMarker + "\n" + text),
		}
		old, err := os.ReadFile(u.path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if err == nil {
			u.old = old
		}
		units = append(units, u)
	}
	return units, nil
}

// setExecStart replaces the program of the ExecStart line, keeping its
// arguments.
func setExecStart(unit, program string) (string, error) {
	return editLine(unit, "ExecStart=", func(rest string) string {
		_, args, _ := strings.Cut(rest, " ")
		return "ExecStart=" + program + " " + args
	})
}

// setLine replaces the line that starts with prefix by line.
func setLine(unit, prefix, line string) (string, error) {
	return editLine(unit, prefix, func(string) string { return line + "\n" })
}

// editLine replaces the one line of unit that starts with prefix by what
// edit makes of the rest of it (with its newline).
func editLine(unit, prefix string, edit func(rest string) string) (string, error) {
	lines := strings.SplitAfter(unit, "\n")
	n := 0
	for i, l := range lines {
		rest, ok := strings.CutPrefix(l, prefix)
		if !ok {
			continue
		}
		lines[i] = edit(rest)
		n++
	}
	if n != 1 {
		return "", fmt.Errorf("vigil.service has %d %s lines, want 1", n, strings.TrimSuffix(prefix, "="))
	}
	return strings.Join(lines, ""), nil
}

// systemdExecPath writes an absolute path as the program of an Exec line:
// % and $ doubled (systemd expands specifiers and variables), and quoted
// when it holds characters systemd would split or unquote.
func systemdExecPath(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%s is not an absolute path", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%q holds a control character: systemd cannot run it", p)
		}
	}
	s := strings.NewReplacer("%", "%%", "$", "$$").Replace(p)
	if strings.ContainsAny(s, " \"'\\;") {
		s = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return s, nil
}

// configHome is $XDG_CONFIG_HOME, or ~/.config.
func configHome() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("no XDG_CONFIG_HOME and no home directory")
	}
	return filepath.Join(home, ".config"), nil
}

// systemdUserReachable reports whether systemctl --user can talk to a user
// manager, and if not, why.
func systemdUserReachable() (bool, string) {
	if _, err := exec.LookPath("systemctl"); err != nil {
		return false, "systemctl not found"
	}
	out, err := systemctl("show-environment")
	if err != nil {
		msg, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if msg == "" {
			msg = err.Error()
		}
		return false, msg
	}
	return true, ""
}

func systemctl(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return exec.CommandContext(ctx, "systemctl", append([]string{"--user"}, args...)...).CombinedOutput()
}

func systemctlQuiet(args ...string) bool {
	_, err := systemctl(append([]string{"--quiet"}, args...)...)
	return err == nil
}

// writeFileAtomic replaces path with data: readers see the old file or
// the new one, never a part.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+prefix)
}
