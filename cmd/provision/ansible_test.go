package main

import (
	"os/exec"
	"testing"

	"github.com/provision-tool/provision/testhost"
)

// TestAnsibleAcceptsSample checks that testdata/ansible is an ordinary
// Ansible playbook: ansible-playbook --syntax-check accepts it (ansible is
// in .ci/e2e-deps.txt).
func TestAnsibleAcceptsSample(t *testing.T) {
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		testhost.Skipf(t, "ansible-playbook is not installed (apt-get install ansible)")
	}
	cmd := exec.Command("ansible-playbook", "--syntax-check", "-i", "localhost,", "site.yml")
	cmd.Dir = "testdata/ansible"
	cmd.Env = append(cmd.Environ(), "ANSIBLE_LOCAL_TEMP="+t.TempDir(), "ANSIBLE_HOME="+t.TempDir(), "ANSIBLE_NOCOLOR=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ansible-playbook --syntax-check: %v\n%s", err, out)
	}
}
