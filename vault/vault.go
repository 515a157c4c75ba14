// Package vault decrypts values encrypted with ansible-vault, formats 1.1
// and 1.2 (AES256): PBKDF2-SHA256 with 10000 iterations derives an AES-256
// key, an HMAC-SHA256 key and the CTR counter from the password and the
// salt; the HMAC of the ciphertext is checked before it is decrypted.
package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Header starts every vault text.
const Header = "$ANSIBLE_VAULT;"

// ErrWrongPassword is returned when the HMAC does not match: a wrong
// password, or altered text.
var ErrWrongPassword = errors.New("the vault password does not decrypt it (wrong password, or the text was altered)")

// IsVault reports whether text is a vault text.
func IsVault(text string) bool { return strings.HasPrefix(strings.TrimSpace(text), Header) }

// Decrypt returns the plaintext of a vault text. Errors never contain the
// plaintext.
func Decrypt(text string, password []byte) ([]byte, error) {
	salt, mac, ciphertext, err := parse(text)
	if err != nil {
		return nil, err
	}
	dk, err := pbkdf2.Key(sha256.New, string(password), salt, 10000, 2*32+aes.BlockSize)
	if err != nil {
		return nil, err
	}
	key, hmacKey, iv := dk[:32], dk[32:64], dk[64:]
	h := hmac.New(sha256.New, hmacKey)
	h.Write(ciphertext)
	if !hmac.Equal(h.Sum(nil), mac) {
		return nil, ErrWrongPassword
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, len(ciphertext))
	cipher.NewCTR(block, iv).XORKeyStream(plain, ciphertext)
	return unpad(plain)
}

// parse splits a vault text into salt, HMAC and ciphertext.
func parse(text string) (salt, mac, ciphertext []byte, err error) {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	fields := strings.Split(strings.TrimSpace(lines[0]), ";")
	if len(fields) < 3 || fields[0]+";" != Header {
		return nil, nil, nil, errors.New("not an ansible-vault text (no $ANSIBLE_VAULT header)")
	}
	if v := fields[1]; v != "1.1" && v != "1.2" {
		return nil, nil, nil, fmt.Errorf("vault format %s: only 1.1 and 1.2 are supported", v)
	}
	if fields[2] != "AES256" {
		return nil, nil, nil, fmt.Errorf("vault cipher %s: only AES256 is supported", fields[2])
	}
	var body strings.Builder
	for _, l := range lines[1:] {
		body.WriteString(strings.TrimSpace(l))
	}
	inner, err := hex.DecodeString(body.String())
	if err != nil {
		return nil, nil, nil, errors.New("malformed vault text: not hexadecimal")
	}
	parts := bytes.Split(inner, []byte("\n"))
	if len(parts) != 3 {
		return nil, nil, nil, errors.New("malformed vault text: want salt, HMAC and ciphertext")
	}
	var out [3][]byte
	for i, p := range parts {
		if out[i], err = hex.DecodeString(string(p)); err != nil {
			return nil, nil, nil, errors.New("malformed vault text: not hexadecimal")
		}
	}
	return out[0], out[1], out[2], nil
}

// unpad removes PKCS#7 padding.
func unpad(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, errors.New("malformed vault text: empty ciphertext")
	}
	n := int(b[len(b)-1])
	if n == 0 || n > aes.BlockSize || n > len(b) {
		return nil, ErrWrongPassword
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, ErrWrongPassword
		}
	}
	return b[:len(b)-n], nil
}
