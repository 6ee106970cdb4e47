package cargo_test

// End to end: real cargo (stable, 1.95 when written) runs this test binary as
// its credential provider. The provider speaks the protocol with this
// package's codec and answers gets with PASETO tokens from the paseto
// package; a registry served by the test on 127.0.0.1 checks every token
// cargo sends against the operation it is for.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/credential/cargo"
	"github.com/vigil-agent/vigil/internal/credential/paseto"
)

// providerEnv, set in cargo's environment (and so in the provider's), names
// the file the provider appends what it decoded to.
const providerEnv = "VIGIL_TEST_CARGO_PROVIDER_LOG"

// The RFC 3231 example key: public, for tests only.
const testKey = "k3.secret.fNYVuMvBgOlljt9TDohnaYLblghqaHoQquVZwgR6X12cBFHZLFsaU3q7X3k1Zn36"

func TestMain(m *testing.M) {
	if log := os.Getenv(providerEnv); log != "" && len(os.Args) == 2 && os.Args[1] == cargo.PluginFlag {
		os.Exit(runProvider(log))
	}
	os.Exit(m.Run())
}

// logEntry is what the provider saw: the line as cargo sent it, and what the
// codec made of it.
type logEntry struct {
	Line     string
	Request  *cargo.Request `json:"-"`
	Kind     string
	Op       string
	Name     string
	Vers     string
	Cksum    string
	IndexURL string
	Registry string
	Token    string
	LoginURL string
	Args     []string
	Err      string
}

// runProvider is the provider's main: hello, one request, one response,
// wait for EOF, exit 0.
func runProvider(logPath string) int {
	out := bufio.NewWriter(os.Stdout)
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "test provider:", err)
		return 1
	}
	if _, err := out.Write(cargo.EncodeHello()); err != nil {
		return fail(err)
	}
	if err := out.Flush(); err != nil {
		return fail(err)
	}
	in := bufio.NewReader(os.Stdin)
	line, err := cargo.ReadLine(in)
	if err == io.EOF {
		return 0
	}
	if err != nil {
		return fail(err)
	}
	entry := logEntry{Line: string(line)}
	req, err := cargo.DecodeRequest(line)
	var resp []byte
	if err != nil {
		entry.Err = err.Error()
		resp = cargo.EncodeError(cargo.FromError(err))
	} else {
		entry.Kind, entry.Op, entry.Name, entry.Vers, entry.Cksum = string(req.Kind), string(req.Operation), req.Name, req.Vers, req.Cksum
		entry.IndexURL, entry.Registry, entry.Token, entry.LoginURL, entry.Args = req.Registry.IndexURL, req.Registry.Name, req.Token.Reveal(), req.LoginURL, req.Args
		resp = answer(req)
	}
	b, _ := json.Marshal(entry)
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fail(err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if _, err := out.Write(resp); err != nil {
		return fail(err)
	}
	if err := out.Flush(); err != nil {
		return fail(err)
	}
	_, _ = io.Copy(io.Discard, in) // cargo closes stdin once it has the answer
	return 0
}

func answer(req *cargo.Request) []byte {
	switch {
	case req.Kind == cargo.KindLogin || req.Kind == cargo.KindLogout:
		b, _ := cargo.EncodeResponse(&cargo.Response{Kind: req.Kind})
		return b
	case req.Kind == cargo.KindGet && req.Operation.Known():
		key, err := paseto.ParseSecretKey(testKey)
		if err != nil {
			return cargo.EncodeError(cargo.FromError(err))
		}
		resp, err := paseto.CargoResponse(key, req, time.Now(), "test-subject")
		if err != nil {
			return cargo.EncodeError(cargo.FromError(err))
		}
		b, err := cargo.EncodeResponse(resp)
		if err != nil {
			return cargo.EncodeError(cargo.FromError(err))
		}
		return b
	}
	return cargo.EncodeError(&cargo.Error{Kind: cargo.OperationNotSupported})
}

// registry serves a sparse index's config.json and the three API calls the
// test makes, checking each call's token.
type registry struct {
	srv *httptest.Server
	pk  *paseto.PublicKey

	mu    sync.Mutex
	calls []string // "METHOD path: ok" or ": <why refused>"
}

func newRegistry(t *testing.T) *registry {
	key, err := paseto.ParseSecretKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := paseto.NewPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	r := &registry{pk: pk}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *registry) indexURL() string { return "sparse+" + r.srv.URL + "/index/" }

