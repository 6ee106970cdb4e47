package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/credential/paseto"
)

// reloadRules writes rules as vigil's config file at path and, if a is
// running, makes it re-read them (SIGHUP) and waits until its log says so.
func reloadRules(t *testing.T, a *agentProc, path, rules string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	if a == nil {
		return
	}
	before := strings.Count(a.p.stderr.String(), "config reloaded")
	if err := a.p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll(t, 20*time.Second, "vigil to reload its rules", func() (bool, string) {
		log := a.p.stderr.String()
		return strings.Count(log, "config reloaded") > before, log
	})
}

// credentialRecords returns vigil's audit records of kind credential, as
// "PURPOSE DECISION", with " rule N" when a rule decided.
func credentialRecords(t *testing.T, bin, home string) []string {
	t.Helper()
	cmd := exec.Command(bin, "audit", "--json")
	cmd.Env = vigilEnvHome(home)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vigil audit --json: %v", err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var rec struct {
			Kind, Decision string
			Intent         struct{ Purpose string }
			By             struct{ Rule string }
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if rec.Kind != "credential" {
			continue
		}
		s := rec.Intent.Purpose + " " + rec.Decision
		if rec.By.Rule != "" {
			s += " rule " + rec.By.Rule
		}
		got = append(got, s)
	}
	return got
}

// newDependentCrate makes a crate bar that depends on foo vers from the
// registry fake, and returns its directory.
func newDependentCrate(t *testing.T, vers string) string {
	t.Helper()
	bar := filepath.Join(t.TempDir(), "bar")
	if err := os.MkdirAll(filepath.Join(bar, "src"), 0o700); err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf("[package]\nname = \"bar\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nfoo = { version = %q, registry = \"fake\" }\n", vers)
	if err := os.WriteFile(filepath.Join(bar, "Cargo.toml"), []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bar, "src", "lib.rs"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return bar
}

// TestCargoAuthRequired: a registry whose config.json says auth-required,
// so that cargo sends the token (cargo's read operation) for its index and
// downloads. Rules decide first: with cargo-read and cargo-publish allowed
// for the registry, a publish asks nobody. With no rule, a read asks,
// naming the registry; a no fails the build, and the registry sees no
// token; a yes lets cargo fetch the index and the .crate with it. A rule
// denying cargo-read refuses without asking, and cargo says which rule.
func TestCargoAuthRequired(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent has no credential broker")
		return
	}
	bin, cargoBin, vigilHome, cli := cargoRig(t)
	reg := newCargoRegistry(t, cargoToken)
	cfg := filepath.Join(t.TempDir(), "config.toml")
	reloadRules(t, nil, cfg, fmt.Sprintf(`
[[rule]]
action = "deny" # signatures only: no credential rule, so it matches no token request

[[rule]]
purpose = "cargo-read"
registry = %q
action = "allow"

[[rule]]
purpose = "cargo-publish"
host = "127.0.0.1:*"
action = "allow"
`, reg.indexURL()))
	ap := newApprover(t, "approve")
	a, err := launchVigilHome(t, bin, filepath.Join(shortTempDir(t), "agent.sock"), vigilHome, ap, "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	must(t, cli.run("unlock", "--socket", a.sock))
	proj := newCargoProject(t, cargoBin, bin, reg)
	must(t, proj.run(a.sock, cargoToken+"\n", "login", "--registry", "fake"))

	// Publish, allowed by rules 2 and 3: nobody is asked.
	must(t, proj.run(a.sock, "", "publish", "--registry", "fake", "--no-verify", "--allow-dirty"))
	if _, ok := reg.version("foo", "0.2.0"); !ok {
		t.Fatal("foo 0.2.0 not published")
	}
	ap.expectPrompts(t, 0)

	// A crate that depends on foo, from now on behind auth.
	bar := newDependentCrate(t, "0.2")
	reg.requireAuth(true)
	reloadRules(t, a, cfg, "")
	reg.takeLog()

	// No rule, and the person says no: the build fails, saying why.
	ap.set(t, "deny")
	res := mustFail(t, proj.runIn(bar, a.sock, "", "generate-lockfile"))
	prompts := ap.expectPrompts(t, 1)
	checkPrompt(t, prompts[0], "Allow cargo to read registry fake (its index and downloads)?\n",
		"  registry: fake, index "+reg.indexURL()+"\n", "/cargo (pid ", "  via:      "+bin+" (pid ")
	if !strings.Contains(res.stderr, "vigil did not allow cargo to read registry fake") {
		t.Errorf("cargo's error does not say vigil refused:\n%s", res.stderr)
	}
	for _, l := range reg.takeLog() {
		if !strings.Contains(l, ": 401, no token") {
			t.Errorf("the registry saw a token after a denied read: %s", l)
		}
	}
	t.Logf("a denied read; cargo said:\n%s", res.stderr)

	// A yes: cargo reads the index and downloads foo with the token.
	ap.set(t, "approve")
	must(t, proj.runIn(bar, a.sock, "", "fetch"))
	prompts = ap.expectPrompts(t, 2)
	checkPrompt(t, prompts[1], "Allow cargo to read registry fake (its index and downloads)?\n")
	log := reg.takeLog()
	for _, want := range []string{"GET /index/config.json: with the logged-in token", "GET /index/3/f/foo: with the logged-in token",
		"GET /dl/foo/0.2.0: with the logged-in token"} {
		if !slices.Contains(log, want) {
			t.Errorf("the registry's log has no %q:\n%s", want, strings.Join(log, "\n"))
		}
	}
	t.Logf("an approved read; the person read:\n%s\nthe registry's log:\n%s", prompts[1].Text, strings.Join(log, "\n"))

	// A rule denying reads from this host: refused unasked, even though
	// the yes above made a read grant.
	reloadRules(t, a, cfg, "[[rule]]\npurpose = \"cargo-read\"\nhost = \"127.0.0.1:*\"\naction = \"deny\"\n")
	if err := os.Remove(filepath.Join(bar, "Cargo.lock")); err != nil {
		t.Fatal(err)
	}
	res = mustFail(t, proj.runIn(bar, a.sock, "", "generate-lockfile"))
	ap.expectPrompts(t, 2)
	for _, want := range []string{"vigil did not allow cargo to read registry fake", "rule 1 of vigil's configuration denies it"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("cargo's error does not say %q:\n%s", want, res.stderr)
		}
	}
	t.Logf("a read a rule denies; cargo said:\n%s", res.stderr)

	got := credentialRecords(t, bin, vigilHome)
	want := []string{
		"cargo-login allowed",
		"cargo-read allowed rule 2",
		"cargo-publish allowed rule 3",
		"cargo-read denied", // the person
		"cargo-read allowed",
		"cargo-read denied rule 1",
	}
	// A fetch may ask for a read token more than once; the grant covers
	// all but the first.
	got = slices.Compact(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("credential records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, dir := range []string{vigilHome, proj.cargoHome, proj.home} {
		if f := filesHolding(t, dir, cargoToken); len(f) > 0 {
			t.Errorf("the token is written in clear in %q", f)
		}
	}
}

// TestCargoOwnersUnyank: cargo owner --add, --list and --remove, and cargo
// yank --undo, through vigil against the test registry, with a plain token
// and with a PASETO key. Each asks, naming the operation and the crate (and
// the version for an un-yank); a yes reaches the registry, a no reaches
// nothing. The registry checks each PASETO token's claims against the call
// (mutation, name, vers): a token replayed for another call is refused.
func TestCargoOwnersUnyank(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent has no credential broker")
		return
	}
	for _, cred := range []string{"token", "paseto"} {
		t.Run(cred, func(t *testing.T) {
			t.Parallel()
			testCargoOwnersUnyank(t, cred == "paseto")
		})
	}
}

