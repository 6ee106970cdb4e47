package knownhosts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// kit makes keys, certificates and known_hosts files with OpenSSH's own
// ssh-keygen in a temporary directory.
type kit struct {
	t   *testing.T
	dir string
}

func newKit(t *testing.T) *kit {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatal("ssh-keygen not installed (package openssh-client)")
	}
	return &kit{t: t, dir: t.TempDir()}
}

func (k *kit) path(name string) string { return filepath.Join(k.dir, name) }

// keygen runs ssh-keygen in the kit's directory and returns its output.
func (k *kit) keygen(args ...string) string {
	k.t.Helper()
	cmd := exec.Command("ssh-keygen", args...)
	cmd.Dir = k.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		k.t.Fatalf("ssh-keygen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// key makes a key pair name, name.pub of type typ (ed25519 if "").
func (k *kit) key(name, typ string) ssh.PublicKey {
	k.t.Helper()
	if typ == "" {
		typ = "ed25519"
	}
	k.keygen("-q", "-t", typ, "-N", "", "-C", name, "-f", name)
	return k.pub(name + ".pub")
}

// pub parses a public key or certificate file.
func (k *kit) pub(file string) ssh.PublicKey {
	k.t.Helper()
	data, err := os.ReadFile(k.path(file))
	if err != nil {
		k.t.Fatal(err)
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		k.t.Fatalf("%s: %v", file, err)
	}
	return key
}

// line is the text of a .pub file, for a known_hosts line.
func (k *kit) line(name string) string {
	k.t.Helper()
	data, err := os.ReadFile(k.path(name + ".pub"))
	if err != nil {
		k.t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// cert signs key name's public half with CA ca as certificate certName,
// with extra ssh-keygen arguments (-h, -n, -V, ...).
func (k *kit) cert(ca, name, certName string, args ...string) ssh.PublicKey {
	k.t.Helper()
	data, err := os.ReadFile(k.path(name + ".pub"))
	if err != nil {
		k.t.Fatal(err)
	}
	if err := os.WriteFile(k.path(certName+".pub"), data, 0o644); err != nil {
		k.t.Fatal(err)
	}
	k.keygen(append(append([]string{"-q", "-s", ca, "-I", certName}, args...), certName+".pub")...)
	return k.pub(certName + "-cert.pub")
}

// write writes lines to file name and returns its path.
func (k *kit) write(name string, lines ...string) string {
	k.t.Helper()
	p := k.path(name)
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		k.t.Fatal(err)
	}
	return p
}
