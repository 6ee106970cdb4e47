package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/credential/cargo"
	"github.com/vigil-agent/vigil/internal/credential/paseto"
)

// The registry token the tests log in with: distinctive, so that a search
// for it anywhere is meaningful.
const cargoToken = "vigil-e2e-cio-TOKEN-5f1c0e9a7d3b"

// cargoRegistry is a sparse registry on 127.0.0.1: config.json, index files
// for what was published, and the publish, yank, unyank and owners API. It
// accepts one token, or PASETO tokens of a registered key, each only for the
// call its claims name; and logs every API call.
type cargoRegistry struct {
	srv   *httptest.Server
	token string

	mu    sync.Mutex
	index map[string][]indexEntry // crate name -> versions, in publish order
	log   []string
	// pk, when set, is the registered public key: the registry then
	// accepts v3.public tokens it verifies (signature, footer, iat and the
	// claims against the request). auths are the Authorization headers
	// of the PASETO-authorised calls, in order.
	pk    *paseto.PublicKey
	auths []string
	// authRequired: config.json says "auth-required", and the index and
	// downloads want the token (cargo's read operation) too.
	authRequired bool
	owners       map[string][]string // crate name -> owners' logins
}

// requireAuth turns auth-required on or off.
func (r *cargoRegistry) requireAuth(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.authRequired = on
}

// setPublicKey registers the public key whose tokens the registry accepts.
func (r *cargoRegistry) setPublicKey(pk *paseto.PublicKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pk = pk
}

// takeAuths returns the Authorization headers of the PASETO-authorised calls
// (reads included) since the last takeAuths.
func (r *cargoRegistry) takeAuths() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.auths
	r.auths = nil
	return a
}

// indexEntry is one line of a sparse index file.
type indexEntry struct {
	Name     string         `json:"name"`
	Vers     string         `json:"vers"`
	Deps     []any          `json:"deps"`
	Cksum    string         `json:"cksum"`
	Features map[string]any `json:"features"`
	Yanked   bool           `json:"yanked"`
	crate    []byte         // the .crate, for /dl
}

func newCargoRegistry(t *testing.T, token string) *cargoRegistry {
	r := &cargoRegistry{token: token, index: map[string][]indexEntry{}, owners: map[string][]string{}}
	r.srv = httptest.NewServer(r) // 127.0.0.1
	t.Cleanup(r.srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("registry log:\n%s", strings.Join(r.takeLog(), "\n"))
		}
	})
	return r
}

func (r *cargoRegistry) indexURL() string { return "sparse+" + r.srv.URL + "/index/" }

// indexPath is where cargo looks for a crate's index file.
func indexPath(name string) string {
	switch len(name) {
	case 1:
		return "1/" + name
	case 2:
		return "2/" + name
	case 3:
		return "3/" + name[:1] + "/" + name
	}
	return name[:2] + "/" + name[2:4] + "/" + name
}

func (r *cargoRegistry) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, fmt.Sprintf(format, args...))
}

func (r *cargoRegistry) takeLog() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.log
	r.log = nil
	return l
}

// version returns the index entry of name vers, if published.
func (r *cargoRegistry) version(name, vers string) (indexEntry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.index[name] {
		if e.Vers == vers {
			return e, true
		}
	}
	return indexEntry{}, false
}