func testCargoOwnersUnyank(t *testing.T, withPaseto bool) {
	bin, cargoBin, vigilHome, cli := cargoRig(t)
	ap := newApprover(t, "approve")
	a, err := launchVigilHome(t, bin, filepath.Join(shortTempDir(t), "agent.sock"), vigilHome, ap)
	if err != nil {
		t.Fatal(err)
	}
	must(t, cli.run("unlock", "--socket", a.sock))
	reg := newCargoRegistry(t, cargoToken)
	if err := reg.add(indexEntry{Name: "foo", Vers: "0.2.0", Deps: []any{}, Features: map[string]any{}, Yanked: true,
		Cksum: strings.Repeat("ab", 32)}); err != nil {
		t.Fatal(err)
	}
	proj := newCargoProject(t, cargoBin, bin, reg)
	want := []string{"cargo-owners allowed", "cargo-owners allowed", "cargo-owners denied", "cargo-unyank denied", "cargo-unyank allowed"}
	if withPaseto {
		res := must(t, cli.runIn(proj.dir, []string{"CARGO_HOME=" + proj.cargoHome}, "cargo", "keygen", "--registry", "fake", "--socket", a.sock))
		pk, err := paseto.ParsePublicKey(strings.TrimSpace(res.stdout))
		if err != nil {
			t.Fatal(err)
		}
		reg.setPublicKey(pk)
		want = append([]string{"cargo-keygen allowed"}, want...)
	} else {
		must(t, proj.run(a.sock, cargoToken+"\n", "login", "--registry", "fake"))
		want = append([]string{"cargo-login allowed"}, want...)
	}
	owners := func() []string {
		reg.mu.Lock()
		defer reg.mu.Unlock()
		return slices.Clone(reg.owners["foo"])
	}
	const ownersTitle = "Allow cargo to list or change the owners of foo at registry fake?\n"
	const unyankTitle = "Allow cargo to un-yank foo 0.2.0 at registry fake?\n"
	ownersClaims := paseto.Claims{Mutation: "owners", Name: "foo"}
	unyankClaims := paseto.Claims{Mutation: "unyank", Name: "foo", Vers: "0.2.0"}
	var captured []string // the PASETO tokens the registry accepted
	steps := []struct {
		name, answer string
		args         []string
		title        string
		claims       paseto.Claims           // of the PASETO token, if one is sent
		check        func(res result) string // "" when the registry is as it should be
	}{
		{"add an owner", "approve", []string{"owner", "--add", "bob", "foo"}, ownersTitle, ownersClaims, func(result) string {
			if o := owners(); !slices.Equal(o, []string{"e2e", "bob"}) {
				return fmt.Sprintf("owners %q, want e2e and bob", o)
			}
			return ""
		}},
		{"list the owners", "approve", []string{"owner", "--list", "foo"}, ownersTitle, ownersClaims, func(res result) string {
			if !strings.Contains(res.stdout, "e2e") || !strings.Contains(res.stdout, "bob") {
				return "cargo owner --list printed:\n" + res.stdout
			}
			return ""
		}},
		{"remove an owner, denied", "deny", []string{"owner", "--remove", "bob", "foo"}, ownersTitle, ownersClaims, func(result) string {
			if o := owners(); !slices.Equal(o, []string{"e2e", "bob"}) {
				return fmt.Sprintf("owners %q after a denied remove", o)
			}
			return ""
		}},
		{"un-yank, denied", "deny", []string{"yank", "--undo", "foo@0.2.0"}, unyankTitle, unyankClaims, func(result) string {
			if e, _ := reg.version("foo", "0.2.0"); !e.Yanked {
				return "foo 0.2.0 un-yanked after a denial"
			}
			return ""
		}},
		{"un-yank", "approve", []string{"yank", "--undo", "foo@0.2.0"}, unyankTitle, unyankClaims, func(result) string {
			if e, _ := reg.version("foo", "0.2.0"); e.Yanked {
				return "foo 0.2.0 still yanked"
			}
			return ""
		}},
	}
	for i, st := range steps {
		ap.set(t, st.answer)
		reg.takeLog()
		args := append(st.args, "--registry", "fake")
		var res result
		if st.answer == "approve" {
			res = must(t, proj.run(a.sock, "", args...))
		} else {
			res = mustFail(t, proj.run(a.sock, "", args...))
			if !strings.Contains(res.stderr, "vigil did not allow cargo to") {
				t.Errorf("%s: cargo's error does not say vigil refused:\n%s", st.name, res.stderr)
			}
		}
		p := ap.expectPrompts(t, i+1)[i]
		checkPrompt(t, p, st.title, "  registry: fake, index "+reg.indexURL()+"\n", "/cargo (pid ")
		if st.title == unyankTitle {
			checkPrompt(t, p, "  crate:    foo 0.2.0\n")
		} else {
			checkPrompt(t, p, "  crate:    foo\n")
		}
		if why := st.check(res); why != "" {
			t.Errorf("%s: %s", st.name, why)
		}
		log := reg.takeLog()
		if st.answer == "deny" && len(log) != 0 {
			t.Errorf("%s: the registry saw API calls: %q", st.name, log)
		}
		auths := reg.takeAuths()
		if withPaseto && st.answer == "approve" {
			// Signed for this call, and checked by the registry.
			if len(log) != 1 || !strings.Contains(log[0], ": 200, ") || !strings.Contains(log[0], "with a PASETO token signed by") {
				t.Errorf("%s: the registry's log: %q", st.name, log)
			}
			if len(auths) != 1 {
				t.Fatalf("%s: %d PASETO-authorised calls, want 1", st.name, len(auths))
			}
			claims, err := paseto.VerifyCargo(reg.pk, auths[0], reg.indexURL(), time.Now(), 5*time.Minute)
			if err != nil || claims.Mutation != st.claims.Mutation || claims.Name != st.claims.Name || claims.Vers != st.claims.Vers || claims.Cksum != "" {
				t.Errorf("%s: token claims %+v, %v; want %+v", st.name, claims, err, st.claims)
			}
			captured = append(captured, auths[0])
		}
		t.Logf("%s (%s); the person read:\n%s\nthe registry's log: %q", st.name, st.answer, p.Text, log)
	}
	got := credentialRecords(t, bin, vigilHome)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("credential records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !withPaseto {
		return
	}
	// Replayed for other calls, the tokens are refused: the owners token
	// for an un-yank or for another crate's owners, the un-yank token for
	// a yank or another version.
	ownersTok, unyankTok := captured[0], captured[len(captured)-1]
	for _, rp := range []struct{ token, method, path, why string }{
		{ownersTok, http.MethodPut, "/api/v1/crates/foo/0.2.0/unyank", `token is for \"owners\", not \"unyank\"`},
		{ownersTok, http.MethodGet, "/api/v1/crates/bar/owners", "another crate"},
		{unyankTok, http.MethodDelete, "/api/v1/crates/foo/0.2.0/yank", `token is for \"unyank\", not \"yank\"`},
		{unyankTok, http.MethodPut, "/api/v1/crates/foo/0.1.0/unyank", "another version"},
	} {
		code, body := reg.call(t, rp.method, rp.path, rp.token, nil)
		if code != http.StatusForbidden || !strings.Contains(body, rp.why) {
			t.Errorf("a token replayed for %s %s: %d %s; want 403 saying %q", rp.method, rp.path, code, body, rp.why)
		}
	}
	t.Logf("replays, in the registry's log:\n%s", strings.Join(reg.takeLog(), "\n"))
}

