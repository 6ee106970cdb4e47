//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// How the agent's CPU is measured.
//
// /proc/PID/stat's utime+stime count in clock ticks (USER_HZ = 100, so 10 ms),
// far too coarse for requests that take microseconds. Instead the benchmark
// sums the first field of /proc/PID/task/TID/schedstat over every thread: the
// scheduler's own nanosecond count of time on CPU. (/proc/PID/schedstat alone
// is the main thread only.) getrusage cannot be asked about another process.
//
// Child processes an agent runs and reaps (vigil's askpass approver) are not
// among its threads. The kernel adds their CPU to the parent's cutime+cstime
// when it reaps them: kept in nanoseconds (scaled to the children's exact
// runtime), but shown in /proc/PID/stat in ticks, so a cell's children total
// is exact to 10 ms. That is the only place it shows; it is reported
// separately and included in the total.
const cpuMethod = "Σ over the agent's threads of /proc/PID/task/*/schedstat field 1 (ns on CPU), " +
	"delta over the cell / successful requests; plus reaped children (askpass) from /proc/PID/stat cutime+cstime " +
	"(a cell's total exact to one 10 ms tick), also shown on its own"

// userHZ is the unit of /proc/PID/stat's time fields. It is fixed at 100 in
// the Linux ABI on every architecture Go supports, whatever CONFIG_HZ is.
const userHZ = 100

// cpuSample is one reading of a process's CPU counters.
type cpuSample struct {
	threads    map[int]uint64 // tid -> ns on CPU
	childTicks uint64         // cutime + cstime of reaped children
}

func readCPU(pid int) (cpuSample, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return cpuSample{}, err
	}
	s := cpuSample{threads: make(map[int]uint64, len(ents))}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited between ReadDir and here
		}
		f := bytes.Fields(b)
		if len(f) < 1 {
			return cpuSample{}, fmt.Errorf("malformed %s/%s/schedstat", dir, e.Name())
		}
		ns, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return cpuSample{}, fmt.Errorf("malformed %s/%s/schedstat: %v", dir, e.Name(), err)
		}
		s.threads[tid] = ns
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuSample{}, err
	}
	// Field 2 (comm) may hold spaces and ')': parse from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return cpuSample{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3; cutime and cstime are fields 16 and 17.
	if len(f) < 15 {
		return cpuSample{}, fmt.Errorf("short /proc/%d/stat", pid)
	}
	cu, err1 := strconv.ParseUint(f[13], 10, 64)
	cs, err2 := strconv.ParseUint(f[14], 10, 64)
	if err1 != nil || err2 != nil {
		return cpuSample{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	s.childTicks = cu + cs
	return s, nil
}

// cpuDelta is what the process used between two samples: ns on its own
// threads, ns of reaped children (10 ms resolution), and how many threads
// exited in between (their time since the first sample is lost; the Go
// runtime and ssh-agent do not normally end threads, so this stays 0).
func cpuDelta(before, after cpuSample) (ownNs, childNs uint64, lostThreads int) {
	for tid, ns := range after.threads {
		ownNs += ns - before.threads[tid] // a new thread counts from 0
	}
	for tid := range before.threads {
		if _, ok := after.threads[tid]; !ok {
			lostThreads++
		}
	}
	childNs = (after.childTicks - before.childTicks) * (1e9 / userHZ)
	return ownNs, childNs, lostThreads
}

// readRSS returns VmRSS in KiB.
func readRSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			return strconv.Atoi(f[0])
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
