package main

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSynopsisWords(t *testing.T) {
	for name, want := range map[string][]string{
		"git":        {"setup"},
		"completion": {"bash", "zsh", "fish"},
		"audit":      {"verify"},
		"serve":      nil,
		"env":        nil,
		"install":    nil,
	} {
		if got := synopsisWords(lookup(name)); !slices.Equal(got, want) {
			t.Errorf("%s: synopsis %q gives %q, want %q", name, lookup(name).synopsis, got, want)
		}
	}
}

// TestCompletionCoversTable: every command and flag is in every script.
func TestCompletionCoversTable(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, script, stderr := runVigil("completion", shell)
		if code != 0 {
			t.Fatalf("vigil completion %s: exit %d: %s", shell, code, stderr)
		}
		for _, c := range commands {
			if !strings.Contains(script, c.name) {
				t.Errorf("%s: no command %s", shell, c.name)
			}
			fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
			c.setup(fs)
			fs.VisitAll(func(f *flag.Flag) {
				opt := compFlag{name: f.Name}.option()
				if shell == "fish" {
					opt = "-l " + f.Name
					if len(f.Name) == 1 {
						opt = "-s " + f.Name
					}
				}
				if !strings.Contains(script, opt) {
					t.Errorf("%s: vigil %s %s is not completed", shell, c.name, opt)
				}
			})
		}
	}
	if code, _, stderr := runVigil("completion", "tcsh"); code != 2 || !strings.Contains(stderr, `no completion for shell "tcsh"`) {
		t.Errorf("vigil completion tcsh: exit %d, %q", code, stderr)
	}
	if code, _, _ := runVigil("completion"); code != 2 {
		t.Errorf("vigil completion: exit %d, want 2", code)
	}
}

// buildVigil builds the vigil command into dir, for the shells to run.
func buildVigil(t *testing.T, dir string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go not found in PATH")
	}
	bin := filepath.Join(dir, "vigil")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// shell runs a shell script with vigil first in PATH and returns its
// output, failing the test if the script fails.
func shell(t *testing.T, binDir string, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s (scripts/test.sh does)", name, name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	home := t.TempDir()
	cmd.Env = []string{"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "XDG_DATA_HOME=" + filepath.Join(home, ".local", "share"),
		"LANG=C.UTF-8", "TERM=dumb"}
	cmd.Dir = home
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// completionCases are command lines and what completing their last word
// must offer (bash and fish) or produce (zsh, which inserts a unique match).
var completionCases = []struct {
	line string
	want []string // candidates
	zsh  string   // the line after Tab in zsh
}{
	{"vigil se", []string{"serve"}, "vigil serve "},
	{"vigil git ", []string{"setup"}, "vigil git setup "},
	{"vigil git setup --pu", []string{"--pub"}, "vigil git setup --pub="},
	{"vigil serve --audit-d", []string{"--audit-dir"}, "vigil serve --audit-dir="},
	{"vigil completion f", []string{"fish"}, "vigil completion fish "},
	{"vigil help inst", []string{"install"}, "vigil help install "},
	{"vigil check --config /etc/hostn", []string{"/etc/hostname"}, "vigil check --config /etc/hostname "},
	{"vigil install --us", []string{"--user"}, "vigil install --user "},
}

func TestCompletionShells(t *testing.T) {
	binDir := t.TempDir()
	buildVigil(t, binDir)

	t.Run("bash", func(t *testing.T) {
		if out := shell(t, binDir, "bash", "-c", "source <(vigil completion bash) && complete -p vigil"); out != "complete -F _vigil vigil\n" {
			t.Errorf("complete -p vigil: %q", out)
		}
		script := `source <(vigil completion bash) || exit 1
for line in "$@"; do
	read -ra COMP_WORDS <<< "$line"
	[[ $line == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
	COMPREPLY=()
	_vigil 2>/dev/null
	echo "${COMPREPLY[*]}"
done`
		args := []string{"-c", script, "bash"}
		for _, c := range completionCases {
			args = append(args, c.line)
		}
		lines := strings.Split(strings.TrimSuffix(shell(t, binDir, "bash", args...), "\n"), "\n")
		for i, c := range completionCases {
			if i >= len(lines) || !slices.Equal(strings.Fields(lines[i]), c.want) {
				t.Errorf("bash: %q offers %q, want %q", c.line, lines[i:min(i+1, len(lines))], c.want)
			}
		}
	})

	t.Run("fish", func(t *testing.T) {
		var script strings.Builder
		script.WriteString("vigil completion fish | source; or exit 1\n")
		for _, c := range completionCases {
			// One line per case: the candidates, without descriptions.
			script.WriteString("echo (complete -C" + fishQuote(c.line) + " | string replace -r '\\t.*' '')\n")
		}
		scriptFile := filepath.Join(t.TempDir(), "vigil.fish")
		_, text, _ := runVigil("completion", "fish")
		os.WriteFile(scriptFile, []byte(text), 0o644)
		if out := shell(t, binDir, "fish", "--no-config", "--no-execute", scriptFile); out != "" {
			t.Errorf("fish --no-execute: %s", out)
		}
		lines := strings.Split(strings.TrimSuffix(shell(t, binDir, "fish", "--no-config", "-c", script.String()), "\n"), "\n")
		for i, c := range completionCases {
			if i >= len(lines) || !slices.Equal(strings.Fields(lines[i]), c.want) {
				t.Errorf("fish: %q offers %q, want %q", c.line, lines[i:min(i+1, len(lines))], c.want)
			}
		}
	})

	t.Run("zsh", func(t *testing.T) {
		scriptFile := filepath.Join(t.TempDir(), "_vigil")
		code, script, _ := runVigil("completion", "zsh")
		if code != 0 {
			t.Fatal("vigil completion zsh failed")
		}
		os.WriteFile(scriptFile, []byte(script), 0o644)
		shell(t, binDir, "zsh", "-n", scriptFile)
		if out := shell(t, binDir, "zsh", "-f", "-c",
			"autoload -U compinit && compinit -u -D && source <(vigil completion zsh) && print -r -- $_comps[vigil]"); out != "_vigil\n" {
			t.Errorf("zsh: vigil completes with %q, want _vigil", out)
		}
		// Type each line into an interactive zsh on a pseudo-terminal, press
		// Tab, and record the line as completion left it.
		out := filepath.Join(t.TempDir(), "lines")
		driver := `zmodload zsh/zpty || exit 3
script=$1 out=$2; shift 2
zpty z zsh -f -i
zpty -w z "PS1=''; autoload -U compinit; compinit -u -D; source ${(q)script}"
zpty -w z "dump() { print -r -- \"\$BUFFER\" >> ${(q)out}; BUFFER=; }; zle -N dump; bindkey '^X' dump; bindkey '^I' complete-word"
for line in "$@"; do
	zpty -w -n z "$line"$'\t\x18'
done
zpty -w z ""
zpty -w z "print ALL''DONE"
zpty -r z reply '*ALLDONE*' || exit 4
zpty -d z`
		args := []string{"-f", "-c", driver, "zsh", scriptFile, out}
		for _, c := range completionCases {
			args = append(args, c.line)
		}
		shell(t, binDir, "zsh", args...)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		for i, c := range completionCases {
			if i >= len(lines) || lines[i] != c.zsh {
				t.Errorf("zsh: %q completes to %q, want %q", c.line, lines[i:min(i+1, len(lines))], c.zsh)
			}
		}
	})
}
