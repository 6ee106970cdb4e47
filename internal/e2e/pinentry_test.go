package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scriptedPinentry is a pinentry program, a shell script speaking Assuan, that stands in for a person at
// pinentry's dialog: it records every title it is shown and answers every CONFIRM from its control file:
//
//	once   "Allow once"
//	grant  "Allow for 5 min", then confirms the grant in the second dialog
//	deny   "Deny"
//
// It allows 1.1 seconds after each dialog appears, as a person would: vigil takes an allow within a second for a
// reflex and shows the dialog again. It denies at once, which vigil takes at any time: tests that expect a denial
// wait for nothing.
type scriptedPinentry struct {
	path    string
	log     string
	control string
}

func newScriptedPinentry(t testing.TB, answer string) *scriptedPinentry {
	t.Helper()
	dir := t.TempDir()
	p := &scriptedPinentry{
		path:    filepath.Join(dir, "pinentry"),
		log:     filepath.Join(dir, "titles.log"),
		control: filepath.Join(dir, "answer"),
	}
	script := `#!/bin/sh
answer=$(/bin/cat '` + p.control + `')
notok=0
echo "OK Pleased to meet you"
while IFS= read -r line; do
	case "$line" in
	SETTITLE*) printf '%s\n' "${line#SETTITLE }" >> '` + p.log + `'; echo OK ;;
	SETNOTOK*) notok=1; echo OK ;;
	CONFIRM*)
		case "$answer:$notok" in
		deny:*) echo "ERR 83886179 Operation cancelled <Pinentry>" ;;
		grant:1) /bin/sleep 1.1; echo "ERR 83886194 Not confirmed <Pinentry>" ;;
		*) /bin/sleep 1.1; echo OK ;;
		esac ;;
	BYE*) echo "OK closing connection"; exit 0 ;;
	*) echo OK ;;
	esac
done
`
	if err := os.WriteFile(p.path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p.set(t, answer)
	return p
}

func (p *scriptedPinentry) set(t testing.TB, answer string) {
	t.Helper()
	tmp := p.control + ".tmp"
	if err := os.WriteFile(tmp, []byte(answer), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p.control); err != nil {
		t.Fatal(err)
	}
}

// prompts returns the titles of the prompts shown so far: the first dialog of each, not the "Allow for 5 min?"
// dialog that confirms a grant.
func (p *scriptedPinentry) prompts(t testing.TB) []string {
	t.Helper()
	data, err := os.ReadFile(p.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for l := range strings.Lines(string(data)) {
		if !strings.HasPrefix(l, "Allow for ") {
			titles = append(titles, strings.TrimSuffix(l, "\n"))
		}
	}
	return titles
}
