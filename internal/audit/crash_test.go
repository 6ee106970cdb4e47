package audit

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// crashChildEnv, when set, makes the test binary a child that appends to
// the log in that directory as fast as it can until it is killed.
const crashChildEnv = "VIGIL_AUDIT_TEST_CRASH_DIR"

func crashChild(dir string) {
	l, err := Open(dir, Options{MaxFileSize: 128 << 10, GroupSize: 32, GroupWait: time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	var n atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				d := Allowed
				if i%2 == 1 {
					d = Denied
				}
				if err := l.Append(sign(i, d, fmt.Sprintf("/bin/w%d", w))); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(2)
				}
				if c := n.Add(1); c%250 == 0 {
					fmt.Println(c) // progress, for the parent
				}
			}
		})
	}
	wg.Wait()
	os.Exit(3) // unreachable
}

// TestCrash kills (SIGKILL) a child process that appends from four
// goroutines, with frequent rotations and group fsyncs, several times over
// the same log. After every kill the log must verify, at most with a
// truncated tail, and must take new records.
func TestCrash(t *testing.T) {
	t.Parallel()
	dir := logDir(t)
	total := 0
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it after a different amount of work each round.
		target := 600 + 400*round
		sc := bufio.NewScanner(out)
		appended := 0
		for appended < target && sc.Scan() {
			appended, _ = strconv.Atoi(sc.Text())
		}
		if appended < target {
			t.Fatalf("round %d: child stopped after %d appends", round, appended)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		total += appended

		rep, err := Verify(dir)
		if err != nil {
			t.Fatalf("round %d: Verify after kill -9: %v", round, err)
		}
		if rep.Records < total {
			t.Fatalf("round %d: %d records, but the child had appended at least %d in all", round, rep.Records, total)
		}
		for _, tr := range rep.Truncated {
			t.Logf("round %d: truncated tail reported: %+v", round, tr)
		}
		t.Logf("round %d: %d records in %d files", round, rep.Records, len(rep.Files))

		l, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		mustAppend(t, l, Event{Kind: KindConfigReloaded, Detail: "after crash " + strconv.Itoa(round)})
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		total++
		if _, err := Verify(dir); err != nil {
			t.Fatalf("round %d: Verify after reopening: %v", round, err)
		}
	}
}