// cargoExecutable is the cargo binary itself, not rustup's proxy (which
// runs it as a child): the program vigil sees asking.
func cargoExecutable(t *testing.T) string {
	t.Helper()
	rustc := needTool(t, "rustc", "rustc")
	cmd := exec.Command(rustc, "--print", "sysroot")
	if h := rustupHome(); h != "" {
		cmd.Env = append(os.Environ(), "RUSTUP_HOME="+h)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rustc --print sysroot: %v", err)
	}
	return needTool(t, filepath.Join(strings.TrimSpace(string(out)), "bin", "cargo"), "cargo")
}

// TestCargoRulePinned: a rule allowing cargo-publish for one cargo binary
// pins that binary's content at its first use, in the pins signature rules
// use (vigil pins lists it). The same path with other content (a replaced
// cargo) no longer passes silently: the publish asks, and the prompt says
// the program changed since the rule first allowed it; once approved, the
// new content is pinned and the rule applies again.
func TestCargoRulePinned(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent has no credential broker")
		return
	}
	bin := needVigil(t)
	orig, err := os.ReadFile(cargoExecutable(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := shortTempDir(t)
	cargoCopy := filepath.Join(dir, "cargo")
	if err := os.WriteFile(cargoCopy, orig, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.toml")
	// Rule 2: cargo publish reads the index while it waits for the new
	// version; reads are not what this test is about.
	reloadRules(t, nil, cfg, fmt.Sprintf(`
[[rule]]
purpose = "cargo-publish"
exe = %q
action = "allow"

[[rule]]
purpose = "cargo-read"
action = "allow"
`, cargoCopy))
	vigilHome := t.TempDir()
	cli := newCargoStore(t, bin, vigilHome, "", "correct horse battery")
	ap := newApprover(t, "approve")
	a, err := launchVigilHome(t, bin, filepath.Join(dir, "agent.sock"), vigilHome, ap, "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	must(t, cli.run("unlock", "--socket", a.sock))
	reg := newCargoRegistry(t, cargoToken)
	proj := newCargoProject(t, cargoCopy, bin, reg)
	must(t, proj.run(a.sock, cargoToken+"\n", "login", "--registry", "fake"))
	publish := func(vers string) {
		t.Helper()
		proj.setVersion(vers)
		res := must(t, proj.run(a.sock, "", "publish", "--registry", "fake", "--no-verify", "--allow-dirty"))
		if _, ok := reg.version("foo", vers); !ok {
			t.Fatalf("foo %s not published; cargo said:\n%s", vers, res.stderr)
		}
	}

	publish("0.1.0")
	ap.expectPrompts(t, 0)
	if out := must(t, cli.run("pins", "--socket", a.sock)).stdout; !strings.Contains(out, cargoCopy) {
		t.Errorf("vigil pins does not list %s:\n%s", cargoCopy, out)
	}

	// Replaced: other content at the same path.
	if err := os.WriteFile(cargoCopy+".new", append(orig, "\x00changed"...), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(cargoCopy+".new", cargoCopy); err != nil {
		t.Fatal(err)
	}
	publish("0.2.0")
	p := ap.expectPrompts(t, 1)
	checkPrompt(t, p[0], "Allow cargo to publish foo 0.2.0", "NOTE:     "+cargoCopy+" changed since rule 1 first allowed it")
	t.Logf("the prompt for the replaced cargo:\n%s", p[0].Text)

	// Approved, so pinned again: the rule applies without asking.
	publish("0.3.0")
	ap.expectPrompts(t, 1)
	got := slices.DeleteFunc(credentialRecords(t, bin, vigilHome), func(s string) bool { return !strings.HasPrefix(s, "cargo-publish ") })
	if !slices.Equal(got, []string{"cargo-publish allowed rule 1", "cargo-publish allowed rule 1", "cargo-publish allowed rule 1"}) {
		t.Errorf("publish records: %q", got)
	}
}
