package vault

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/secmem"
)

var updateSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite the seed corpora in testdata/fuzz")

// fuzzRing is the fixed store key the key-file seeds are sealed under, so
// that the fuzzer reaches decryption and PKCS#8 parsing.
func fuzzRing(t testing.TB) *ring {
	buf, _ := secmem.New(ringEntrySize)
	for i := range buf.Bytes() {
		buf.Bytes()[i] = byte(i + 1)
	}
	t.Cleanup(buf.Free)
	return &ring{buf: buf}
}

func fuzzVault() *Vault { return &Vault{log: slog.New(slog.DiscardHandler)} }

var fuzzPassphrase = []byte("fuzz")

// FuzzKeyFile feeds the key file parser, and decrypts what parses with the
// fixed store key.
func FuzzKeyFile(f *testing.F) {
	r := fuzzRing(f)
	v := fuzzVault()
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := parseKeyFile(data)
		if err != nil {
			if k != nil {
				t.Fatal("parse failed but returned a key file")
			}
			return
		}
		if !bytes.Equal(k.marshal(), data) {
			t.Fatalf("parse accepted a non-canonical file:\n%q\nre-encodes as\n%q", data, k.marshal())
		}
		if fileName(k.pub) == "" || checkComment(k.comment) != nil {
			t.Fatal("parse accepted a bad public key or comment")
		}
		if priv, err := v.openKey(k, r); err == nil {
			if _, pub, err := normalise(priv); err != nil || !bytes.Equal(pub.Marshal(), k.pub.Marshal()) {
				t.Fatalf("opened a key that does not match its public key: %v", err)
			}
		}
	})
}

// FuzzHeader feeds the header parser, and tries the fuzz passphrase on a
// header whose KDF is cheap.
func FuzzHeader(f *testing.F) {
	v := fuzzVault()
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseHeader(data)
		if err != nil {
			return
		}
		if !bytes.Equal(h.marshal(), data) {
			t.Fatalf("parse accepted a non-canonical header")
		}
		for _, s := range h.slots {
			if s.kdf.validate() != nil {
				t.Fatalf("parse accepted KDF %+v", s.kdf)
			}
			if s.kdf.Time > 1 || s.kdf.MemoryKiB > 64 {
				return // too slow to derive in a fuzzer
			}
		}
		if u, err := v.open(h, fuzzPassphrase); err == nil {
			if u.ring.len() < 1 || u.ring.len() > maxDEKs {
				t.Fatalf("opened a ring of %d keys", u.ring.len())
			}
			u.free()
		}
	})
}

// FuzzUsage feeds the last-used parser; what it keeps must survive a round
// trip.
func FuzzUsage(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		used, _ := parseUsage(data)
		again, err := parseUsage(marshalUsage(used))
		if err != nil || len(again) != len(used) {
			t.Fatalf("round trip: %d entries, then %d, %v", len(used), len(again), err)
		}
		for fp, tm := range used {
			if !again[fp].Equal(tm.Truncate(time.Second)) {
				t.Fatalf("round trip changed %s", fp)
			}
		}
	})
}

// TestFuzzSeeds checks that the committed seeds that should be valid still
// are, so a format change cannot leave the fuzzers exploring dead input.
// With -update-fuzz-seeds it writes them anew.
func TestFuzzSeeds(t *testing.T) {
	if *updateSeeds {
		writeSeeds(t)
	}
	r := fuzzRing(t)
	v := fuzzVault()
	valid := 0
	for _, target := range []string{"FuzzKeyFile", "FuzzHeader", "FuzzUsage"} {
		files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no seeds for %s: %v", target, err)
		}
		for _, file := range files {
			if !strings.HasPrefix(filepath.Base(file), "valid-") {
				continue
			}
			valid++
			data := readSeed(t, file)
			switch target {
			case "FuzzKeyFile":
				k, err := parseKeyFile(data)
				if err != nil {
					t.Errorf("%s: %v", file, err)
					continue
				}
				priv, err := v.openKey(k, r)
				if err != nil {
					t.Errorf("%s: %v", file, err)
				}
				wipeKey(priv)
			case "FuzzHeader":
				h, err := parseHeader(data)
				if err != nil {
					t.Errorf("%s: %v", file, err)
					continue
				}
				u, err := v.open(h, fuzzPassphrase)
				if err != nil {
					t.Errorf("%s: %v", file, err)
					continue
				}
				u.free()
			case "FuzzUsage":
				if _, err := parseUsage(data); err != nil {
					t.Errorf("%s: %v", file, err)
				}
			}
		}
	}
	if valid == 0 {
		t.Error("no valid seeds")
	}
}

