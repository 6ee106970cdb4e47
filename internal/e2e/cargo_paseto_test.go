package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/credential/paseto"
)

// uploadBody frames a publish upload as cargo does: u32le length, JSON
// metadata, u32le length, the .crate.
func uploadBody(meta string, crate []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(meta)))
	b.WriteString(meta)
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(crate)))
	b.Write(crate)
	return b.Bytes()
}

// TestCargoPaseto: asymmetric tokens. vigil cargo keygen --registry fake
// (found in cargo's config) creates the registry's P-384 key inside the
// agent and prints its k3.public key, which is registered with the test
// registry. With no plain token stored, cargo
// publish, once approved, sends a v3.public token the agent signed for that
// publish; the registry verifies its signature, footer and claims. The
// captured token, replayed for another version (or another .crate), is
// rejected. Behind auth-required, reads get read tokens the registry
// verifies, and a mutation token is refused for a read. The secret key is in
// no file in the clear.
func TestCargoPaseto(t *testing.T) {
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
	reg := newCargoRegistry(t, cargoToken)
	proj := newCargoProject(t, cargoBin, bin, reg)
	proj.setVersion("0.1.0")
	// vigil cargo finds the registry by its name in cargo's config, as
	// cargo does: run in the crate, with cargo's CARGO_HOME.
	keyCmd := func(op string, args ...string) result {
		return cli.runIn(proj.dir, []string{"CARGO_HOME=" + proj.cargoHome}, append([]string{"cargo", op, "--registry", "fake", "--socket", a.sock}, args...)...)
	}

	// Locked: no key can be made.
	res := mustFail(t, keyCmd("keygen"))
	if !strings.Contains(res.stderr, "vigil unlock") {
		t.Errorf("vigil cargo keygen while locked:\n%s", res.stderr)
	}
	must(t, cli.run("unlock", "--socket", a.sock))

	// keygen prints the public key; public-key prints it again; a second
	// keygen replaces nothing. The key's tokens carry the subject given.
	const subject = "org:acme/ci-bot"
	res = must(t, keyCmd("keygen", "--subject", subject))
	pub := strings.TrimSpace(res.stdout)
	pk, err := paseto.ParsePublicKey(pub)
	if err != nil {
		t.Fatalf("vigil cargo keygen printed %q: %v", res.stdout, err)
	}
	if got := strings.TrimSpace(must(t, keyCmd("public-key")).stdout); got != pub {
		t.Errorf("vigil cargo public-key printed %q, keygen %q", got, pub)
	}
	res = mustFail(t, keyCmd("keygen"))
	if !strings.Contains(res.stderr, "already has a key") {
		t.Errorf("a second keygen:\n%s", res.stderr)
	}
	if got := strings.TrimSpace(must(t, keyCmd("public-key")).stdout); got != pub {
		t.Errorf("the key changed after a second keygen: %q, was %q", got, pub)
	}
	reg.setPublicKey(pk)
	t.Logf("registered public key %s (%s)", pub, pk.ID())

	// An approved publish, with a token signed by the agent for it.
	publish := []string{"publish", "--registry", "fake", "--no-verify", "--allow-dirty"}
	res = must(t, proj.run(a.sock, "", publish...))
	e, ok := reg.version("foo", "0.1.0")
	if !ok {
		t.Fatalf("foo 0.1.0 not in the registry; cargo said:\n%s", res.stderr)
	}
	prompts := ap.expectPrompts(t, 2)
	checkPrompt(t, prompts[1], "Allow cargo to publish foo 0.1.0 (sha256 "+e.Cksum[:12]+"…) to registry fake?\n")
	l := reg.takeLog()
	if len(l) != 1 || !strings.Contains(l[0], "published foo 0.1.0") || !strings.Contains(l[0], "with a PASETO token signed by "+pk.ID()) {
		t.Errorf("registry log: %q", l)
	}
	t.Logf("the registry's log:\n%s", strings.Join(l, "\n"))
	auths := reg.takeAuths()
	if len(auths) != 1 {
		t.Fatalf("PASETO-authorised calls: %d, want 1", len(auths))
	}
	captured := auths[0]
	claims, err := paseto.VerifyCargo(pk, captured, reg.indexURL(), time.Now(), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Mutation != "publish" || claims.Name != "foo" || claims.Vers != "0.1.0" || claims.Cksum != e.Cksum || claims.Subject != subject {
		t.Errorf("claims of the publish token: %+v", claims)
	}

	// The captured token, replayed: for 0.2.0 and for another 0.1.0 .crate,
	// the registry refuses it.
	replay := func(vers string, crate []byte) (int, string) {
		t.Helper()
		return reg.call(t, http.MethodPut, "/api/v1/crates/new", captured, uploadBody(`{"name":"foo","vers":"`+vers+`"}`, crate))
	}
	if code, body := replay("0.2.0", []byte("not the crate")); code != http.StatusForbidden || !strings.Contains(body, "another version") {
		t.Errorf("the 0.1.0 token replayed for 0.2.0: %d %s", code, body)
	} else {
		t.Logf("the 0.1.0 token replayed for 0.2.0: %d %s", code, body)
	}
	if _, ok := reg.version("foo", "0.2.0"); ok {
		t.Error("a replayed token published 0.2.0")
	}
	if code, body := replay("0.1.0", []byte("another crate")); code != http.StatusForbidden || !strings.Contains(body, "checksum") {
		t.Errorf("the 0.1.0 token replayed with another .crate: %d %s", code, body)
	}

	// 0.2.0 through cargo, approved: a new token, accepted.
	reg.takeAuths() // the replays
	proj.setVersion("0.2.0")
	must(t, proj.run(a.sock, "", publish...))
	if _, ok := reg.version("foo", "0.2.0"); !ok {
		t.Error("foo 0.2.0 not published")
	}
	if a := reg.takeAuths(); len(a) != 1 || a[0] == captured {
		t.Errorf("the 0.2.0 publish did not use a fresh token")
	}

	// Behind auth, reads too are signed: a crate depending on foo fetches
	// the index and the .crate with read tokens (no mutation claim) the
	// registry verifies; the publish token, replayed for a read, is
	// refused.
	reg.requireAuth(true)
	reg.takeLog()
	bar := newDependentCrate(t, "0.2")
	must(t, proj.runIn(bar, a.sock, "", "fetch"))
	ap.expectPrompts(t, 3) // the read grant the first publish's read prompt made
	log := reg.takeLog()
	for _, want := range []string{"GET /index/config.json: with a PASETO read token", "GET /index/3/f/foo: with a PASETO read token",
		"GET /dl/foo/0.2.0: with a PASETO read token"} {
		if !slices.Contains(log, want) {
			t.Errorf("the registry's log has no %q:\n%s", want, strings.Join(log, "\n"))
		}
	}
	reads := reg.takeAuths()
	if len(reads) == 0 {
		t.Fatal("no PASETO-authorised reads")
	}
	for _, tok := range reads {
		if c, err := paseto.VerifyCargo(pk, tok, reg.indexURL(), time.Now(), 5*time.Minute); err != nil || c.Mutation != "" || c.Name != "" || c.Vers != "" || c.Subject != subject {
			t.Errorf("read token claims %+v, %v", c, err)
		}
	}
	t.Logf("PASETO reads; the registry's log:\n%s", strings.Join(log, "\n"))
	if code, _ := reg.call(t, http.MethodGet, "/index/3/f/foo", captured, nil); code != http.StatusUnauthorized {
		t.Errorf("the publish token replayed for a read: %d, want 401", code)
	}
	if l := reg.takeLog(); len(l) != 1 || !strings.Contains(l[0], "a mutation token used for a read") {
		t.Errorf("the registry's log of a replayed publish token: %q", l)
	}

	// The secret key is in no file in the clear.
	for _, dir := range []string{vigilHome, proj.cargoHome, proj.home} {
		if f := filesHolding(t, dir, paseto.PrefixSecret); len(f) > 0 {
			t.Errorf("a k3.secret key is written in clear in %q", f)
		}
	}
	if strings.Contains(a.p.stderr.String(), paseto.PrefixSecret) {
		t.Error("vigil's log holds a secret key")
	}
}

// TestCargoRegistryName: vigil cargo keygen --registry NAME files the key
// under exactly the index-url real cargo sends for NAME, however cargo's
// config spells it and wherever it is set: cargo logout --registry NAME,
// with vigil as the provider, then finds the key and removes it. An unknown
// name is an error that says which files were read.
func TestCargoRegistryName(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent has no credential broker")
		return
	}
	bin, cargoBin, vigilHome, cli := cargoRig(t)
	a, err := launchVigilHome(t, bin, filepath.Join(shortTempDir(t), "agent.sock"), vigilHome, newApprover(t, "approve"))
	if err != nil {
		t.Fatal(err)
	}
	must(t, cli.run("unlock", "--socket", a.sock))
	reg := newCargoRegistry(t, cargoToken)
	proj := newCargoProject(t, cargoBin, bin, reg)
	// Besides CARGO_HOME's "fake": registries spelled as cargo rewrites
	// them, one in the crate's own .cargo/config.toml that hides
	// CARGO_HOME's, one given by the environment.
	home := fmt.Sprintf(`[registry]
global-credential-providers = [%q]
[registries.git-reg]
index = "HTTP://Git.Example.Invalid:80"
[registries.env-reg]
index = "sparse+https://ignored.example.invalid/index/"
[registries.near]
index = "sparse+https://far.example.invalid/index/"
`, bin)
	near := `[registries.upper]
index = "sparse+HTTP://Example.Invalid:80/index/"
[registries.near]
index = "sparse+https://near.example.invalid/index/"
`
	f, err := os.OpenFile(filepath.Join(proj.cargoHome, "config.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(home)
		f.Close()
	}
	if err == nil {
		err = os.MkdirAll(filepath.Join(proj.dir, ".cargo"), 0o700)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(proj.dir, ".cargo", "config.toml"), []byte(near), 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	proj.env = []string{"CARGO_REGISTRIES_ENV_REG_INDEX=sparse+https://Env.example.invalid/x/"}
	env := append([]string{"CARGO_HOME=" + proj.cargoHome}, proj.env...)
	vigilCargo := func(op, name string) result {
		return cli.runIn(proj.dir, env, "cargo", op, "--registry", name, "--socket", a.sock)
	}
	for _, name := range []string{"fake", "git-reg", "env-reg", "near", "upper"} {
		pub := strings.TrimSpace(must(t, vigilCargo("keygen", name)).stdout)
		if _, err := paseto.ParsePublicKey(pub); err != nil {
			t.Fatalf("vigil cargo keygen --registry %s printed %q: %v", name, pub, err)
		}
		res := must(t, proj.run(a.sock, "", "logout", "--registry", name))
		if strings.Contains(res.stderr, "not currently logged in") {
			t.Errorf("registry %s: cargo logout did not find the key vigil made:\n%s", name, res.stderr)
		}
		if res := mustFail(t, vigilCargo("public-key", name)); !strings.Contains(res.stderr, "no key") {
			t.Errorf("registry %s: vigil cargo public-key after cargo logout:\n%s", name, res.stderr)
		}
	}
	res := mustFail(t, vigilCargo("public-key", "nope"))
	for _, want := range []string{"no registry nope", "CARGO_REGISTRIES_NOPE_INDEX", filepath.Join(proj.dir, ".cargo", "config.toml"), filepath.Join(proj.cargoHome, "config.toml")} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("an unknown registry name: the error does not say %q:\n%s", want, res.stderr)
		}
	}
}

