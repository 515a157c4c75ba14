package playbook

import (
	"bytes"

	"gopkg.in/yaml.v3"
)

// vaultHeader starts a file or value encrypted with ansible-vault.
const vaultHeader = "$ANSIBLE_VAULT;"

// refuseVault adds an error for every value encrypted with ansible-vault
// (`!vault`) under n. provision cannot decrypt them yet, and using the
// ciphertext as the value would be silently wrong.
func (p *parser) refuseVault(n *yaml.Node) {
	if n == nil {
		return
	}
	if n.Tag == "!vault" {
		p.errs.Add(p.pos(n), "this value is encrypted with ansible-vault (!vault), which provision cannot decrypt: put the value in a file only root can read on the hosts, or pass it with -e @file")
		return
	}
	for _, c := range n.Content {
		p.refuseVault(c)
	}
}

// vaultFileError is the error for a playbook file encrypted as a whole.
func vaultFileError(file string, data []byte) *Error {
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte(vaultHeader)) {
		return nil
	}
	return &Error{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "the playbook is encrypted with ansible-vault, which provision cannot decrypt"}
}
