//go:build linux

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/sys/unix"
)

// benchKey is one key loaded into every agent.
type benchKey struct {
	name   string // "ed25519", "ecdsa-p256", "rsa-2048"
	priv   any
	pub    ssh.PublicKey
	flags  agent.SignatureFlags
	format string // the signature format the agent must answer with
}

func generateKeys() ([]*benchKey, error) {
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	keys := []*benchKey{
		{name: "ed25519", priv: edPriv, format: ssh.KeyAlgoED25519},
		{name: "ecdsa-p256", priv: ecPriv, format: ssh.KeyAlgoECDSA256},
		{name: "rsa-2048", priv: rsaPriv, flags: agent.SignatureFlagRsaSha256, format: ssh.KeyAlgoRSASHA256},
	}
	for _, k := range keys {
		s, err := ssh.NewSignerFromKey(k.priv)
		if err != nil {
			return nil, err
		}
		k.pub = s.PublicKey()
	}
	return keys, nil
}

// loadKeys adds every key to the agent on sock.
func loadKeys(ctx context.Context, sock string, keys []*benchKey) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	ag := agent.NewClient(c)
	for _, k := range keys {
		if err := ag.Add(agent.AddedKey{PrivateKey: k.priv, Comment: "bench " + k.name}); err != nil {
			return fmt.Errorf("add %s key: %w", k.name, err)
		}
	}
	got, err := ag.List()
	if err != nil {
		return err
	}
	if len(got) != len(keys) {
		return fmt.Errorf("agent lists %d keys after adding %d", len(got), len(keys))
	}
	return nil
}

// operation is what one request does.
type operation struct {
	name  string    // "list", "sign ed25519", ...
	key   *benchKey // nil for list
	nkeys int       // how many keys list must return
}