// TestCargoLoginPasetoKey: cargo login given a k3.secret key (RFC 3231's
// example), as cargo:paseto takes one, puts the key in vigil's store; an
// approved cargo publish then sends a v3.public token signed by it, which the
// registry, knowing only the matching k3.public key, verifies. The key is in
// no file in the clear; cargo logout forgets it.
func TestCargoLoginPasetoKey(t *testing.T) {
	t.Parallel()
	if os.Getenv(envAgent) == "openssh" {
		t.Log("OpenSSH's agent has no credential broker")
		return
	}
	const (
		secretKey = "k3.secret.fNYVuMvBgOlljt9TDohnaYLblghqaHoQquVZwgR6X12cBFHZLFsaU3q7X3k1Zn36"
		publicKey = "k3.public.AmDwjlyf8jAV3gm5Z7Kz9xAOcsKslt_Vwp5v-emjFzBHLCtcANzTaVEghTNEMj9PkQ"
	)
	bin, cargoBin, vigilHome, cli := cargoRig(t)
	ap := newApprover(t, "approve")
	a, err := launchVigilHome(t, bin, filepath.Join(shortTempDir(t), "agent.sock"), vigilHome, ap)
	if err != nil {
		t.Fatal(err)
	}
	must(t, cli.run("unlock", "--socket", a.sock))
	reg := newCargoRegistry(t, cargoToken)
	pk, err := paseto.ParsePublicKey(publicKey)
	if err != nil {
		t.Fatal(err)
	}
	reg.setPublicKey(pk)
	proj := newCargoProject(t, cargoBin, bin, reg)

	must(t, proj.run(a.sock, secretKey+"\n", "login", "--registry", "fake"))
	ap.expectPrompts(t, 0)
	if got := strings.TrimSpace(must(t, cli.run("cargo", "public-key", "--registry-url", reg.indexURL(), "--socket", a.sock)).stdout); got != publicKey {
		t.Errorf("vigil cargo public-key after cargo login: %q, want %q", got, publicKey)
	}
	must(t, proj.run(a.sock, "", "publish", "--registry", "fake", "--no-verify", "--allow-dirty"))
	if _, ok := reg.version("foo", "0.2.0"); !ok {
		t.Fatal("foo 0.2.0 not published")
	}
	if l := reg.takeLog(); len(l) != 1 || !strings.Contains(l[0], "with a PASETO token signed by "+pk.ID()) {
		t.Errorf("registry log: %q", l)
	}
	ap.expectPrompts(t, 2)
	for _, dir := range []string{vigilHome, proj.cargoHome, proj.home} {
		if f := filesHolding(t, dir, secretKey); len(f) > 0 {
			t.Errorf("the k3.secret key is written in clear in %q", f)
		}
	}
	must(t, proj.run(a.sock, "", "logout", "--registry", "fake"))
	if res := mustFail(t, cli.run("cargo", "public-key", "--registry-url", reg.indexURL(), "--socket", a.sock)); !strings.Contains(res.stderr, "no key") {
		t.Errorf("vigil cargo public-key after cargo logout:\n%s", res.stderr)
	}
}
