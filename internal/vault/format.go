package vault

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/ssh"
)

// On-disk names and limits.
const (
	headerName = "vault.header"
	usageName  = "vault.lastused"
	keySuffix  = ".key"
	tempPrefix = ".vault-tmp-"

	keyMagic    = "vigil-vault-key v1"
	headerMagic = "vigil-vault v1"
	usageMagic  = "vigil-vault-lastused v1"

	maxFileSize   = 64 << 10 // an RSA-16384 key file is about 17 KiB
	maxComment    = 1024
	saltSize      = 16
	kidSize       = 8
	dekSize       = chacha20poly1305.KeySize
	ringEntrySize = kidSize + dekSize
	maxDEKs       = 16 // per slot; more than one only after interrupted passphrase changes
	maxSlots      = 2
)

var b64 = base64.StdEncoding.Strict()

// keyFile is a parsed key file: the clear part, and the sealed private key.
type keyFile struct {
	pub     ssh.PublicKey
	comment string
	created time.Time // UTC, whole seconds
	kid     [kidSize]byte
	sealed  []byte // nonce || ciphertext
}

// clear returns the clear part of the file, which is also the associated
// data the private key is sealed with.
func (k *keyFile) clear() []byte {
	var b bytes.Buffer
	b.WriteString(keyMagic + "\n")
	b.WriteString("public ")
	b.Write(bytes.TrimSuffix(ssh.MarshalAuthorizedKey(k.pub), []byte("\n")))
	b.WriteString("\ncomment " + k.comment + "\n")
	b.WriteString("created " + k.created.UTC().Format(time.RFC3339) + "\n")
	b.WriteString("kid " + hex.EncodeToString(k.kid[:]) + "\n")
	return b.Bytes()
}

func (k *keyFile) marshal() []byte {
	b := k.clear()
	b = append(b, "sealed "...)
	b = b64.AppendEncode(b, k.sealed)
	return append(b, '\n')
}

// corruptf returns an error wrapping ErrCorrupt. It must never be given
// secret material: only structure, lengths and public values.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

var keyFields = []string{"", "public ", "comment ", "created ", "kid ", "sealed "}

// parseKeyFile parses a key file strictly: anything but the exact bytes
// marshal would write is refused, so the clear part (the associated data)
// has one spelling only.
func parseKeyFile(data []byte) (*keyFile, error) {
	if len(data) > maxFileSize {
		return nil, corruptf("%d bytes, more than a key file can be", len(data))
	}
	if len(data) == 0 {
		return nil, corruptf("empty file")
	}
	if data[len(data)-1] != '\n' {
		return nil, corruptf("truncated (no final newline)")
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	if lines[0] != keyMagic {
		return nil, corruptf("not a vigil key file (first line is not %q)", keyMagic)
	}
	if len(lines) < len(keyFields) {
		return nil, corruptf("truncated (%d of %d lines)", len(lines), len(keyFields))
	}
	if len(lines) > len(keyFields) {
		return nil, corruptf("%d lines, want %d", len(lines), len(keyFields))
	}
	for i, f := range keyFields[1:] {
		if !strings.HasPrefix(lines[i+1], f) {
			return nil, corruptf("line %d does not start with %q", i+2, f)
		}
		lines[i+1] = lines[i+1][len(f):]
	}
	k := &keyFile{}
	var err error
	if k.pub, err = parsePublic(lines[1]); err != nil {
		return nil, err
	}
	if err := checkComment(lines[2]); err != nil {
		return nil, corruptf("%v", err)
	}
	k.comment = lines[2]
	if k.created, err = time.Parse(time.RFC3339, lines[3]); err != nil {
		return nil, corruptf("created time %q is not RFC 3339", lines[3])
	}
	// Length first: hex.Decode writes past a destination that is too short.
	if len(lines[4]) != 2*kidSize {
		return nil, corruptf("kid is not %d hex digits", 2*kidSize)
	}
	if n, err := hex.Decode(k.kid[:], []byte(lines[4])); err != nil || n != kidSize {
		return nil, corruptf("kid is not %d hex digits", 2*kidSize)
	}
	if k.sealed, err = b64.DecodeString(lines[5]); err != nil {
		return nil, corruptf("sealed key is not base64 (truncated?)")
	}
	if len(k.sealed) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead+1 {
		return nil, corruptf("sealed key of %d bytes is too short", len(k.sealed))
	}
	if !bytes.Equal(k.marshal(), data) {
		return nil, corruptf("not in canonical form")
	}
	return k, nil
}

// parsePublic parses "<type> <base64 blob>", refusing certificates and key
// types vault does not store.
func parsePublic(s string) (ssh.PublicKey, error) {
	typ, enc, ok := strings.Cut(s, " ")
	if !ok {
		return nil, corruptf("public key line has no key")
	}
	blob, err := b64.DecodeString(enc)
	if err != nil {
		return nil, corruptf("public key is not base64")
	}
	pub, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return nil, corruptf("public key: %v", err)
	}
	if pub.Type() != typ {
		return nil, corruptf("public key type %q does not match its blob (%q)", typ, pub.Type())
	}
	if _, err := describe(pub); err != nil {
		return nil, corruptf("%v", err)
	}
	return pub, nil
}