func apiError(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"detail":%q}]}`, detail)
}

// readAuth says which token a read (index or download) came with, and
// whether the registry accepts it: the logged-in token, or a v3.public
// token for reading (no mutation claim) signed by the registered key.
func (r *cargoRegistry) readAuth(req *http.Request) (string, bool) {
	auth, claims, ok := r.apiAuth(req)
	if !ok || claims == nil {
		return auth, ok
	}
	if err := claims.Check(cargo.OpRead, "", "", ""); err != nil {
		return "a PASETO token rejected: " + err.Error(), false
	}
	return "a PASETO read token", true
}

func (r *cargoRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p := req.URL.Path
	r.mu.Lock()
	authRequired := r.authRequired
	r.mu.Unlock()
	if req.Method == http.MethodGet && authRequired && (strings.HasPrefix(p, "/index/") || strings.HasPrefix(p, "/dl/")) {
		auth, ok := r.readAuth(req)
		if !ok {
			r.logf("GET %s: 401, %s", p, auth)
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Cargo login_url=%q", r.srv.URL+"/me"))
			http.Error(w, "this registry wants a token", http.StatusUnauthorized)
			return
		}
		r.logf("GET %s: with %s", p, auth)
	}
	if req.Method == http.MethodGet && p == "/index/config.json" {
		fmt.Fprintf(w, `{"dl":%q,"api":%q,"auth-required":%t}`, r.srv.URL+"/dl/{crate}/{version}", r.srv.URL, authRequired)
		return
	}
	if rest, ok := strings.CutPrefix(p, "/dl/"); ok && req.Method == http.MethodGet {
		name, vers, _ := strings.Cut(rest, "/")
		e, ok := r.version(name, vers)
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Write(e.crate)
		return
	}
	if rest, ok := strings.CutPrefix(p, "/index/"); ok && req.Method == http.MethodGet {
		name := rest[strings.LastIndexByte(rest, '/')+1:]
		r.mu.Lock()
		entries := r.index[name]
		var b bytes.Buffer
		for _, e := range entries {
			line, _ := json.Marshal(e)
			b.Write(append(line, '\n'))
		}
		r.mu.Unlock()
		if indexPath(name) != rest || len(entries) == 0 {
			http.NotFound(w, req)
			return
		}
		w.Write(b.Bytes())
		return
	}
	if !strings.HasPrefix(p, "/api/v1/") {
		http.NotFound(w, req)
		return
	}
	auth, claims, ok := r.apiAuth(req)
	if !ok {
		r.logf("%s %s: 403, %s", req.Method, p, auth)
		apiError(w, http.StatusForbidden, "token rejected by the e2e registry: "+auth)
		return
	}
	// bound says whether the call is the one a PASETO token's claims
	// (mutation, name, vers, cksum) were made for; a plain token is bound
	// to nothing.
	bound := func(op cargo.Operation, name, vers, cksum string) bool {
		if claims == nil {
			return true
		}
		if err := claims.Check(op, name, vers, cksum); err != nil {
			r.logf("%s %s: 403, PASETO claims do not match: %v", req.Method, p, err)
			apiError(w, http.StatusForbidden, "token rejected by the e2e registry: "+err.Error())
			return false
		}
		return true
	}
	crate := strings.Split(strings.TrimPrefix(p, "/api/v1/crates/"), "/")
	switch {
	case req.Method == http.MethodPut && p == "/api/v1/crates/new":
		data, err := io.ReadAll(io.LimitReader(req.Body, 10<<20))
		var e indexEntry
		if err == nil {
			e, err = decodeUpload(data)
		}
		if err == nil && !bound(cargo.OpPublish, e.Name, e.Vers, e.Cksum) {
			return
		}
		if err == nil {
			err = r.add(e)
		}
		if err != nil {
			r.logf("PUT %s: 400, %v", p, err)
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		r.logf("PUT %s: 200, published %s %s sha256 %s, with %s", p, e.Name, e.Vers, e.Cksum, auth)
		io.WriteString(w, `{"warnings":{"invalid_categories":[],"invalid_badges":[],"other":[]}}`)
	case len(crate) == 3 && (req.Method == http.MethodDelete && crate[2] == "yank" || req.Method == http.MethodPut && crate[2] == "unyank"):
		op, yanked := cargo.OpYank, true
		if crate[2] == "unyank" {
			op, yanked = cargo.OpUnyank, false
		}
		if !bound(op, crate[0], crate[1], "") {
			return
		}
		if !r.setYanked(crate[0], crate[1], yanked) {
			r.logf("%s %s: 404", req.Method, p)
			apiError(w, http.StatusNotFound, "no such version")
			return
		}
		r.logf("%s %s: 200, %sed %s %s, with %s", req.Method, p, crate[2], crate[0], crate[1], auth)
		io.WriteString(w, `{"ok":true}`)
	case len(crate) == 2 && crate[1] == "owners":
		if bound(cargo.OpOwners, crate[0], "", "") {
			r.serveOwners(w, req, crate[0], auth)
		}
	default:
		r.logf("%s %s: 404", req.Method, p)
		http.NotFound(w, req)
	}
}

// apiAuth says which token an API call came with and whether the registry
// accepts it: the logged-in token, or a v3.public token signed by the
// registered key, naming this registry and that key, and fresh. For the
// latter it returns the token's claims, which the call must match, and
// keeps the token for takeAuths.
func (r *cargoRegistry) apiAuth(req *http.Request) (string, *paseto.Claims, bool) {
	r.mu.Lock()
	pk := r.pk
	r.mu.Unlock()
	switch h := req.Header.Get("Authorization"); {
	case h == "":
		return "no token", nil, false
	case h == r.token:
		return "the logged-in token", nil, true
	case pk != nil && strings.HasPrefix(h, paseto.Header):
		claims, err := paseto.VerifyCargo(pk, h, r.indexURL(), time.Now(), 5*time.Minute)
		if err != nil {
			return "PASETO token rejected: " + err.Error(), nil, false
		}
		r.mu.Lock()
		r.auths = append(r.auths, h)
		r.mu.Unlock()
		return "a PASETO token signed by " + pk.ID(), claims, true
	}
	return "a wrong token", nil, false
}

// call makes one request to the registry with auth as its Authorization
// header, as a replaying attacker would, and returns the status and body.
func (r *cargoRegistry) call(t *testing.T, method, path, auth string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// decodeUpload decodes cargo's upload (u32le length, JSON, u32le length,
// .crate) into the index entry, with the .crate's SHA-256 as cksum.
func decodeUpload(data []byte) (indexEntry, error) {
	next := func() ([]byte, error) {
		if len(data) < 4 {
			return nil, fmt.Errorf("truncated upload")
		}
		n := binary.LittleEndian.Uint32(data)
		if uint64(len(data)-4) < uint64(n) {
			return nil, fmt.Errorf("truncated upload")
		}
		part := data[4 : 4+n]
		data = data[4+n:]
		return part, nil
	}
	meta, err := next()
	if err != nil {
		return indexEntry{}, err
	}
	crate, err := next()
	if err != nil {
		return indexEntry{}, err
	}
	if len(data) != 0 {
		return indexEntry{}, fmt.Errorf("%d bytes after the .crate", len(data))
	}
	var m struct{ Name, Vers string }
	if err := json.Unmarshal(meta, &m); err != nil || m.Name == "" || m.Vers == "" {
		return indexEntry{}, fmt.Errorf("bad metadata: %v", err)
	}
	sum := sha256.Sum256(crate)
	return indexEntry{Name: m.Name, Vers: m.Vers, Deps: []any{}, Cksum: hex.EncodeToString(sum[:]), Features: map[string]any{}, crate: crate}, nil
}

// add adds e to the index, unless that version is already there.
func (r *cargoRegistry) add(e indexEntry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, old := range r.index[e.Name] {
		if old.Vers == e.Vers {
			return fmt.Errorf("%s %s is already published", e.Name, e.Vers)
		}
	}
	if len(r.index[e.Name]) == 0 {
		r.owners[e.Name] = []string{"e2e"}
	}
	r.index[e.Name] = append(r.index[e.Name], e)
	return nil
}

func (r *cargoRegistry) setYanked(name, vers string, yanked bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range r.index[name] {
		if e.Vers == vers {
			r.index[name][i].Yanked = yanked
			return true
		}
	}
	return false
}

// serveOwners lists (GET), adds (PUT) or removes (DELETE) a crate's owners,
// as crates.io's web API does.
func (r *cargoRegistry) serveOwners(w http.ResponseWriter, req *http.Request, name, auth string) {
	p := req.URL.Path
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.index[name]; !ok {
		r.log = append(r.log, fmt.Sprintf("%s %s: 404", req.Method, p))
		apiError(w, http.StatusNotFound, "no such crate")
		return
	}
	if req.Method == http.MethodGet {
		var users []map[string]any
		for i, login := range r.owners[name] {
			users = append(users, map[string]any{"id": i + 1, "login": login, "name": nil})
		}
		json.NewEncoder(w).Encode(map[string]any{"users": users})
		r.log = append(r.log, fmt.Sprintf("GET %s: 200, listed %d owners of %s, with %s", p, len(users), name, auth))
		return
	}
	var body struct{ Users []string }
	if err := json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&body); err != nil || len(body.Users) == 0 {
		apiError(w, http.StatusBadRequest, "want {\"users\":[...]}")
		return
	}
	switch req.Method {
	case http.MethodPut:
		r.owners[name] = append(r.owners[name], body.Users...)
	case http.MethodDelete:
		r.owners[name] = slices.DeleteFunc(r.owners[name], func(u string) bool { return slices.Contains(body.Users, u) })
	default:
		apiError(w, http.StatusMethodNotAllowed, "no such method")
		return
	}
	r.log = append(r.log, fmt.Sprintf("%s %s: 200, owners of %s now %q, with %s", req.Method, p, name, r.owners[name], auth))
	fmt.Fprintf(w, `{"ok":true,"msg":"owners of %s changed"}`, name)
}

// cargoProject is a throwaway CARGO_HOME whose registry "fake" has vigil as
// its credential provider, and a crate to publish to it.
type cargoProject struct {
	t         *testing.T
	cargo     string
	home      string // HOME for cargo and the provider it runs
	cargoHome string
	dir       string // the crate
	target    string
	runtime   string   // XDG_RUNTIME_DIR: empty, so no default vigil socket is found
	env       []string // more environment for cargo
}

func newCargoProject(t *testing.T, cargoBin, vigil string, reg *cargoRegistry) *cargoProject {
	t.Helper()
	tmp := t.TempDir()
	p := &cargoProject{t: t, cargo: cargoBin, home: filepath.Join(tmp, "home"), cargoHome: filepath.Join(tmp, "cargo-home"),
		dir: filepath.Join(tmp, "foo"), target: filepath.Join(tmp, "target"), runtime: filepath.Join(tmp, "run")}
	for _, d := range []string{p.home, p.cargoHome, filepath.Join(p.dir, "src"), p.runtime} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// As the README says: cargo runs "vigil --cargo-plugin".
	config := fmt.Sprintf("[registries.fake]\nindex = %q\ncredential-provider = [%q]\n", reg.indexURL(), vigil)
	if err := os.WriteFile(filepath.Join(p.cargoHome, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "src", "lib.rs"), []byte("pub fn answer() -> u32 { 42 }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.setVersion("0.2.0")
	return p
}

func (p *cargoProject) setVersion(vers string) {
	manifest := fmt.Sprintf(`[package]