// do sends req, the operation's request frame for data, on c. check also
// verifies a signature (costly, so done on a client's first request of a
// cell only); a list is always checked for its count.
func (o operation) do(c *agentConn, req, data []byte, check bool) error {
	reply, err := c.roundTrip(req)
	if err != nil {
		return err
	}
	if len(reply) == 1 && reply[0] == msgFailure {
		return errors.New("agent refused (SSH_AGENT_FAILURE)")
	}
	if o.key == nil {
		if len(reply) < 5 || reply[0] != msgIDsAnswer {
			return fmt.Errorf("list: unexpected reply of %d bytes", len(reply))
		}
		if n := binary.BigEndian.Uint32(reply[1:]); int(n) != o.nkeys {
			return fmt.Errorf("list returned %d keys, want %d", n, o.nkeys)
		}
		return nil
	}
	if len(reply) == 0 || reply[0] != msgSignResponse {
		return fmt.Errorf("sign: unexpected reply of %d bytes", len(reply))
	}
	if !check {
		return nil
	}
	var m struct {
		Type byte
		Sig  []byte
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal(reply, &m); err != nil {
		return fmt.Errorf("sign reply: %w", err)
	}
	if err := ssh.Unmarshal(m.Sig, &sig); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if sig.Format != o.key.format {
		return fmt.Errorf("signature format %q, want %q", sig.Format, o.key.format)
	}
	if err := o.key.pub.Verify(data, &sig); err != nil {
		return fmt.Errorf("signature does not verify: %w", err)
	}
	return nil
}

// cellSpec is one measurement: an operation, a number of clients, a mode.
type cellSpec struct {
	op         operation
	clients    int
	persistent bool // one connection per client, else one per request
}

func (s cellSpec) modeName() string {
	if s.persistent {
		return "persistent"
	}
	return "new-conn"
}

// measurement is one agent's figures in one cell.
type measurement struct {
	Ops           int     `json:"ops"`
	Errors        int     `json:"errors"`
	FirstError    string  `json:"first_error,omitempty"`
	ElapsedSec    float64 `json:"elapsed_s"`
	OpsPerSec     float64 `json:"ops_per_s"`
	P50us         float64 `json:"p50_us"`
	P99us         float64 `json:"p99_us"`
	CPUus         float64 `json:"cpu_us_per_op"`          // own threads + children
	CPUOwnUs      float64 `json:"cpu_own_us_per_op"`      // the agent's own threads (schedstat, ns precision)
	CPUChildrenUs float64 `json:"cpu_children_us_per_op"` // reaped children (a cell's total exact to 10 ms)
	ClientCPUus   float64 `json:"client_cpu_us_per_op"`   // the benchmark's own clients, on the same cores
	LostThreads   int     `json:"threads_exited,omitempty"`
	RSSBeforeKiB  int     `json:"rss_before_kib"`
	RSSAfterKiB   int     `json:"rss_after_kib"`
}

// valid reports whether the figures mean anything: requests succeeded and
// none failed.
func (m *measurement) valid() bool { return m != nil && m.Ops > 0 && m.Errors == 0 }

type clientResult struct {
	lat      []int64
	errors   int
	firstErr error
}

// runCell measures spec on one agent for dur. Clients start together and
// each issues requests back to back until dur has passed; the requests in
// flight then finish, and elapsed runs until the last one has.
func runCell(ctx context.Context, a *agentProc, spec cellSpec, dur, opTimeout time.Duration) (*measurement, error) {
	m := &measurement{}
	var clients []*agentConn
	if spec.persistent {
		for range spec.clients {
			c, err := dialAgent(a.sock, opTimeout)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", a.name, err)
			}
			defer c.Close()
			clients = append(clients, c)
		}
	}
	var err error
	if m.RSSBeforeKiB, err = readRSS(a.pid); err != nil {
		return nil, err
	}
	cpu0, err := readCPU(a.pid)
	if err != nil {
		return nil, err
	}
	// Blocking system calls with fewer Ps than clients make the runtime
	// hand Ps from thread to thread on every read; with a P to spare for
	// each client, a client's thread blocks in the kernel as a C
	// client's would, and keeps its P.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(spec.clients + 1))
	self0 := selfCPU()

	results := make([]clientResult, spec.clients)
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	var t0 time.Time
	for i := range spec.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			data := make([]byte, 64)
			rand.Read(data)
			req := spec.op.request(data)
			r.lat = make([]int64, 0, 1024)
			<-startGate
			stopAt := t0.Add(dur)
			fail := func(err error) {
				if r.errors == 0 {
					r.firstErr = err
				}
				r.errors++
			}
			checked := false
			for now := time.Now(); now.Before(stopAt) && ctx.Err() == nil; {
				var err error
				if spec.persistent {
					err = spec.op.do(clients[i], req, data, !checked)
				} else {
					var c *agentConn
					if c, err = dialAgent(a.sock, opTimeout); err == nil {
						err = spec.op.do(c, req, data, !checked)
						c.Close()
					}
				}
				done := time.Now()
				if err != nil {
					fail(err)
					if spec.persistent && isConnError(err) {
						return // the connection is gone; its client stops
					}
				} else {
					r.lat = append(r.lat, int64(done.Sub(now)))
					checked = true
				}
				now = done
			}
		}()
	}
	t0 = time.Now()
	close(startGate)
	wg.Wait()
	elapsed := time.Since(t0)

	self1 := selfCPU()
	cpu1, err := readCPU(a.pid)
	if err != nil {
		return nil, err
	}
	if m.RSSAfterKiB, err = readRSS(a.pid); err != nil {
		return nil, err
	}
	var n int
	for _, r := range results {
		n += len(r.lat)
	}
	all := make([]int64, 0, n)
	for _, r := range results {
		all = append(all, r.lat...)
		m.Errors += r.errors
		if r.firstErr != nil && m.FirstError == "" {
			m.FirstError = r.firstErr.Error()
		}
	}
	m.Ops = len(all)
	m.ElapsedSec = elapsed.Seconds()
	m.OpsPerSec = float64(m.Ops) / elapsed.Seconds()
	m.P50us, m.P99us = percentiles(all)
	own, children, lost := cpuDelta(cpu0, cpu1)
	m.LostThreads = lost
	if m.Ops > 0 {
		m.CPUOwnUs = float64(own) / 1e3 / float64(m.Ops)
		m.CPUChildrenUs = float64(children) / 1e3 / float64(m.Ops)
		m.CPUus = m.CPUOwnUs + m.CPUChildrenUs
		m.ClientCPUus = float64(self1-self0) / 1e3 / float64(m.Ops)
	}
	if a.exited() {
		return m, fmt.Errorf("%s exited during the cell (%v)%s", a.name, a.waitErr, a.logTail())
	}
	return m, ctx.Err()
}

