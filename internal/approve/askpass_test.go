package approve

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "askpass")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAskpassAnswers(t *testing.T) {
	tests := []struct {
		name, body string
		want       bool
	}{
		{"empty output", "exit 0", true},
		{"yes", "echo yes", true},
		{"YES", "echo YES", true},
		{"no", "echo no", false},
		{"other output", "echo sure", false},
		{"exit 1", "exit 1", false},
		{"yes but exit 1", "echo yes; exit 1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Askpass{Program: script(t, tt.body)}
			got, err := a.Confirm(context.Background(), "Allow?")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Confirm = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAskpassSeesPromptAndEnv(t *testing.T) {
	out := filepath.Join(t.TempDir(), "seen")
	a := &Askpass{
		Program: script(t, `printf '%s|%s|%s' "$1" "$SSH_ASKPASS_PROMPT" "$DISPLAY" > `+out),
		Env:     []string{"DISPLAY=:7"},
	}
	if ok, err := a.Confirm(context.Background(), "line one\nline two"); err != nil || !ok {
		t.Fatalf("Confirm = %v, %v", ok, err)
	}
	seen, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(seen), "line one\nline two|confirm|:7"; got != want {
		t.Errorf("program saw %q, want %q", got, want)
	}
}

func TestAskpassCancelKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The script starts a child (as a dialog would) and waits for it.
	a := &Askpass{Program: script(t, `sleep 1000 & echo $! > `+pidFile+`; wait`)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := a.Confirm(ctx, "Allow?")
		done <- err
	}()
	pid := waitForFile(t, pidFile)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Confirm after cancel = %v, want context.Canceled", err)
	}
	waitGone(t, pid)
}

func TestAskpassMissingProgram(t *testing.T) {
	a := &Askpass{Program: filepath.Join(t.TempDir(), "nope")}
	if ok, err := a.Confirm(context.Background(), "Allow?"); err == nil || ok {
		t.Fatalf("Confirm = %v, %v; want an error", ok, err)
	}
	if ok, err := (&Askpass{}).Confirm(context.Background(), "x"); err == nil || ok {
		t.Fatalf("Confirm with no program = %v, %v; want an error", ok, err)
	}
}

func waitForFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(5 * time.Millisecond) // polling a file with a deadline
	}
	t.Fatalf("%s never written", path)
	return ""
}

func waitGone(t *testing.T, pid string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		// Gone, or a zombie waiting for its reaper (init in a container).
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("child %s of the askpass program still runs after cancel", pid)
}
