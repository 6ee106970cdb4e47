package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-agent/vigil/internal/sanitize"
	"github.com/vigil-agent/vigil/internal/secmem"
	"github.com/vigil-agent/vigil/internal/vault"
	"github.com/vigil-agent/vigil/internal/words"
)

var keyCommand = &command{
	name:     "key",
	synopsis: "generate|import|list|remove|export-public|passwd|hosts [flags] [ARG...]",
	summary:  "manage the keys vigil keeps encrypted on disk",
	help: `Manages vigil's own keys, kept encrypted on disk under one store passphrase
(argon2id + XChaCha20-Poly1305, one file per key, written atomically). Public
halves are readable without the passphrase, so vigil serve lists these keys
even while they are locked; signing needs "vigil unlock" (or the passphrase
asked for on the first signature).

  vigil key generate [--type TYPE] --comment TEXT
        new key; TYPE is ed25519 (default), ecdsa-p256, ecdsa-p384, rsa-3072, rsa-4096
  vigil key import [--comment TEXT] FILE
        an OpenSSH private key file, encrypted or not (its passphrase is asked)
  vigil key list
        type, fingerprint, comment, created, last used
  vigil key remove FINGERPRINT|COMMENT
  vigil key export-public FINGERPRINT|COMMENT
        the authorized_keys line
  vigil key passwd
        change the store passphrase
  vigil key hosts [--clear] FINGERPRINT|COMMENT [HOST...]
        show or set the servers the key is for (see vigil help why-not):
        a server bound to another destination is not offered the key

A key's comment names it in remove, export-public and hosts, so generate and
import refuse a comment another stored key has (import's comment is --comment,
else the one in FILE.pub, else FILE's name). They check their arguments
before asking for any passphrase. The first generate or import creates the
store and asks for its passphrase twice; the other actions refuse a store
that is not there. Passphrases are read from the terminal, or through
$SSH_ASKPASS when SSH_ASKPASS_REQUIRE=force or there is no terminal.
`,
	footer: `
The store is $XDG_DATA_HOME/vigil (~/.local/share/vigil): directory 0700,
files 0600; vigil refuses a store that others can read or that another user
owns.
`,
	setup: func(fs *flag.FlagSet) runFunc {
		o := &keyOptions{}
		fs.StringVar(&o.store, "store", "", "use the key store in `DIR`")
		fs.StringVar(&o.keyType, "type", "ed25519", "key `TYPE` for generate")
		fs.StringVar(&o.comment, "comment", "", "the key's `TEXT` comment (generate, import)")
		fs.BoolVar(&o.clear, "clear", false, "hosts: forget the hosts set on the key")
		return func(args []string, stdout, stderr io.Writer) error {
			if len(args) == 0 {
				fmt.Fprintln(stderr, "vigil: error: vigil key needs an action: generate, import, list, remove, export-public, passwd or hosts")
				return errUsage
			}
			return runKey(o, args[0], args[1:], stdout, stderr)
		}
	},
}

type keyOptions struct {
	store, keyType, comment string
	clear                   bool
}

// storeDir is the key store's directory: the flag, or the default.
func storeDir(flagDir string) (string, error) {
	if flagDir != "" {
		return filepath.Abs(flagDir)
	}
	data := os.Getenv("XDG_DATA_HOME")
	if data == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", errors.New("no XDG_DATA_HOME and no home directory: use --store")
		}
		data = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(data, "vigil"), nil
}

// openVault opens the key store in flagDir (or the default). A directory
// that is not there is created only when create is set, because a key is
// about to be stored: reading commands, and a mistyped --store, must not
// leave stray directories (and an agent without the keys it was pointed
// at).
func openVault(flagDir string, create bool) (*vault.Vault, error) {
	dir, err := storeDir(flagDir)
	if err != nil {
		return nil, err
	}
	if !create {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no key store at %s (vigil key generate --store %[1]s or vigil key import --store %[1]s makes one)", dir)
		}
	}
	return vault.Open(vault.Config{Dir: dir})
}

