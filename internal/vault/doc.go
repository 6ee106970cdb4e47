// Package vault keeps vigil's private keys encrypted at rest, one file per
// key, in a directory only the user can read.
//
// # Layout
//
// The directory (vigil uses $XDG_DATA_HOME/vigil) must be mode 0700 or
// stricter and owned by the effective user; every file vault reads must be a
// regular file, mode 0600 or stricter, with the same owner. Anything looser is
// refused with an error wrapping [ErrInsecure]: the directory for the whole
// store, a key file for that key alone. Open creates the directory 0700 if it
// is missing. The files:
//
//	vault.header      KDF parameters, salt and the sealed store keys (one slot per passphrase)
//	<fp>.key          one key: public half, comment and creation time in clear, private half sealed
//	<hash>.token      one token (a registry credential): label and creation time in clear, token sealed (see Tokens)
//	vault.lastused    when each key last signed, as recorded by the agent (not secret, not authenticated)
//	.vault-tmp-*      a write in progress, or left by a writer that died; never read, swept by the next writer
//
// <fp> is the key's SHA256 fingerprint in the URL-safe base64 alphabet, so
// the name says which key a file holds before it is parsed. Other files in the
// directory are ignored.
//
// # Cryptography
//
// The store passphrase goes through argon2id with a store-wide random salt
// and the parameters in the header ([DefaultKDF]: RFC 9106's second
// recommended setting, t=3, 64 MiB, 4 lanes; about 0.2 s on a 2-core
// machine). The derived key (the KEK) opens a slot of the header with
// XChaCha20-Poly1305, which yields the store's data keys (DEKs): random
// 256-bit keys, each with a random 8-byte ID. Every key file is sealed with
// XChaCha20-Poly1305 under one DEK, with the file's whole clear part (magic,
// public key, comment, creation time, DEK ID) as associated data, so a
// comment or a public key edited on disk makes the key fail to open instead
// of being misattributed. The passphrase is derived once per operation, and
// the slot doubles as the check value: a wrong passphrase is detected even
// with no keys, and the error ([ErrBadPassphrase]) never says which part did
// not match.
//
// Why not age's scrypt recipient: its passphrases are Go strings, which
// cannot be wiped; each file would carry its own salt, so an unlock would
// run the KDF once per key instead of once; a file's metadata could not be
// bound as associated data; and it would be a new dependency. argon2id and
// XChaCha20-Poly1305 are in golang.org/x/crypto, which vigil already uses.
//
// # Changing the passphrase, and crashes
//
// Every write is atomic: a temporary file in the same directory is written,
// fsynced and renamed over the target, then the directory is fsynced. A
// crash or SIGKILL leaves each file either old or new, never torn, and a
// stray temporary file is never taken for a key. Writers in different
// processes (the CLI, the agent recording use) are serialised by an
// exclusive flock on the directory; readers take it shared.
//
// [Vault.ChangePassphrase] first checks that every key and token file opens
// (and refuses to start otherwise: a file it could not re-encrypt would be
// lost). It then creates a new DEK and writes a header with two slots, the
// old passphrase's and the new one's, each holding every DEK still in use
// plus the new one. It re-encrypts the key files, then the token files,
// under the new DEK one by one, and finally writes a header with only the
// new slot and the new DEK. A crash at any point leaves every key and token
// loadable: before the first header write with the old passphrase only;
// between the two header writes with either passphrase (each slot opens
// every DEK, whichever one a file is sealed under); after the second with
// the new one. [Vault.Info] reports the middle state as ChangeInterrupted;
// running ChangePassphrase again (with either passphrase as the old one)
// finishes it. A new DEK, not just a new wrapping, means that someone who
// learned the old passphrase and kept a copy of the old header cannot open
// keys or tokens stored after the change.
//
// # Secrets in memory
//
// Passphrases are taken as []byte and never kept, logged or put into an
// error; the caller wipes them. Derived keys and the store's DEKs live in
// locked, non-dumpable memory (package secmem) and are wiped when an
// operation ends. Decrypted private keys exist as DER in buffers vault owns,
// wiped as soon as they are parsed. What cannot be wiped is said where it
// happens: argon2's working memory, the key schedule inside a cipher.AEAD,
// the copies that encoding/pem, x/crypto/ssh and crypto/x509 make while
// parsing or marshalling, and the private keys handed to the caller, whose
// big.Ints and expanded forms live on the Go heap (see package secmem).
//
// # Key file format
//
// A key file is text, six lines, each ending in "\n", and must be in
// exactly the form vault writes (parsing re-encodes and compares):
//
//	vigil-vault-key v1
//	public ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI...
//	comment alice@laptop
//	created 2026-10-20T10:11:12Z
//	kid 0123456789abcdef
//	sealed <base64: 24-byte nonce, then XChaCha20-Poly1305 of the PKCS#8 DER private key>
//
// The associated data is the file's text up to and including the newline
// before "sealed". The comment is UTF-8 without control characters.
//
// The header:
//
//	vigil-vault v1
//	slot argon2id t=3 m=65536 p=4 salt=<base64, 16 bytes> sealed=<base64: nonce, sealed DEK list>
//
// with a second slot line only while a passphrase change is unfinished. A
// slot's plaintext is a list of (8-byte ID, 32-byte DEK), the newest last,
// and its associated data is the first line, a newline, and the slot line up
// to " sealed=".
package vault
