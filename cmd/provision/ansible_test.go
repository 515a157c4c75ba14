package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/provision-tool/provision/testhost"
)

// ansiblePlaybook returns ansible-playbook's path, or skips the test
// (fails it under PROVISION_E2E=required: ansible is in .ci/e2e-deps.txt).
func ansiblePlaybook(t *testing.T) string {
	p, err := exec.LookPath("ansible-playbook")
	if err != nil {
		testhost.Skipf(t, "ansible-playbook is not installed (apt-get install ansible)")
	}
	return p
}

// ansibleEnv keeps ansible-playbook's own files in the test's directory.
func ansibleEnv(cmd *exec.Cmd, dir string) {
	cmd.Env = append(cmd.Environ(), "ANSIBLE_LOCAL_TEMP="+dir+"/tmp", "ANSIBLE_REMOTE_TEMP="+dir+"/tmp",
		"ANSIBLE_HOME="+dir+"/home", "ANSIBLE_NOCOLOR=1", "ANSIBLE_CONFIG=")
}

// TestAnsibleAcceptsSample checks that testdata/ansible is an ordinary
// Ansible playbook: ansible-playbook --syntax-check accepts it, with its
// ansible.cfg and inventory.
func TestAnsibleAcceptsSample(t *testing.T) {
	cmd := exec.Command(ansiblePlaybook(t), "--syntax-check", "site.yml", "files.yml")
	cmd.Dir = "testdata/ansible"
	ansibleEnv(cmd, t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ansible-playbook --syntax-check: %v\n%s", err, out)
	}
}

// TestAnsibleSameFiles runs the file tasks of testdata/ansible
// (files.yml: file, template, copy and a role's templates, all under
// dest_root) with ansible-playbook and with provision, both from the
// sample's directory so that both read its ansible.cfg (inventory:
// localhost, connection local), and checks that they write the same
// files, byte for byte and mode for mode; then that provision finds
// Ansible's files converged.
func TestAnsibleSameFiles(t *testing.T) {
	bin := ansiblePlaybook(t)
	sample, err := filepath.Abs("testdata/ansible")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	byAnsible, byProvision := filepath.Join(tmp, "ansible"), filepath.Join(tmp, "provision")
	for _, d := range []string{byAnsible, byProvision, tmp + "/tmp", tmp + "/home"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// ansible_become=false: the sample's ansible.cfg says become, and this
	// machine need not have sudo; the test runs as whoever runs it.
	cmd := exec.Command(bin, "-e", "dest_root="+byAnsible, "-e", "sandbox=true", "-e", "ansible_become=false", "files.yml")
	cmd.Dir = sample
	ansibleEnv(cmd, tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ansible-playbook: %v\n%s", err, out)
	}

	t.Chdir(sample)
	t.Setenv("ANSIBLE_CONFIG", "")
	apply := func(dest string) string {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"apply", "--state-dir", tmp + "/state", "--lock-file", tmp + "/lock",
			"-e", "dest_root=" + dest, "-e", "sandbox=true", "files.yml"}, nil, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("provision apply: exit %d\n%s%s", code, stdout.String(), stderr.String())
		}
		if want := "config file = " + sample + "/ansible.cfg\n"; !bytes.Contains(stdout.Bytes(), []byte(want)) {
			t.Errorf("provision did not say it read %s:\n%s", want, stdout.String())
		}
		return stdout.String()
	}
	apply(byProvision)
	got, want := treeOf(t, byProvision), treeOf(t, byAnsible)
	if len(want) < 7 {
		t.Fatalf("ansible-playbook wrote %d paths, want at least 7: %v", len(want), want)
	}
	for p, w := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: written by ansible-playbook, not by provision", p)
		} else if g != w {
			t.Errorf("%s: provision wrote %q, ansible-playbook %q", p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: written by provision, not by ansible-playbook", p)
		}
	}
	if out := apply(byAnsible); !regexp.MustCompile(`changed=0 failed=0`).MatchString(out) {
		t.Errorf("provision on ansible-playbook's files changed something:\n%s", out)
	}
}

// treeOf maps each path under dir to its type, mode and contents.
func treeOf(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		v := info.Mode().String()
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(data)
		}
		out[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