func runKey(o *keyOptions, action string, rest []string, stdout, stderr io.Writer) error {
	want := map[string]int{"generate": 0, "list": 0, "passwd": 0, "import": 1, "remove": 1, "export-public": 1, "hosts": -1}
	n, ok := want[action]
	if !ok {
		fmt.Fprintf(stderr, "vigil: error: unknown key action %q\n", action)
		return errUsage
	}
	if n < 0 && len(rest) == 0 {
		fmt.Fprintln(stderr, "vigil: error: vigil key hosts takes a key and the hosts it is for")
		return errUsage
	}
	if action == "hosts" && o.clear && len(rest) > 1 {
		return usagef("vigil key hosts: --clear takes no hosts")
	}
	if n >= 0 && len(rest) != n {
		takes := words.Count(n, "argument")
		if n == 0 {
			takes = "no arguments"
		}
		fmt.Fprintf(stderr, "vigil: error: vigil key %s takes %s\n", action, takes)
		return errUsage
	}
	adding := action == "generate" || action == "import"
	var nk newKey
	if adding {
		// A mistyped command fails here, before it creates the store, sets
		// its passphrase or spends a passphrase derivation.
		var err error
		if nk, err = checkNewKey(o, action, rest); err != nil {
			return err
		}
		defer secmem.Wipe(nk.file)
	}
	v, err := openVault(o.store, adding)
	if err != nil {
		return err
	}
	switch action {
	case "list":
		return keyList(v, stdout, stderr)
	case "remove":
		e, err := v.Remove(rest[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s\n", shownEntry(e))
		return nil
	case "export-public":
		line, err := v.ExportPublic(rest[0])
		if err != nil {
			return err
		}
		_, err = stdout.Write(line)
		return err
	case "passwd":
		return keyPasswd(v, stdout)
	case "hosts":
		return keyHosts(v, o.clear, rest[0], rest[1:], stdout)
	}
	if err := v.CheckNewComment(nk.comment); err != nil {
		if errors.Is(err, vault.ErrCommentTaken) {
			return fmt.Errorf("%w: give the new key another with --comment", err)
		}
		return err
	}
	pass, err := storePassphrase(v, stderr)
	if err != nil {
		return err
	}
	defer secmem.Wipe(pass)
	var e vault.Entry
	if action == "generate" {
		e, err = v.Generate(pass, nk.keyType, nk.comment)
	} else {
		e, err = v.Import(pass, nk.file, vault.ImportOptions{Comment: nk.comment, Passphrase: func() ([]byte, error) {
			return readPassphrase("Passphrase of " + nk.path + ":")
		}})
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, shownEntry(e))
	return nil
}

// newKey is a key about to be generated or imported, checked as far as
// can be without the store's passphrase.
type newKey struct {
	keyType vault.KeyType // generate
	comment string        // never empty
	path    string        // import: the key file
	file    []byte        // import: its content, for the caller to wipe
}

// checkNewKey checks a generate's type and comment, or reads an import's
// file and finds its comment.
func checkNewKey(o *keyOptions, action string, rest []string) (newKey, error) {
	if action == "generate" {
		t, err := vault.ParseKeyType(o.keyType)
		if err != nil {
			return newKey{}, usagef("%v", err)
		}
		if o.comment == "" {
			return newKey{}, usagef("vigil key generate needs --comment, so you can tell your keys apart")
		}
		return newKey{keyType: t, comment: o.comment}, vault.CheckComment(o.comment)
	}
	path := rest[0]
	file, err := os.ReadFile(path)
	if err != nil {
		return newKey{}, err
	}
	comment := o.comment
	if comment == "" {
		// An encrypted OpenSSH key hides its comment; the .pub beside it
		// usually has it.
		if pub, err := os.ReadFile(path + ".pub"); err == nil {
			if _, c, _, _, err := ssh.ParseAuthorizedKey(pub); err == nil {
				comment = c
			}
		}
	}
	if comment == "" {
		comment = filepath.Base(path)
	}
	if err := vault.CheckComment(comment); err != nil {
		secmem.Wipe(file)
		return newKey{}, err
	}
	return newKey{comment: comment, path: path, file: file}, nil
}

// shownEntry is a key as the key commands print it. The store refuses
// control characters in comments, but not every invisible character, and
// its files may come from elsewhere: what reaches a terminal is escaped.
func shownEntry(e vault.Entry) string {
	return fmt.Sprintf("%s %s %s", e.Type, e.Fingerprint, sanitize.Line(e.Comment, 0))
}

// shownHosts is a key's host patterns as the key commands print them.
func shownHosts(hosts []string) string {
	return sanitize.Line(strings.Join(hosts, " "), 0)
}

// storePassphrase asks for the store's passphrase, creating the store
// (and asking twice) if it does not exist yet.
func storePassphrase(v *vault.Vault, stderr io.Writer) ([]byte, error) {
	info, err := v.Info()
	if err != nil {
		return nil, err
	}
	if info.Initialized {
		return readPassphrase("Passphrase of vigil's key store:")
	}
	fmt.Fprintf(stderr, "vigil: creating the key store in %s\n", v.Dir())
	pass, err := readNewPassphrase("vigil's key store")
	if err != nil {
		return nil, err
	}
	if err := v.Init(pass); err != nil {
		secmem.Wipe(pass)
		return nil, err
	}
	return pass, nil
}

func keyList(v *vault.Vault, stdout, stderr io.Writer) error {
	entries, problems, err := v.List()
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintf(stderr, "vigil: warning: %v\n", p.Err)
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TYPE\tFINGERPRINT\tCOMMENT\tCREATED\tLAST USED")
	for _, e := range entries {
		last := "never"
		if !e.LastUsed.IsZero() {
			last = e.LastUsed.Local().Format(time.DateTime)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.Type, e.Fingerprint, sanitize.Line(e.Comment, 0), e.Created.Local().Format(time.DateTime), last)
	}
	return w.Flush()
}

func keyHosts(v *vault.Vault, clear bool, query string, hosts []string, stdout io.Writer) error {
	if len(hosts) == 0 && !clear {
		e, err := v.Find(query)
		if err != nil {
			return err
		}
		all, err := v.Hosts()
		if err != nil {
			return err
		}
		if len(all[e.Fingerprint]) == 0 {
			fmt.Fprintf(stdout, "%s %s: no hosts set (offered as offer_default says)\n", e.Fingerprint, sanitize.Line(e.Comment, 0))
			return nil
		}
		fmt.Fprintf(stdout, "%s %s: %s\n", e.Fingerprint, sanitize.Line(e.Comment, 0), shownHosts(all[e.Fingerprint]))
		return nil
	}
	e, err := v.SetHosts(query, hosts)
	if err != nil {
		return err
	}
	if clear {
		fmt.Fprintf(stdout, "%s %s: hosts cleared\n", e.Fingerprint, sanitize.Line(e.Comment, 0))
	} else {
		fmt.Fprintf(stdout, "%s %s: %s\n", e.Fingerprint, sanitize.Line(e.Comment, 0), shownHosts(hosts))
	}
	return nil
}

func keyPasswd(v *vault.Vault, stdout io.Writer) error {
	old, err := readPassphrase("Current passphrase of vigil's key store:")
	if err != nil {
		return err
	}
	defer secmem.Wipe(old)
	pass, err := readNewPassphrase("vigil's key store")
	if err != nil {
		return err
	}
	defer secmem.Wipe(pass)
	if err := v.ChangePassphrase(old, pass); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "passphrase changed")
	return nil
}
