package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnitsMatchContrib: the units vigil install writes are those in
// contrib/systemd/user, the documented source.
func TestUnitsMatchContrib(t *testing.T) {
	for _, name := range []string{"vigil.socket", "vigil.service"} {
		contrib, err := os.ReadFile(filepath.Join("..", "..", "contrib", "systemd", "user", name))
		if err != nil {
			t.Fatal(err)
		}
		embedded, err := unitFS.ReadFile("systemd/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(contrib, embedded) {
			t.Errorf("cmd/vigil/systemd/%s differs from contrib/systemd/user/%s: cp contrib/systemd/user/%s cmd/vigil/systemd/", name, name, name)
		}
	}
}

// fakeVigil is an executable at a path that needs quoting in a unit.
func fakeVigil(t *testing.T, home string) string {
	t.Helper()
	bin := filepath.Join(home, "my bin 100%", "vigil")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func unitDir(home string) string { return filepath.Join(home, ".config", "systemd", "user") }

// wantUnit is what vigil install writes for the contrib unit name.
func wantUnit(t *testing.T, name, execStart string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "contrib", "systemd", "user", name))
	if err != nil {
		t.Fatal(err)
	}
	s := unitMarker + "\n" + string(b)
	if execStart != "" {
		s = strings.Replace(s, "ExecStart=%h/.local/bin/vigil serve\n", "ExecStart="+execStart+"\n", 1)
	}
	return s
}

func TestInstallWritesUnits(t *testing.T) {
	home := isolate(t)
	bin := fakeVigil(t, home)
	code, stdout, stderr := runVigil("install", "--user", "--no-systemctl", "--bin", bin)
	if code != 0 {
		t.Fatalf("vigil install: exit %d\n%s%s", code, stdout, stderr)
	}
	execStart := `"` + strings.ReplaceAll(bin, "%", "%%") + `" serve`
	for _, name := range []string{"vigil.socket", "vigil.service"} {
		got, err := os.ReadFile(filepath.Join(unitDir(home), name))
		if err != nil {
			t.Fatal(err)
		}
		want := wantUnit(t, name, "")
		if name == "vigil.service" {
			want = wantUnit(t, name, execStart)
		}
		if string(got) != want {
			t.Errorf("%s:\n%s\nwant:\n%s", name, got, want)
		}
	}
	for _, d := range []string{".local/state/vigil", ".local/share/vigil"} {
		fi, err := os.Stat(filepath.Join(home, d))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("~/%s: %v, %v; want a 0700 directory", d, fi, err)
		}
	}
	for _, want := range []string{
		"Not running systemctl (--no-systemctl)",
		"  systemctl --user daemon-reload\n  systemctl --user enable --now vigil.socket\n",
		"\n  " + profileLine + "\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, `askpass = "/usr/bin/ssh-askpass"`) {
		t.Errorf("no warning about the missing approver:\n%s", stderr)
	}
	verifyUnits(t, home)

	// Again: nothing to do. With an approver, no warning.
	os.MkdirAll(filepath.Join(home, ".config", "vigil"), 0o700)
	os.WriteFile(filepath.Join(home, ".config", "vigil", "config.toml"), []byte("approver = \"/bin/true\"\n"), 0o600)
	code, stdout, stderr = runVigil("install", "--user", "--no-systemctl", "--bin", bin)
	if code != 0 || strings.Count(stdout, "unchanged: ") != 2 || strings.Contains(stderr, "askpass") {
		t.Errorf("second vigil install: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// verifyUnits runs systemd-analyze verify on the installed units: systemd
// parses them without a warning and finds the ExecStart binary.
func verifyUnits(t *testing.T, home string) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found: install the Debian package systemd")
	}
	rt := filepath.Join(home, "run")
	os.MkdirAll(rt, 0o700)
	cmd := exec.Command(sa, "--user", "--man=no", "verify",
		filepath.Join(unitDir(home), "vigil.socket"), filepath.Join(unitDir(home), "vigil.service"))
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+rt)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestInstallDryRun(t *testing.T) {
	home := isolate(t)
	bin := fakeVigil(t, home)
	code, stdout, stderr := runVigil("install", "--user", "--dry-run", "--bin", bin)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"would create directory " + filepath.Join(home, ".local", "state", "vigil"),
		"would write " + filepath.Join(unitDir(home), "vigil.service"),
		`    ExecStart="` + strings.ReplaceAll(bin, "%", "%%") + `" serve`,
		"    ListenStream=%t/vigil/agent.sock",
		"would run: systemctl --user enable --now vigil.socket",
		profileLine,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(home, ".config", "systemd")); !os.IsNotExist(err) {
		t.Errorf("--dry-run created %s: %v", filepath.Join(home, ".config", "systemd"), err)
	}
	if _, err := os.Stat(filepath.Join(home, ".local")); !os.IsNotExist(err) {
		t.Errorf("--dry-run created ~/.local: %v", err)
	}
}