func (r *registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/index/config.json" {
		fmt.Fprintf(w, `{"dl":%q,"api":%q}`, r.srv.URL+"/dl/{crate}/{version}", r.srv.URL)
		return
	}
	var op cargo.Operation
	var name, vers, reply string
	switch {
	case req.Method == http.MethodGet && req.URL.Path == "/api/v1/crates/foo/owners":
		op, name, reply = cargo.OpOwners, "foo", `{"users":[{"id":1,"login":"alice","name":"Alice"}]}`
	case req.Method == http.MethodDelete && req.URL.Path == "/api/v1/crates/foo/0.1.0/yank":
		op, name, vers, reply = cargo.OpYank, "foo", "0.1.0", `{"ok":true}`
	case req.Method == http.MethodPut && req.URL.Path == "/api/v1/crates/foo/0.1.0/unyank":
		op, name, vers, reply = cargo.OpUnyank, "foo", "0.1.0", `{"ok":true}`
	default:
		http.NotFound(w, req)
		return
	}
	verdict := "ok"
	claims, err := paseto.VerifyCargo(r.pk, req.Header.Get("Authorization"), r.indexURL(), time.Now(), 5*time.Minute)
	if err == nil {
		err = claims.Check(op, name, vers, "")
	}
	if err == nil && claims.Subject != "test-subject" {
		err = fmt.Errorf("subject %q", claims.Subject)
	}
	if err != nil {
		verdict = err.Error()
	}
	r.mu.Lock()
	r.calls = append(r.calls, req.Method+" "+req.URL.Path+": "+verdict)
	r.mu.Unlock()
	if err != nil {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"errors":[{"detail":%q}]}`, "token refused: "+err.Error())
		return
	}
	io.WriteString(w, reply)
}

func (r *registry) takeCalls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// cargoRig is a throwaway CARGO_HOME whose registry "fake" uses this test
// binary as its credential provider.
type cargoRig struct {
	t       *testing.T
	cargo   string
	home    string
	dir     string
	log     string
	reg     *registry
	entries int
}

func newCargoRig(t *testing.T) *cargoRig {
	path, err := exec.LookPath("cargo")
	if err != nil {
		t.Fatal("cargo is not installed")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	rig := &cargoRig{t: t, cargo: path, home: filepath.Join(tmp, "cargo-home"), dir: filepath.Join(tmp, "work"), log: filepath.Join(tmp, "provider.log"), reg: newRegistry(t)}
	for _, d := range []string{rig.home, rig.dir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	config := fmt.Sprintf("[registries.fake]\nindex = %q\ncredential-provider = [%q, \"--from-config\", \"a1\"]\n", rig.reg.indexURL(), self)
	if err := os.WriteFile(filepath.Join(rig.home, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return rig
}

// run runs cargo with args, requires exit status 0, and returns what the
// provider logged during the run.
func (rig *cargoRig) run(args ...string) []logEntry {
	t := rig.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rig.cargo, args...)
	cmd.Dir = rig.dir
	cmd.Env = []string{providerEnv + "=" + rig.log, "CARGO_HOME=" + rig.home, "CARGO_TERM_COLOR=never", "NO_PROXY=*"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CARGO") || strings.Contains(strings.ToLower(k), "proxy") {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	var stderr bytes.Buffer
	cmd.Stdin = strings.NewReader("")
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("cargo %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	data, err := os.ReadFile(rig.log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var all []logEntry
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e logEntry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("provider log: %v", err)
		}
		all = append(all, e)
	}
	got := all[rig.entries:]
	rig.entries = len(all)
	for _, e := range got {
		if e.Err != "" {
			t.Errorf("cargo %s: the codec refused cargo's line %s: %s", strings.Join(args, " "), e.Line, e.Err)
		}
	}
	return got
}

func TestRealCargo(t *testing.T) {
	rig := newCargoRig(t)
	base := cargo.Request{
		Registry: cargo.Registry{IndexURL: rig.reg.indexURL(), Name: "fake"},
		Args:     []string{"--from-config", "a1"},
	}
	// checkOne requires exactly one request, decoded to want and re-encoding
	// to the very bytes cargo sent.
	checkOne := func(what string, got []logEntry, want cargo.Request, token string) {
		t.Helper()
		if len(got) != 1 {
			t.Fatalf("%s: the provider saw %d requests, want 1: %+v", what, len(got), got)
		}
		e := got[0]
		if e.Kind != string(want.Kind) || e.Op != string(want.Operation) || e.Name != want.Name || e.Vers != want.Vers ||
			e.IndexURL != want.Registry.IndexURL || e.Registry != want.Registry.Name || e.LoginURL != want.LoginURL ||
			e.Token != token || strings.Join(e.Args, " ") != strings.Join(want.Args, " ") {
			t.Errorf("%s: decoded %+v\nwant %+v", what, e, want)
		}
		req, err := cargo.DecodeRequest([]byte(e.Line))
		if err != nil {
			t.Fatal(err)
		}
		enc, err := cargo.EncodeRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		if string(enc) != e.Line+"\n" {
			t.Errorf("%s: cargo sent\n %s\nthe codec encodes\n %s", what, e.Line, enc)
		}
	}

	t.Run("login", func(t *testing.T) {
		want := base
		want.Kind, want.LoginURL = cargo.KindLogin, rig.reg.srv.URL+"/me"
		want.Args = append(want.Args, "--extra-cli-arg")
		checkOne("login", rig.run("login", "--registry", "fake", "secret-token-123", "--", "--extra-cli-arg"), want, "secret-token-123")
	})
	t.Run("owners", func(t *testing.T) {
		want := base
		want.Kind, want.Operation, want.Name = cargo.KindGet, cargo.OpOwners, "foo"
		checkOne("owner --list", rig.run("owner", "--list", "foo", "--registry", "fake"), want, "")
		if calls := rig.reg.takeCalls(); len(calls) != 1 || calls[0] != "GET /api/v1/crates/foo/owners: ok" {
			t.Errorf("registry saw %q", calls)
		}
	})
	t.Run("yank", func(t *testing.T) {
		want := base
		want.Kind, want.Operation, want.Name, want.Vers = cargo.KindGet, cargo.OpYank, "foo", "0.1.0"
		checkOne("yank", rig.run("yank", "foo@0.1.0", "--registry", "fake"), want, "")
		want.Operation = cargo.OpUnyank
		checkOne("yank --undo", rig.run("yank", "--undo", "foo@0.1.0", "--registry", "fake"), want, "")
		calls := rig.reg.takeCalls()
		if len(calls) != 2 || calls[0] != "DELETE /api/v1/crates/foo/0.1.0/yank: ok" || calls[1] != "PUT /api/v1/crates/foo/0.1.0/unyank: ok" {
			t.Errorf("registry saw %q", calls)
		}
	})
	t.Run("logout", func(t *testing.T) {
		want := base
		want.Kind = cargo.KindLogout
		checkOne("logout", rig.run("logout", "--registry", "fake"), want, "")
	})
}
