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
	if err == nil || !strings.Contains(err.Error(), "site.yml:1:1: the playbook is encrypted with ansible-vault as a whole") {
		t.Fatalf("got %v", err)
	}
}

// vaultedPB has db_password encrypted with "correct horse" (the vector of
// package vault).
const vaultedPB = `- hosts: all
  vars:
    db_password: !vault |
      $ANSIBLE_VAULT;1.1;AES256
      30303031303230333034303530363037303830393061306230633064306530663130313131323133
      3134313531363137313831393161316231633164316531660a356665316135303361656564636238
      31613762633864383834363231363366653335646561646365323936623433353437643064396165
      3464383930343638630a623861303736376165643738653433613232643935333230616164613166
      3565
  tasks:
    - meta: flush_handlers
`

func TestVaultValuesAreDecrypted(t *testing.T) {
	pb, err := ParseVault("site.yml", []byte(vaultedPB), &VaultKeys{Password: []byte("correct horse")})
	if err != nil {
		t.Fatal(err)
	}
	var vars map[string]string
	if err := pb.Plays[0].Vars.Decode(&vars); err != nil || vars["db_password"] != "s3cr3t-db-pass" {
		t.Fatalf("vars %v %v", vars, err)
	}
	if pb.Vaulted["3:18"] != "s3cr3t-db-pass" || len(pb.Vaulted) != 1 {
		t.Fatalf("vaulted %q", pb.Vaulted)
	}
	// An agent parses the same source with the plaintexts the controller sent.
	agent, err := ParseVault("site.yml", []byte(vaultedPB), &VaultKeys{Plain: pb.Vaulted})
	if err != nil {
		t.Fatal(err)
	}
	agent.Plays[0].Vars.Decode(&vars)
	if vars["db_password"] != "s3cr3t-db-pass" {
		t.Fatalf("agent vars %v", vars)
	}
}

func TestVaultWrongPasswordNamesThePosition(t *testing.T) {
	_, err := ParseVault("site.yml", []byte(vaultedPB), &VaultKeys{Password: []byte("nope")})
	if err == nil || !strings.Contains(err.Error(), "site.yml:3:18: this value is encrypted with ansible-vault (!vault): the vault password does not decrypt it") {
		t.Fatalf("got %v", err)
	}
}
