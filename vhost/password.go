package vhost

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
)

// Password hashes in RabbitMQ's format (rabbit_password.erl, rabbit_auth_backend_internal.erl):
// a 4-byte random salt followed by H(salt ++ password), where H is the user's hashing
// algorithm. Definitions files carry it base64-encoded in "password_hash", with the
// algorithm in "hashing_algorithm" (the Erlang module's name). A user record without an
// algorithm predates RabbitMQ 3.6.0 and uses MD5 (rabbit_password:hashing_mod(undefined)).

// HashAlg is a password hashing algorithm, named as RabbitMQ's module.
type HashAlg string

// The algorithms RabbitMQ ships. SHA-256 is its default (?DEFAULT_HASHING_MODULE).
const (
	HashSHA256 HashAlg = "rabbit_password_hashing_sha256"
	HashSHA512 HashAlg = "rabbit_password_hashing_sha512"
	HashMD5    HashAlg = "rabbit_password_hashing_md5"
)

// saltLen is the salt's length (rabbit_password:generate_salt/0: strong_rand_bytes(4)).
const saltLen = 4

func (a HashAlg) new() (hash.Hash, bool) {
	switch a {
	case HashSHA256:
		return sha256.New(), true
	case HashSHA512:
		return sha512.New(), true
	case HashMD5, "": // "" : a record from before 3.6.0 (rabbit_password:hashing_mod(undefined))
		return md5.New(), true
	}
	return nil, false
}

// ParseHashAlg accepts RabbitMQ's module names and the short forms sha256, sha512, md5.
func ParseHashAlg(s string) (HashAlg, error) {
	switch s {
	case "", "sha256", string(HashSHA256):
		return HashSHA256, nil
	case "sha512", string(HashSHA512):
		return HashSHA512, nil
	case "md5", string(HashMD5):
		return HashMD5, nil
	}
	return "", fmt.Errorf("vhost: unknown password hashing algorithm %q (want %s, %s or %s)", s, HashSHA256, HashSHA512, HashMD5)
}

// HashPassword returns salt ++ H(salt ++ password) with a fresh random salt.
func HashPassword(alg HashAlg, password string) ([]byte, error) {
	var salt [saltLen]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, err
	}
	return saltedHash(alg, salt[:], password)
}

func saltedHash(alg HashAlg, salt []byte, password string) ([]byte, error) {
	h, ok := alg.new()
	if !ok {
		return nil, fmt.Errorf("vhost: unknown password hashing algorithm %q", alg)
	}
	h.Write(salt)
	h.Write([]byte(password))
	return h.Sum(append([]byte(nil), salt...)), nil
}

// checkPassword reports whether password matches hash (salt ++ digest), in constant time
// for a given algorithm.
func checkPassword(alg HashAlg, hash []byte, password string) bool {
	h, ok := alg.new()
	if !ok || len(hash) != saltLen+h.Size() {
		return false
	}
	h.Write(hash[:saltLen])
	h.Write([]byte(password))
	var buf [sha512.Size]byte
	return subtle.ConstantTimeCompare(h.Sum(buf[:0]), hash[saltLen:]) == 1
}

// EncodeHash is the "password_hash" of a definitions file: base64 of salt ++ digest.
func EncodeHash(hash []byte) string { return base64.StdEncoding.EncodeToString(hash) }

// DecodeHash reads a definitions file's "password_hash" and checks its length against
// the algorithm. An empty string is a user without a password (it can only log in with
// EXTERNAL, as RabbitMQ's passwordless users).
func DecodeHash(alg HashAlg, s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("vhost: password_hash is not base64: %w", err)
	}
	h, ok := alg.new()
	if !ok {
		return nil, fmt.Errorf("vhost: unknown password hashing algorithm %q", alg)
	}
	if len(b) != saltLen+h.Size() {
		return nil, fmt.Errorf("vhost: password_hash has %d bytes, want %d for %s", len(b), saltLen+h.Size(), alg)
	}
	return b, nil
}