// fakeSystemctl puts a systemctl first in PATH that logs its arguments and
// fails "show-environment" when unreachable is set.
func fakeSystemctl(t *testing.T, unreachable bool) (log string) {
	t.Helper()
	dir := shortDir(t)
	log = filepath.Join(dir, "log")
	script := "#!/bin/sh\necho \"$*\" >> '" + log + "'\n"
	if unreachable {
		script += "case \"$*\" in *show-environment*) echo 'Failed to connect to bus: No medium found' >&2; exit 1;; esac\n"
	}
	script += "case \"$*\" in *is-active*) exit 3;; esac\nexit 0\n"
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return log
}

func TestInstallRunsSystemctl(t *testing.T) {
	home := isolate(t)
	bin := fakeVigil(t, home)
	log := fakeSystemctl(t, false)
	code, stdout, stderr := runVigil("install", "--user", "--bin", bin)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	calls, _ := os.ReadFile(log)
	want := "--user show-environment\n--user --quiet is-active vigil.service\n--user daemon-reload\n--user enable --now vigil.socket\n"
	if string(calls) != want {
		t.Errorf("systemctl calls:\n%s\nwant:\n%s", calls, want)
	}
	if !strings.Contains(stdout, "vigil.socket is listening") || !strings.Contains(stdout, profileLine) {
		t.Errorf("stdout:\n%s", stdout)
	}
}

func TestInstallWithoutSystemd(t *testing.T) {
	home := isolate(t)
	bin := fakeVigil(t, home)
	log := fakeSystemctl(t, true)
	code, stdout, stderr := runVigil("install", "--user", "--bin", bin)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if calls, _ := os.ReadFile(log); string(calls) != "--user show-environment\n" {
		t.Errorf("systemctl calls without a reachable systemd --user:\n%s", calls)
	}
	for _, want := range []string{
		"systemd --user is not reachable (Failed to connect to bus: No medium found). Once it is, run:\n" +
			"  systemctl --user daemon-reload\n  systemctl --user enable --now vigil.socket\n",
		profileLine,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(unitDir(home), "vigil.service")); err != nil {
		t.Errorf("units not written: %v", err)
	}
}