name = "foo"
version = %q
edition = "2021"
description = "a crate published by vigil's e2e tests"
license = "MIT"
`, vers)
	if err := os.WriteFile(filepath.Join(p.dir, "Cargo.toml"), []byte(manifest), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// rustupHome is where rustup keeps its toolchains, for a cargo that is
// rustup's proxy and runs with a HOME of its own; "" when there is none.
func rustupHome() string {
	if h := os.Getenv("RUSTUP_HOME"); h != "" {
		return h
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	if fi, err := os.Stat(filepath.Join(home, ".rustup")); err == nil && fi.IsDir() {
		return filepath.Join(home, ".rustup")
	}
	return ""
}

// run runs cargo with stdin in the crate's directory, against the agent at sock.
func (p *cargoProject) run(sock, stdin string, args ...string) result {
	p.t.Helper()
	return p.runIn(p.dir, sock, stdin, args...)
}

// runIn is run in another directory.
func (p *cargoProject) runIn(dir, sock, stdin string, args ...string) result {
	p.t.Helper()
	cmd := exec.Command(p.cargo, args...)
	cmd.Dir = dir
	cmd.Env = cmdEnv(p.home, sock,
		"CARGO_HOME="+p.cargoHome,
		"CARGO_TARGET_DIR="+p.target,
		"CARGO_TERM_COLOR=never",
		"XDG_RUNTIME_DIR="+p.runtime,
		"XDG_CONFIG_HOME="+filepath.Join(p.home, ".config"),
		"NO_PROXY=*",
	)
	if h := rustupHome(); h != "" {
		cmd.Env = append(cmd.Env, "RUSTUP_HOME="+h)
	}
	if tc := os.Getenv("RUSTUP_TOOLCHAIN"); tc != "" {
		cmd.Env = append(cmd.Env, "RUSTUP_TOOLCHAIN="+tc)
	}
	cmd.Env = append(cmd.Env, p.env...)
	cmd.Stdin = strings.NewReader(stdin)
	return runCmd(p.t, 3*time.Minute, cmd)
}

// filesHolding returns the files under dir whose content holds s.
func filesHolding(t *testing.T, dir, s string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(s)) {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestCargoPublish: real cargo logs in to a registry served by the test with
// vigil as its credential provider, publishes a crate once the person
// approved it (the prompt shows the crate, version and checksum), fails to
// publish when the person says no (nothing reaches the registry), yanks,
// and logs out. The token is never written in clear: not under CARGO_HOME,
// not under vigil's home, not in vigil's log or audit trail.
func TestCargoPublish(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent has no credential broker")
		return
	}
	bin, cargoBin, vigilHome, cli := cargoRig(t)
	ap := newApprover(t, "approve")
	a, err := launchVigilHome(t, bin, filepath.Join(shortTempDir(t), "agent.sock"), vigilHome, ap)
	if err != nil {
		t.Fatal(err)
	}
	must(t, cli.run("unlock", "--socket", a.sock))
	reg := newCargoRegistry(t, cargoToken)
	proj := newCargoProject(t, cargoBin, bin, reg)
	publish := []string{"publish", "--registry", "fake", "--no-verify", "--allow-dirty"}

	// Login: the token on cargo's stdin, stored by the agent, nobody asked.
	must(t, proj.run(a.sock, cargoToken+"\n", "login", "--registry", "fake"))
	ap.expectPrompts(t, 0)

	// Approved: cargo first asks for a read token (to check it can get one
	// before it builds), then for the publish token.
	res := must(t, proj.run(a.sock, "", publish...))
	if !strings.Contains(res.stderr, "Published foo v0.2.0 at registry `fake`") {
		t.Errorf("cargo did not say it published:\n%s", res.stderr)
	}
	e, ok := reg.version("foo", "0.2.0")
	if !ok {
		t.Fatalf("foo 0.2.0 not in the registry; cargo said:\n%s", res.stderr)
	}
	prompts := ap.expectPrompts(t, 2)
	checkPrompt(t, prompts[0], "Allow cargo to read registry fake (its index and downloads)?\n",
		"registry: fake, index "+reg.indexURL(), "via:      "+bin,
		"yes also lets this program read this registry for 10 minutes without asking again")
	checkPrompt(t, prompts[1],
		"Allow cargo to publish foo 0.2.0 (sha256 "+e.Cksum[:12]+"…) to registry fake?\n",
		"  crate:    foo 0.2.0\n",
		"  sha256:   "+e.Cksum+"\n",
		"  registry: fake, index "+reg.indexURL()+"\n",
		"/cargo (pid ",
		"  via:      "+bin+" (pid ",
		"  path:     local\n")
	if !strings.HasPrefix(prompts[1].Text, "Allow cargo to publish") {
		t.Errorf("the title is not the first line:\n%s", prompts[1].Text)
	}
	t.Logf("an approved publish; the person read:\n%s", prompts[1].Text)
	t.Logf("the registry's log:\n%s", strings.Join(reg.takeLog(), "\n"))

	// Denied: the read is covered by the grant the first yes made; the
	// publish is asked, refused, and never reaches the registry.
	proj.setVersion("0.3.0")
	ap.set(t, "deny")
	reg.takeLog()
	res = mustFail(t, proj.run(a.sock, "", publish...))
	prompts = ap.expectPrompts(t, 3)
	checkPrompt(t, prompts[2], "Allow cargo to publish foo 0.3.0 (sha256 ")
	t.Logf("the read prompt of the first publish:\n%s", prompts[0].Text)
	for _, want := range []string{"vigil did not allow cargo to publish foo 0.3.0", "approver said no"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("cargo's error does not say %q:\n%s", want, res.stderr)
		}
	}
	if _, ok := reg.version("foo", "0.3.0"); ok {
		t.Error("a denied publish reached the registry")
	}
	if l := reg.takeLog(); len(l) != 0 {
		t.Errorf("the registry saw API calls for a denied publish: %q", l)
	}
	t.Logf("a denied publish; cargo said:\n%s", res.stderr)

	// Yank: asked again, approved.
	ap.set(t, "approve")
	must(t, proj.run(a.sock, "", "yank", "foo@0.2.0", "--registry", "fake"))
	prompts = ap.expectPrompts(t, 4)
	checkPrompt(t, prompts[3], "Allow cargo to yank foo 0.2.0 at registry fake?\n")
	if e, _ := reg.version("foo", "0.2.0"); !e.Yanked {
		t.Error("foo 0.2.0 not yanked")
	}

	// The read grant is listed with the signing grants, and revoked there.
	if out := must(t, cli.run("grants", "--socket", a.sock)).stdout; !strings.Contains(out, "cargo-read-1 ") ||
		!strings.Contains(out, "registry "+reg.indexURL()) || !strings.Contains(out, "/cargo ") {
		t.Errorf("vigil grants does not list cargo's read grant:\n%s", out)
	}
	if out := must(t, cli.run("grants", "--socket", a.sock, "revoke", "cargo-read-1")).stdout; out != "revoked 1 grant\n" {
		t.Errorf("vigil grants revoke cargo-read-1 printed %q", out)
	}
	if out := must(t, cli.run("grants", "--socket", a.sock)).stdout; out != "no live grants\n" {
		t.Errorf("vigil grants after the revoke:\n%s", out)
	}

	// Another program running the provider itself is not cargo: the read
	// grant cargo got does not cover it, and the prompt names it.
	ap.set(t, "deny")
	plugin := exec.Command(bin, "--cargo-plugin")
	plugin.Env = cmdEnv(proj.home, a.sock)
	plugin.Stdin = strings.NewReader(fmt.Sprintf(`{"v":1,"registry":{"index-url":%q,"name":"fake"},"kind":"get","operation":"read"}`+"\n", reg.indexURL()))
	res = must(t, runCmd(t, time.Minute, plugin))
	if !strings.HasPrefix(res.stdout, `{"v":[1]}`+"\n"+`{"Err":{"kind":"other","message":"vigil did not allow e2e.test to read registry fake`) ||
		strings.Contains(res.stdout, cargoToken) {
		t.Errorf("vigil --cargo-plugin run by the test answered:\n%s", res.stdout)
	}
	prompts = ap.expectPrompts(t, 5)
	self, _ := os.Executable()
	checkPrompt(t, prompts[4], "Allow e2e.test to read registry fake", "  program:  "+self+" (pid ")
	ap.set(t, "approve")

	// Logout: the agent forgets the token; the next publish finds none, and
	// nobody is asked.
	must(t, proj.run(a.sock, "", "logout", "--registry", "fake"))
	proj.setVersion("0.4.0")
	res = mustFail(t, proj.run(a.sock, "", publish...))
	if !strings.Contains(res.stderr, "no token found for `fake`") {
		t.Errorf("publish after logout:\n%s", res.stderr)
	}
	ap.expectPrompts(t, 5)

	// No agent: cargo says so, and nothing else is tried.
	dead := filepath.Join(shortTempDir(t), "agent.sock")
	res = mustFail(t, proj.run(dead, "", "yank", "foo@0.2.0", "--registry", "fake"))
	if !strings.Contains(res.stderr, "vigil agent not running at "+dead) {
		t.Errorf("cargo with no agent:\n%s", res.stderr)
	}

	// Every decision is in the audit trail, and no token anywhere.
	cmd := exec.Command(bin, "audit", "--json")
	cmd.Env = vigilEnvHome(vigilHome)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vigil audit --json: %v", err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var rec struct {
			Kind, Decision string
			Intent         struct{ Purpose, Resource string }
			By             struct{ Grant string }
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if rec.Kind != "credential" {
			continue
		}
		s := rec.Intent.Purpose + " " + rec.Decision
		if rec.By.Grant != "" {
			s += " (grant)"
		}
		got = append(got, s)
	}
	want := []string{
		"cargo-login allowed",
		"cargo-read allowed (grant)", // approved, and made the grant
		"cargo-publish allowed",
		"cargo-read allowed (grant)", // under the grant
		"cargo-publish denied",
		"cargo-yank allowed",
		"cargo-read denied", // the test itself, not cargo
		"cargo-logout allowed",
		"cargo-read failed", // no token after logout
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("credential records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if bytes.Contains(out, []byte(cargoToken)) {
		t.Error("the audit trail holds the token")
	}
	if strings.Contains(a.p.stderr.String(), cargoToken) {
		t.Errorf("vigil's log holds the token:\n%s", a.p.stderr.String())
	}
	for _, dir := range []string{vigilHome, proj.cargoHome, proj.home} {
		if f := filesHolding(t, dir, cargoToken); len(f) > 0 {
			t.Errorf("the token is written in clear in %q", f)
		}
	}
}