// checkComment refuses what would break a line of a key file or of
// authorized_keys, or garble a terminal: control characters and invalid
// UTF-8.
func checkComment(c string) error {
	if len(c) > maxComment {
		return fmt.Errorf("comment of %d bytes is longer than %d", len(c), maxComment)
	}
	if !utf8.ValidString(c) {
		return fmt.Errorf("comment is not valid UTF-8")
	}
	for _, r := range c {
		if unicode.IsControl(r) {
			return fmt.Errorf("comment contains control character %U", r)
		}
	}
	return nil
}

// fileName is the name of the file holding the key pub: its SHA256
// fingerprint in the URL-safe base64 alphabet.
func fileName(pub ssh.PublicKey) string {
	sum := sha256.Sum256(pub.Marshal())
	return base64.RawURLEncoding.EncodeToString(sum[:]) + keySuffix
}

// fingerprintName turns "SHA256:<base64>" into a key file name, or returns
// false if fp is not a SHA256 fingerprint.
func fingerprintName(fp string) (string, bool) {
	enc, ok := strings.CutPrefix(fp, "SHA256:")
	if !ok {
		return "", false
	}
	sum, err := base64.RawStdEncoding.Strict().DecodeString(enc)
	if err != nil || len(sum) != sha256.Size {
		return "", false
	}
	return base64.RawURLEncoding.EncodeToString(sum) + keySuffix, true
}

// KDFParams are argon2id's cost parameters.
type KDFParams struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32
	Threads   uint8 // lanes; part of the derivation, not only of its speed
}

// DefaultKDF is RFC 9106's second recommended argon2id setting (section
// 4, for when 2 GiB is too much): 64 MiB, 3 passes, 4 lanes. About 0.2 s on
// the 2-core machine vigil is developed on, paid once per unlock; an
// attacker with a stolen store pays it for every guess, with 64 MiB each.
var DefaultKDF = KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}