// selfCPU is the benchmark process's own CPU time so far, in ns: what the
// clients of a cell cost, on the cores the agent also needs.
func selfCPU() int64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// isConnError tells a broken connection from an agent's refusal.
func isConnError(err error) bool {
	var ce *connError
	return errors.As(err, &ce)
}

// memRound is the agent's memory after one round of the connection check.
type memRound struct {
	RSSKiB int `json:"rss_kib"` // with every connection still open, after the lists
	Errors int `json:"errors"`
}

type memResult struct {
	Conns         int        `json:"connections"`
	BaselineKiB   int        `json:"rss_baseline_kib"`
	Rounds        []memRound `json:"rounds"`
	AfterCloseKiB int        `json:"rss_after_close_kib"` // all closed, then one list on a new connection
	FirstError    string     `json:"first_error,omitempty"`
}

// memCheck opens conns connections to the agent and holds them open, then
// sends a list on every one of them at once, rounds times, reading the
// agent's RSS after each round.
func memCheck(ctx context.Context, a *agentProc, nkeys, conns, rounds int, timeout time.Duration) (*memResult, error) {
	res := &memResult{Conns: conns}
	var err error
	if res.BaselineKiB, err = readRSS(a.pid); err != nil {
		return nil, err
	}
	list := operation{name: "list", nkeys: nkeys}
	for range rounds {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		round, err := memRoundRun(a, list, conns, timeout, res)
		if err != nil {
			return nil, err
		}
		res.Rounds = append(res.Rounds, round)
	}
	c, err := dialAgent(a.sock, timeout)
	if err == nil {
		err = list.do(c, list.request(nil), nil, true)
		c.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("list after the connection check: %w", err)
	}
	if res.AfterCloseKiB, err = readRSS(a.pid); err != nil {
		return nil, err
	}
	return res, nil
}

// memRoundRun is one round of memCheck: dial every connection, then list
// on all of them at once, read RSS while they are all still open, close.
func memRoundRun(a *agentProc, list operation, conns int, timeout time.Duration, res *memResult) (memRound, error) {
	req := list.request(nil)
	var (
		round                 memRound
		mu                    sync.Mutex
		dialled, listed, gone sync.WaitGroup
		gate                  = make(chan struct{})
		held                  = make(chan struct{})
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		round.Errors++
		if res.FirstError == "" {
			res.FirstError = err.Error()
		}
	}
	dialled.Add(conns)
	listed.Add(conns)
	gone.Add(conns)
	for range conns {
		go func() {
			defer gone.Done()
			c, err := dialAgent(a.sock, timeout)
			dialled.Done()
			if err != nil {
				fail(err)
				listed.Done()
				return
			}
			defer c.Close()
			<-gate
			if err := list.do(c, req, nil, true); err != nil {
				fail(err)
			}
			listed.Done()
			<-held // the connection stays open until RSS is read
		}()
	}
	dialled.Wait()
	close(gate)
	listed.Wait()
	rss, err := readRSS(a.pid)
	close(held)
	gone.Wait()
	round.RSSKiB = rss
	return round, err
}

func percentiles(lat []int64) (p50, p99 float64) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	rank := func(p float64) float64 {
		// Nearest rank: the smallest value with at least p of the
		// samples at or below it.
		i := int(p*float64(len(lat))+0.999999) - 1
		i = max(0, min(i, len(lat)-1))
		return float64(lat[i]) / 1e3
	}
	return rank(0.50), rank(0.99)
}
