package audit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// listFiles returns the numbers of the log files in dir, in order.
func listFiles(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var nums []int
	for _, e := range ents {
		if n := fileNumber(e.Name()); n != 0 {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums, nil
}

// tail is what the end of a file says about the chain.
type tail struct {
	found   bool   // a whole record was found
	rec     Record // the last whole record that parses
	hash    string // its hash
	clean   bool   // it is the last thing in the file
	damaged string // what follows it, in words, when not clean
}

// readTail finds the last record of a file's content: the last complete
// line that parses.
func readTail(data []byte) tail {
	var t tail
	end := bytes.LastIndexByte(data, '\n') + 1
	rest := len(data) - end
	lines := bytes.Split(data[:end], []byte("\n"))
	lines = lines[:len(lines)-1] // after the final newline
	for i := len(lines) - 1; i >= 0; i-- {
		r, err := ParseRecord(lines[i])
		if err != nil {
			continue
		}
		t.found, t.rec, t.hash = true, r, Hash(lines[i])
		t.clean = i == len(lines)-1 && rest == 0
		if !t.clean {
			t.damaged = fmt.Sprintf("%d bytes after line %d are not whole records", len(data)-lineEnd(lines, i), i+1)
		}
		return t
	}
	if len(data) > 0 {
		t.damaged = fmt.Sprintf("%d bytes with no whole record", len(data))
	}
	return t
}

// lineEnd is the offset just after line i's newline.
func lineEnd(lines [][]byte, i int) int {
	n := 0
	for _, l := range lines[:i+1] {
		n += len(l) + 1
	}
	return n
}

// resume sets the chain state from the files already in the directory and
// opens the file to write. It returns a description of any damage found.
func (l *Log) resume(nums []int) (string, error) {
	if len(nums) == 0 {
		l.logID = newID()
		l.prev = Genesis(l.logID)
		return "", l.create(1, "")
	}
	// Find the last good record, newest file first.
	var (
		t       tail
		at      int // index in nums of the file holding it
		damaged []string
	)
	for at = len(nums) - 1; at >= 0; at-- {
		data, err := readFile(filepath.Join(l.dir, fileName(nums[at])))
		if err != nil {
			return "", err
		}
		t = readTail(data)
		if t.damaged != "" {
			damaged = append(damaged, fileName(nums[at])+": "+t.damaged)
		}
		if t.found {
			break
		}
	}
	last := nums[len(nums)-1]
	if !t.found {
		// No record anywhere: a new chain, in a new file if anything is
		// there to keep.
		l.logID = newID()
		l.prev = Genesis(l.logID)
		if len(damaged) == 0 {
			return "", l.open(last, 0, "")
		}
		slices.Reverse(damaged)
		return "no whole record in the existing files (" + joinSemi(damaged) + "); a new chain starts here",
			l.create(last+1, "")
	}
	l.logID, l.seq, l.prev, l.headFile = t.rec.Log, t.rec.Seq, t.hash, fileName(nums[at])
	l.synced = l.seq
	if len(damaged) > 0 {
		slices.Reverse(damaged)
		return joinSemi(damaged) + fmt.Sprintf("; the chain goes on from seq %d", l.seq),
			l.create(last+1, fileName(last))
	}
	if at == len(nums)-1 {
		fi, err := os.Stat(filepath.Join(l.dir, fileName(last)))
		if err != nil {
			return "", err
		}
		return "", l.open(last, fi.Size(), "")
	}
	// The newest files are empty (a crash right after a rotation).
	return "", l.open(last, 0, fileName(nums[len(nums)-2]))
}

func joinSemi(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(x)
	}
	return b.String()
}

// create makes file number n, 0600, fsyncing the directory so the file
// survives a crash, and makes it the current file. An empty file of that