// validate bounds the parameters, also when they come from a header on disk,
// so a damaged header cannot ask for terabytes or hours.
func (p KDFParams) validate() error {
	switch {
	case p.Time < 1 || p.Time > 64:
		return fmt.Errorf("argon2id time %d is outside 1..64", p.Time)
	case p.Threads < 1 || p.Threads > 64:
		return fmt.Errorf("argon2id threads %d is outside 1..64", p.Threads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > 4<<20:
		return fmt.Errorf("argon2id memory %d KiB is outside %d..%d", p.MemoryKiB, 8*uint32(p.Threads), 4<<20)
	}
	return nil
}

// slot is one way into the store: a passphrase's salt and KDF parameters,
// and the DEK list sealed under the key derived from them.
type slot struct {
	kdf    KDFParams
	salt   []byte
	sealed []byte
}

type header struct {
	slots []slot
}

func (s *slot) clear() string {
	return fmt.Sprintf("slot argon2id t=%d m=%d p=%d salt=%s", s.kdf.Time, s.kdf.MemoryKiB, s.kdf.Threads, b64.EncodeToString(s.salt))
}

// ad is the associated data the slot's DEK list is sealed with.
func (s *slot) ad() []byte {
	return []byte(headerMagic + "\n" + s.clear())
}

func (h *header) marshal() []byte {
	b := []byte(headerMagic + "\n")
	for _, s := range h.slots {
		b = append(b, s.clear()+" sealed="...)
		b = b64.AppendEncode(b, s.sealed)
		b = append(b, '\n')
	}
	return b
}

func headerCorruptf(format string, args ...any) error {
	return fmt.Errorf("%w: header: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// parseHeader parses a header strictly, as parseKeyFile does a key file.
func parseHeader(data []byte) (*header, error) {
	if len(data) > maxFileSize {
		return nil, headerCorruptf("%d bytes, more than a header can be", len(data))
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, headerCorruptf("truncated (no final newline)")
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	if lines[0] != headerMagic {
		return nil, headerCorruptf("first line is not %q", headerMagic)
	}
	if len(lines) < 2 {
		return nil, headerCorruptf("no slot")
	}
	if len(lines) > 1+maxSlots {
		return nil, headerCorruptf("%d slots, at most %d", len(lines)-1, maxSlots)
	}
	h := &header{}
	for i, line := range lines[1:] {
		s, err := parseSlot(line)
		if err != nil {
			return nil, headerCorruptf("slot %d: %v", i+1, err)
		}
		h.slots = append(h.slots, s)
	}
	if !bytes.Equal(h.marshal(), data) {
		return nil, headerCorruptf("not in canonical form")
	}
	return h, nil
}

func parseSlot(line string) (slot, error) {
	f := strings.Split(line, " ")
	if len(f) != 7 || f[0] != "slot" || f[1] != "argon2id" {
		return slot{}, fmt.Errorf("want \"slot argon2id t= m= p= salt= sealed=\"")
	}
	num := func(field, name string, bits int) (uint64, error) {
		v, ok := strings.CutPrefix(field, name+"=")
		if !ok {
			return 0, fmt.Errorf("want %s=", name)
		}
		n, err := strconv.ParseUint(v, 10, bits)
		if err != nil {
			return 0, fmt.Errorf("%s is not a number below 2^%d", name, bits)
		}
		return n, nil
	}
	var s slot
	t, err := num(f[2], "t", 32)
	if err != nil {
		return slot{}, err
	}
	m, err := num(f[3], "m", 32)
	if err != nil {
		return slot{}, err
	}
	p, err := num(f[4], "p", 8)
	if err != nil {
		return slot{}, err
	}
	s.kdf = KDFParams{Time: uint32(t), MemoryKiB: uint32(m), Threads: uint8(p)}
	if err := s.kdf.validate(); err != nil {
		return slot{}, err
	}
	salt, ok := strings.CutPrefix(f[5], "salt=")
	if !ok {
		return slot{}, fmt.Errorf("want salt=")
	}
	if s.salt, err = b64.DecodeString(salt); err != nil || len(s.salt) != saltSize {
		return slot{}, fmt.Errorf("salt is not %d bytes of base64", saltSize)
	}
	sealed, ok := strings.CutPrefix(f[6], "sealed=")
	if !ok {
		return slot{}, fmt.Errorf("want sealed=")
	}
	if s.sealed, err = b64.DecodeString(sealed); err != nil {
		return slot{}, fmt.Errorf("sealed is not base64")
	}
	n := len(s.sealed) - chacha20poly1305.NonceSizeX - chacha20poly1305.Overhead
	if n < ringEntrySize || n%ringEntrySize != 0 || n/ringEntrySize > maxDEKs {
		return slot{}, fmt.Errorf("sealed store keys of %d bytes", len(s.sealed))
	}
	return s, nil
}
