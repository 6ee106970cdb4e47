package git_test

// End to end: real git runs this test binary as its credential helper
// (credential.helper = absolute path). The helper decodes what git sends with
// this package and answers get with Encode; the test checks both directions.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/credential"
	"github.com/vigil-agent/vigil/internal/credential/git"
)

const helperEnv = "VIGIL_TEST_GIT_HELPER_LOG"

// The helper's answer: a password git must pass on unchanged.
const (
	helperUser     = "alice"
	helperPassword = "s3cret =é\tx"
)

func TestMain(m *testing.M) {
	if log := os.Getenv(helperEnv); log != "" && len(os.Args) == 2 {
		os.Exit(runHelper(log, os.Args[1]))
	}
	os.Exit(m.Run())
}

type logEntry struct {
	Op                                 string
	Protocol, Host, Path, User, Passwd string
	Err                                string
}

func runHelper(logPath, arg string) int {
	op, ok := git.ParseOperation(arg)
	if !ok {
		return 0 // unknown operations are ignored, silently
	}
	c, err := git.Decode(os.Stdin)
	e := logEntry{Op: string(op)}
	if err != nil {
		e.Err = err.Error()
	} else {
		e.Protocol, e.Host, e.Path, e.User, e.Passwd = c.Protocol, c.Host, c.Path, c.Username, c.Password.Reveal()
	}
	b, _ := json.Marshal(e)
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "test helper:", err)
		return 1
	}
	f.Write(append(b, '\n'))
	f.Close()
	if op == git.Get && c != nil {
		answer := &git.Credential{Username: helperUser, Password: credential.UncheckedToken(helperPassword)}
		if err := git.Encode(os.Stdout, answer); err != nil {
			fmt.Fprintln(os.Stderr, "test helper:", err)
			return 1
		}
	}
	return 0
}

func TestRealGit(t *testing.T) {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is not installed")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(self, " '\"\\$") {
		t.Fatalf("test binary path %q would be split by git's shell", self)
	}
	tmp := t.TempDir()
	logPath := filepath.Join(tmp, "helper.log")
	offset := 0

	run := func(stdin string, args ...string) (string, []logEntry) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, gitPath, append([]string{"-c", "credential.helper=" + self}, args...)...)
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), helperEnv+"="+logPath, "HOME="+tmp, "GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=")
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		data, _ := os.ReadFile(logPath)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		var got []logEntry
		for _, l := range lines[offset:] {
			if l == "" {
				continue
			}
			var e logEntry
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatal(err)
			}
			if e.Err != "" {
				t.Errorf("the codec refused what git sent: %s", e.Err)
			}
			got = append(got, e)
		}
		offset = len(lines)
		return stdout.String(), got
	}

	out, got := run("protocol=https\nhost=example.com:8443\npath=org/repo.git\n\n", "credential", "fill")
	want := []logEntry{{Op: "get", Protocol: "https", Host: "example.com:8443"}} // git drops path for https
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fill: helper decoded %+v, want %+v", got, want)
	}
	filled, err := git.DecodeBytes([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if filled.Username != helperUser || filled.Password.Reveal() != helperPassword || filled.Host != "example.com:8443" {
		t.Errorf("fill printed %q", out)
	}

	_, got = run("protocol=https\nhost=example.com\nusername=alice\npassword=pw1\n\n", "credential", "approve")
	want = []logEntry{{Op: "store", Protocol: "https", Host: "example.com", User: "alice", Passwd: "pw1"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("approve: helper decoded %+v, want %+v", got, want)
	}

	_, got = run("url=https://bob@example.com/x.git\npassword=pw1\n\n", "credential", "reject")
	want = []logEntry{{Op: "erase", Protocol: "https", Host: "example.com", User: "bob", Passwd: "pw1"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("reject: helper decoded %+v, want %+v", got, want)
	}
}
