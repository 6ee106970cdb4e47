package approve

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The test binary doubles as a scripted pinentry: run with
// VIGIL_FAKE_PINENTRY=1 in its environment, it speaks Assuan on stdin and
// stdout, appends every line it is sent to FAKE_LOG (one line per line;
// Assuan lines never contain a raw newline), records the environment it
// was given, and answers the Nth CONFIRM across all its runs with the Nth
// word of FAKE_ANSWERS.
func TestMain(m *testing.M) {
	if os.Getenv("VIGIL_FAKE_PINENTRY") == "1" {
		os.Exit(fakePinentry())
	}
	os.Exit(m.Run())
}

// Answers a fake pinentry can give to CONFIRM, as pinentry 1.2 words them.
var fakeAnswers = map[string][]string{
	"ok":      {"OK"},
	"notok":   {"ERR 83886194 Not confirmed <Pinentry>"},
	"cancel":  {"ERR 83886179 Operation cancelled <Pinentry>"},
	"close":   {"S BUTTON_INFO close", "ERR 83886179 Operation cancelled <Pinentry>"},
	"timeout": {"ERR 83886142 Timeout <Pinentry>"},
	"legacy":  {"ASSUAN_Not_Confirmed"},
	"other":   {"ERR 83886081 General error <Pinentry>"},
	"okay":    {"OKAY, sure"},
	"yes":     {"yes"},
	"long":    {"OK " + strings.Repeat("x", 2000)},
	"comment": {"# thinking", "", "OK"},
}

func fakePinentry() int {
	log, err := os.OpenFile(os.Getenv("FAKE_LOG"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 2
	}
	defer log.Close()
	record := func(s string) { fmt.Fprintln(log, s) }
	record("START " + strings.Join(os.Args[1:], " "))
	for _, kv := range os.Environ() {
		record("ENV " + kv)
	}
	out := bufio.NewWriter(os.Stdout)
	say := func(lines ...string) {
		for _, l := range lines {
			fmt.Fprintf(out, "%s\n", l)
		}
		out.Flush()
	}
	switch os.Getenv("FAKE_GREETING") {
	case "garbage":
		say("Hello, I am not pinentry")
		return 0
	case "silent-exit":
		return 0
	}
	say("OK Pleased to meet you, process 1")
	answers := strings.Fields(os.Getenv("FAKE_ANSWERS"))
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64*1024), 64*1024)
	for in.Scan() {
		line := in.Text()
		record(line)
		cmd, _, _ := strings.Cut(line, " ")
		switch cmd {
		case "BYE":
			say("OK closing connection")
			return 0
		case "CONFIRM":
			n := confirmsSoFar(os.Getenv("FAKE_LOG")) - 1
			if n >= len(answers) {
				say("ERR 83886081 no answer scripted <Pinentry>")
				continue
			}
			switch a := answers[n]; a {
			case "exit":
				return 0
			case "hang":
				// Start a child, as a GUI pinentry might, tell the test,
				// and wait for the kill.
				child := exec.Command(os.Getenv("FAKE_SLEEP"), "1000")
				if err := child.Start(); err != nil {
					return 3
				}
				c, err := net.Dial("unix", os.Getenv("FAKE_SOCK"))
				if err != nil {
					return 4
				}
				fmt.Fprintf(c, "%d\n", child.Process.Pid)
				c.Close()
				child.Wait()
				return 0
			default:
				say(fakeAnswers[a]...)
			}
		default:
			say("OK")
		}
	}
	return 0
}

func confirmsSoFar(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n := 0
	for l := range strings.SplitSeq(string(b), "\n") {
		if l == "CONFIRM" {
			n++
		}
	}
	return n
}