// readSeed reads a corpus file: "go test fuzz v1" and one []byte literal.
func readSeed(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lit, ok := strings.CutPrefix(string(data), "go test fuzz v1\n[]byte(")
	lit, ok2 := strings.CutSuffix(lit, ")\n")
	if !ok || !ok2 {
		t.Fatalf("%s: not a one-[]byte corpus file", file)
	}
	s, err := strconv.Unquote(lit)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return []byte(s)
}

func writeSeeds(t *testing.T) {
	r := fuzzRing(t)
	kid, dek := r.newest()
	seeds := map[string]map[string][]byte{"FuzzKeyFile": {}, "FuzzHeader": {}, "FuzzUsage": {}}
	keySeeds := seeds["FuzzKeyFile"]
	for _, kt := range []string{"ed25519", "p256", "p384", "p521", "rsa2048"} {
		var priv crypto.PrivateKey
		var err error
		switch kt {
		case "ed25519":
			_, priv, err = ed25519.GenerateKey(rand.Reader)
		case "p256":
			priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		case "p384":
			priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		case "p521":
			priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		case "rsa2048":
			priv, err = rsa.GenerateKey(rand.Reader, 2048)
		}
		if err != nil {
			t.Fatal(err)
		}
		_, pub, err := normalise(priv)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		k := &keyFile{pub: pub, comment: "seed " + kt, created: time.Date(2026, 10, 20, 10, 11, 12, 0, time.UTC), kid: kid}
		if k.sealed, err = seal(dek, der, k.clear()); err != nil {
			t.Fatal(err)
		}
		data := k.marshal()
		keySeeds["valid-"+kt] = data
		if kt == "ed25519" {
			keySeeds["truncated"] = data[:len(data)/2]
			keySeeds["no-newline"] = data[:len(data)-1]
			keySeeds["empty-comment"] = bytes.Replace(data, []byte("comment seed ed25519\n"), []byte("comment \n"), 1)
			keySeeds["other-kid"] = bytes.Replace(data, []byte("kid 0102030405060708"), []byte("kid 0000000000000000"), 1)
			keySeeds["crlf"] = bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
		}
		if kt == "p256" {
			// A well-formed file whose public key is not the sealed one.
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			_, otherPub, _ := normalise(other)
			k.pub = otherPub
			keySeeds["mismatched-public"] = k.marshal()
		}
	}
	keySeeds["empty"] = nil
	keySeeds["magic-only"] = []byte(keyMagic + "\n")

	// Headers: cheap KDF, the fuzz passphrase.
	fv := fuzzVault()
	fv.kdf = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
	h := &header{}
	for i := range 2 {
		s, kek, err := fv.newSlot(fuzzPassphrase)
		if err != nil {
			t.Fatal(err)
		}
		deks, err := fv.newDEK(r.buf.Bytes()[:i*ringEntrySize])
		if err != nil {
			t.Fatal(err)
		}
		if err := sealSlot(&s, kek.Bytes(), deks.Bytes()); err != nil {
			t.Fatal(err)
		}
		kek.Free()
		deks.Free()
		h.slots = append(h.slots, s)
		seeds["FuzzHeader"][fmt.Sprintf("valid-%d-slots", i+1)] = h.marshal()
	}
	one := seeds["FuzzHeader"]["valid-1-slots"]
	seeds["FuzzHeader"]["truncated"] = one[:len(one)-9]
	seeds["FuzzHeader"]["default-kdf"] = bytes.Replace(one, []byte("t=1 m=64 p=1"), []byte("t=3 m=65536 p=4"), 1)

	seeds["FuzzUsage"]["valid"] = []byte(usageMagic + "\nSHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU 2026-10-20T10:11:12Z\n")
	seeds["FuzzUsage"]["bad-line"] = []byte(usageMagic + "\nSHA256:xyz yesterday\n")

	for target, files := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range files {
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
