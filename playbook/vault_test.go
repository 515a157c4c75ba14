package playbook

import (
	"strings"
	"testing"
)

func TestVaultValuesAreRefusedWithTheirPosition(t *testing.T) {
	src := `- hosts: all
  vars:
    db_password: !vault |
      $ANSIBLE_VAULT;1.1;AES256
      6162636465
  tasks:
    - copy: {dest: /etc/x, content: !vault "$ANSIBLE_VAULT;1.1;AES256\n00"}
`
	_, err := Parse("site.yml", []byte(src))
	if err == nil {
		t.Fatal("vaulted values accepted")
	}
	msg := err.Error()
	for _, want := range []string{"site.yml:3:18: this value is encrypted with ansible-vault", "site.yml:7:37: this value is encrypted"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "6162636465") {
		t.Errorf("error shows the ciphertext: %s", msg)
	}
}

func TestVaultedPlaybookFileIsRefused(t *testing.T) {
	_, err := Parse("site.yml", []byte("$ANSIBLE_VAULT;1.1;AES256\n6162\n"))
	if err == nil || !strings.Contains(err.Error(), "site.yml:1:1: the playbook is encrypted with ansible-vault") {
		t.Fatalf("got %v", err)
	}
}