func TestInstallLeavesOthersUnits(t *testing.T) {
	home := isolate(t)
	bin := fakeVigil(t, home)
	mine := filepath.Join(unitDir(home), "vigil.service")
	os.MkdirAll(filepath.Dir(mine), 0o755)
	os.WriteFile(mine, []byte("[Service]\nExecStart=/opt/vigil serve --debug\n"), 0o644)
	code, stdout, stderr := runVigil("install", "--user", "--no-systemctl", "--bin", bin)
	if code != 1 || !strings.Contains(stderr, "was not written by vigil install") {
		t.Errorf("install over a hand-written unit: exit %d\n%s%s", code, stdout, stderr)
	}
	if b, _ := os.ReadFile(mine); !strings.Contains(string(b), "/opt/vigil") {
		t.Errorf("hand-written unit replaced:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(unitDir(home), "vigil.socket")); !os.IsNotExist(err) {
		t.Errorf("vigil.socket written although the install was refused: %v", err)
	}
	if code, _, stderr := runVigil("install", "--user", "--no-systemctl", "--force", "--bin", bin); code != 0 {
		t.Fatalf("install --force: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(mine); !strings.HasPrefix(string(b), unitMarker) {
		t.Errorf("--force did not replace the unit:\n%s", b)
	}
}

func TestInstallUsage(t *testing.T) {
	isolate(t)
	if code, _, stderr := runVigil("install"); code != 2 || !strings.Contains(stderr, "needs --user") {
		t.Errorf("vigil install without --user: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runVigil("install", "--user", "--bin", "/nonexistent/vigil"); code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("vigil install --bin /nonexistent/vigil: exit %d, %q", code, stderr)
	}
	if w := binaryWarnings("/tmp/go-build123/b001/exe/vigil"); len(w) != 2 {
		t.Errorf("warnings for a go run binary in /tmp: %q", w)
	}
	if w := binaryWarnings("/home/me/.local/bin/vigil"); len(w) != 0 {
		t.Errorf("warnings for ~/.local/bin/vigil: %q", w)
	}
}

func TestSystemdExecPath(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/vigil":           "/usr/bin/vigil",
		"/home/me/my bin/vigil":    `"/home/me/my bin/vigil"`,
		"/opt/100%/vigil":          "/opt/100%%/vigil",
		"/opt/$HOME/vigil":         "/opt/$$HOME/vigil",
		`/opt/a"b\c/vigil`:         `"/opt/a\"b\\c/vigil"`,
		"/opt/it's/vigil":          `"/opt/it's/vigil"`,
		"/opt/a;b/vigil":           `"/opt/a;b/vigil"`,
		"/opt/x y/%i $USER/vigil2": `"/opt/x y/%%i $$USER/vigil2"`,
	} {
		got, err := systemdExecPath(in)
		if err != nil || got != want {
			t.Errorf("systemdExecPath(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"vigil", "./vigil", "/opt/new\nline/vigil"} {
		if got, err := systemdExecPath(bad); err == nil {
			t.Errorf("systemdExecPath(%q) = %s, want an error", bad, got)
		}
	}
}

// TestInstallFollowsServeDirs: the directories install creates and lists
// in ReadWritePaths are those vigil serve writes, found as serve finds
// them: XDG_STATE_HOME, XDG_DATA_HOME, and the config's store_dir and
// audit_dir (QA finding 18). Otherwise ProtectSystem=strict would leave
// the real store and audit log read-only to the service.
func TestInstallFollowsServeDirs(t *testing.T) {
	for _, tt := range []struct {
		name   string
		config string // with OUT for a directory outside home
		dirs   []string
		rw     string
	}{
		{"XDG dirs", "", []string{"OUT/data/vigil", "HOME/xstate/vigil"},
			"ReadWritePaths=%t -OUT/data/vigil -%h/xstate/vigil\n"},
		{"config dirs", "store_dir = \"OUT/store\"\naudit_dir = \"OUT/audit\"\n", []string{"OUT/store", "HOME/xstate/vigil", "OUT/audit"},
			"ReadWritePaths=%t -OUT/store -%h/xstate/vigil -OUT/audit\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			home := isolate(t)
			out := shortDir(t)
			expand := strings.NewReplacer("OUT", out, "HOME", home).Replace
			t.Setenv("XDG_STATE_HOME", filepath.Join(home, "xstate"))
			t.Setenv("XDG_DATA_HOME", filepath.Join(out, "data"))
			if tt.config != "" {
				os.MkdirAll(filepath.Join(home, ".config", "vigil"), 0o700)
				if err := os.WriteFile(filepath.Join(home, ".config", "vigil", "config.toml"), []byte(expand(tt.config)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			bin := fakeVigil(t, home)
			rw := expand(tt.rw)

			code, stdout, stderr := runVigil("install", "--user", "--dry-run", "--bin", bin)
			if code != 0 {
				t.Fatalf("vigil install --dry-run: exit %d\n%s%s", code, stdout, stderr)
			}
			for _, d := range tt.dirs {
				if want := "would create directory " + expand(d) + " (mode 0700)\n"; !strings.Contains(stdout, want) {
					t.Errorf("dry run lacks %q:\n%s", want, stdout)
				}
			}
			if strings.Contains(stdout, "would create directory "+filepath.Join(home, ".local")) {
				t.Errorf("dry run names a default directory:\n%s", stdout)
			}
			if !strings.Contains(stdout, "    "+rw) {
				t.Errorf("dry run's unit lacks %q:\n%s", rw, stdout)
			}

			code, stdout, stderr = runVigil("install", "--user", "--no-systemctl", "--bin", bin)
			if code != 0 {
				t.Fatalf("vigil install: exit %d\n%s%s", code, stdout, stderr)
			}
			unit, err := os.ReadFile(filepath.Join(unitDir(home), "vigil.service"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(unit), "\n"+rw) {
				t.Errorf("vigil.service lacks %q:\n%s", rw, unit)
			}
			for _, d := range tt.dirs {
				fi, err := os.Stat(expand(d))
				if err != nil || fi.Mode().Perm() != 0o700 {
					t.Errorf("%s: %v, %v; want a 0700 directory", expand(d), fi, err)
				}
			}
			verifyUnits(t, home)
		})
	}
}

// TestReadWritePathsEscapesPercent: systemd expands % specifiers, so a
// literal % in a directory is written %%, under home and elsewhere.
func TestReadWritePathsEscapesPercent(t *testing.T) {
	got, err := readWritePaths("/home/u", []string{"/home/u/100%/state", "/srv/50%"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "ReadWritePaths=%t -%h/100%%/state -/srv/50%%"; got != want {
		t.Errorf("readWritePaths = %q, want %q", got, want)
	}
}
