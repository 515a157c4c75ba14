package playbook

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/vault"
)

// VaultKeys decrypt `!vault` values while a playbook is parsed.
type VaultKeys struct {
	// Password decrypts them (on the controller: --vault-password-file).
	Password []byte
	// Plain holds them already decrypted, by "line:col" (Playbook.Vaulted):
	// a remote agent gets them in its bundle, never the password.
	Plain map[string]string
}

// LoadVault is Load with keys for `!vault` values.
func LoadVault(path string, keys *VaultKeys) (*Playbook, error) {
	return LoadOptions(path, Options{Keys: keys})
}

// vault replaces every `!vault` value under n by its plaintext, recorded
// in the playbook's Vaulted, or adds an error naming its position when it
// cannot: no keys, or a wrong password. Using the ciphertext as the value
// would be silently wrong.
func (p *parser) vault(n *yaml.Node) {
	if n == nil {
		return
	}
	if n.Tag != "!vault" {
		for _, c := range n.Content {
			p.vault(c)
		}
		return
	}
	key := fmt.Sprintf("%d:%d", n.Line, n.Column)
	if p.rel != "" {
		key = p.rel + ":" + key
	}
	plain, err := p.decrypt(key, n.Value)
	if err != nil {
		p.errs.Add(p.pos(n), "this value is encrypted with ansible-vault (!vault): %v", err)
		return
	}
	n.Tag, n.Value, n.Style = "!!str", plain, yaml.DoubleQuotedStyle
	if p.pb.Vaulted == nil {
		p.pb.Vaulted = map[string]string{}
	}
	p.pb.Vaulted[key] = plain
}

func (p *parser) decrypt(key, text string) (string, error) {
	switch {
	case p.keys == nil:
		return "", fmt.Errorf("give the vault password with --vault-password-file")
	case p.keys.Plain != nil:
		plain, ok := p.keys.Plain[key]
		if !ok {
			return "", fmt.Errorf("the controller sent no plaintext for it")
		}
		return plain, nil
	}
	plain, err := vault.Decrypt(text, p.keys.Password)
	return string(plain), err
}

// vaultFileError is the error for a playbook file encrypted as a whole.
func vaultFileError(file string, data []byte) *Error {
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte(vault.Header)) {
		return nil
	}
	return &Error{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "the playbook is encrypted with ansible-vault as a whole, which provision does not read: encrypt only the secret values (ansible-vault encrypt_string)"}
}
