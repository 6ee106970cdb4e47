package knownhosts

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// TestMatchingAgainstSSHKeygen checks which lines match a host name against
// OpenSSH's own matcher: ssh-keygen -F prints every line (plain, hashed,
// pattern, marker) whose host field matches.
func TestMatchingAgainstSSHKeygen(t *testing.T) {
	k := newKit(t)
	k.key("a", "")
	k.key("b", "ecdsa")
	keyLines := []string{k.line("a"), k.line("b")}

	// Hashed host fields, from ssh-keygen -H.
	hashedNames := []string{"a.example", "[a.example]:2222", "c", "x.y.example"}
	var src []string
	for _, n := range hashedNames {
		src = append(src, n+" "+keyLines[0])
	}
	k.write("tohash", src...)
	k.keygen("-H", "-f", "tohash")
	data, err := os.ReadFile(k.path("tohash"))
	if err != nil {
		t.Fatal(err)
	}
	var hashed []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		hashed = append(hashed, strings.Fields(l)[0])
	}

	patterns := []string{"a.example", "b.example", "A.Example", "*.example", "!a.example", "!*.example",
		"[a.example]:2222", "[*.example]:2222", "a?example", "*", "!*", "c", "[c]:22", "[c]:2222",
		"192.0.2.1", "[192.0.2.1]:2222", "x.*.example", "*x*", "?"}
	candidates := []string{"a.example", "b.example", "c", "[a.example]:2222", "[c]:2222", "[c]:22",
		"x.example", "x.y.example", "192.0.2.1", "[192.0.2.1]:2222", "axexample", "x"}
	markers := []string{"", "", "", "@cert-authority ", "@revoked ", "@cert-authority\t"}

	r := rand.New(rand.NewSource(4))
	var matched atomic.Int64
	t.Cleanup(func() {
		if !t.Failed() && matched.Load() == 0 {
			t.Error("no line matched anything: the test tests nothing")
		}
	})
	for i := 0; i < 20; i++ {
		var lines []string
		for n := 1 + r.Intn(6); n > 0; n-- {
			var host string
			if r.Intn(4) == 0 {
				host = hashed[r.Intn(len(hashed))]
			} else {
				var ps []string
				for m := 1 + r.Intn(3); m > 0; m-- {
					ps = append(ps, patterns[r.Intn(len(patterns))])
				}
				host = strings.Join(ps, ",")
			}
			lines = append(lines, markers[r.Intn(len(markers))]+host+" "+keyLines[r.Intn(2)])
		}
		file := fmt.Sprintf("kh%d", i)
		path := k.write(file, lines...)
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			compareWithSSHKeygen(t, path, lines, candidates, &matched)
		})
	}
}

func compareWithSSHKeygen(t *testing.T, path string, lines, candidates []string, matched *atomic.Int64) {
	entries := parse([]byte(strings.Join(lines, "\n")))
	for _, c := range candidates {
		var ours []int
		for _, e := range entries {
			if e.matches(c) {
				ours = append(ours, e.line)
			}
		}
		out, _ := exec.Command("ssh-keygen", "-F", c, "-f", path).Output()
		var theirs []int
		for _, l := range strings.Split(string(out), "\n") {
			if _, rest, ok := strings.Cut(l, " found: line "); ok && strings.HasPrefix(l, "# Host ") {
				n, err := strconv.Atoi(strings.Fields(rest)[0])
				if err != nil {
					t.Fatalf("ssh-keygen -F output %q", l)
				}
				theirs = append(theirs, n)
			}
		}
		if !slices.Equal(ours, theirs) {
			t.Errorf("%q in\n%s\nmatches lines %v, ssh-keygen -F says %v", c, strings.Join(lines, "\n"), ours, theirs)
		}
		matched.Add(int64(len(ours)))
	}
}
