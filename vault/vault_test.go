package vault

import (
	"errors"
	"strings"
	"testing"
)

// The vectors were made with an independent implementation of Ansible's
// VaultAES256 (Python, the cryptography package), as ansible-vault
// encrypt_string makes them, with fixed salts.
const (
	v11 = `$ANSIBLE_VAULT;1.1;AES256
30303031303230333034303530363037303830393061306230633064306530663130313131323133
3134313531363137313831393161316231633164316531660a356665316135303361656564636238
31613762633864383834363231363366653335646561646365323936623433353437643064396165
3464383930343638630a623861303736376165643738653433613232643935333230616164613166
3565`
	v12 = `$ANSIBLE_VAULT;1.2;AES256;prod
36343635363636373638363936613662366336643665366637303731373237333734373537363737
3738373937613762376337643765376638303831383238330a373761656336386637343165663837
38666166626430386131643132626331323266656262396166336434356365626635343233656430
3638636339393061380a343439643231353437373532326433313536613531626534363033626332
31313431393862646633663463313863613066613538663835643633326434323433`
)

func TestDecrypt(t *testing.T) {
	for _, tc := range []struct{ text, password, want string }{
		{v11, "correct horse", "s3cr3t-db-pass"},
		{"  " + strings.ReplaceAll(v12, "\n", "\n      ") + "\n", "other", "line one\nline two, sixteen!!"},
	} {
		got, err := Decrypt(tc.text, []byte(tc.password))
		if err != nil || string(got) != tc.want {
			t.Errorf("Decrypt = %q, %v; want %q", got, err, tc.want)
		}
	}
}

func TestDecryptRefuses(t *testing.T) {
	if _, err := Decrypt(v11, []byte("wrong")); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("wrong password: %v", err)
	}
	altered := v11[:len(v11)-2] + "66"
	if _, err := Decrypt(altered, []byte("correct horse")); err == nil {
		t.Errorf("altered text decrypted")
	}
	for _, text := range []string{"hello", "$ANSIBLE_VAULT;1.0;AES256\n00", "$ANSIBLE_VAULT;1.1;AES\n00", "$ANSIBLE_VAULT;1.1;AES256\nzz"} {
		if _, err := Decrypt(text, []byte("x")); err == nil {
			t.Errorf("%q decrypted", text)
		}
	}
}
