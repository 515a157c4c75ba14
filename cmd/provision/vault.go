package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/provision-tool/provision/input"
	"github.com/provision-tool/provision/playbook"
)

// loadPlaybook loads a playbook, decrypting its !vault values with the
// password in passwordFile when one is given (trailing white space is not
// part of the password, as with ansible-vault).
func loadPlaybook(path, passwordFile string, o playbook.Options) (*playbook.Playbook, error) {
	if passwordFile == "" {
		return playbook.LoadOptions(path, o)
	}
	if fi, err := os.Stat(passwordFile); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
		// Ansible runs such a file and takes its output; reading the
		// script as the password would only fail later, less clearly.
		return nil, fmt.Errorf("vault password file %s is executable: password scripts are not supported; put the password itself in a file that is not executable", passwordFile)
	}
	data, err := input.ReadFile(passwordFile)
	if err != nil {
		return nil, fmt.Errorf("vault password: %w", err)
	}
	password := bytes.TrimRight(data, " \t\r\n")
	if len(password) == 0 {
		return nil, fmt.Errorf("vault password file %s is empty", passwordFile)
	}
	o.Keys = &playbook.VaultKeys{Password: password}
	return playbook.LoadOptions(path, o)
}

// syntaxCheckExtra is --syntax-check's part of validate -e: the templated
// arguments the -e values decide are checked too. A run checks them as
// it renders them, host by host.
func syntaxCheckExtra(f *applyFlags, pb *playbook.Playbook) error {
	if !f.ansible.syntaxCheck {
		return nil
	}
	return playbook.CheckExtraVars(pb, f.extra.vars)
}
