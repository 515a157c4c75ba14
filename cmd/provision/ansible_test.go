package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
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
	cmd := exec.Command(ansiblePlaybook(t), "--syntax-check", "site.yml", "files.yml", "sysctl.yml")
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
// Ansible's files converged, and the sysctl.d file Ansible's sysctl
// module writes (sysctl.yml) too.
func TestAnsibleSameFiles(t *testing.T) {
	bin := ansiblePlaybook(t)
	sample, err := filepath.Abs("testdata/ansible")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	byAnsible, byProvision := filepath.Join(tmp, "ansible"), filepath.Join(tmp, "provision")
	sysctlRoot := filepath.Join(tmp, "sysctl")
	for _, d := range []string{byAnsible, byProvision, tmp + "/tmp", tmp + "/home", sysctlRoot + "/etc/sysctl.d"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// ansible_become=false: the sample's ansible.cfg says become, and this
	// machine need not have sudo; the test runs as whoever runs it.
	cmd := exec.Command(bin, "-e", "dest_root="+byAnsible, "-e", "sysctl_root="+sysctlRoot, "-e", "sandbox=true", "-e", "ansible_become=false",
		"files.yml", "sysctl.yml")
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

	// Ansible's sysctl module writes name=value where provision writes
	// name = value: each takes the other's line as converged.
	if got, err := os.ReadFile(sysctlRoot + "/etc/sysctl.d/90-podman.conf"); err != nil || string(got) != "user.max_user_namespaces=28633\n" {
		t.Fatalf("ansible-playbook's sysctl file: %q, %v", got, err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"check", "--root", sysctlRoot, "-e", "sysctl_root=", "sysctl.yml"}, nil, &stdout, &stderr); code != 0 {
		t.Errorf("provision check on ansible-playbook's sysctl file: exit %d, want 0 (converged)\n%s%s", code, stdout.String(), stderr.String())
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

// TestAnsibleSameBatches runs plays with serial batches, run_once and
// max_fail_percentage (testdata/serial, five hosts with connection local,
// provision one at a time: they share one run lock) with
// ansible-playbook and with provision: each task
// appends a line to a log, and both logs hold the same lines, batch after
// batch, and both runs stop at the same batch.
func TestAnsibleSameBatches(t *testing.T) {
	bin := ansiblePlaybook(t)
	dir, err := filepath.Abs("testdata/serial")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		playbook string
		exit     int
		want     []string
	}{
		{"rolling.yml", 0, []string{"h1 rolling", "h1 once", "h2 rolling", "h3 rolling", "h2 once", "h4 rolling", "h5 rolling", "h4 once",
			"h1 after", "h2 after", "h3 after", "h4 after", "h5 after"}},
		{"maxfail.yml", 1, []string{"h1 rolling", "h2 rolling", "h3 rolling"}},
	} {
		t.Run(c.playbook, func(t *testing.T) {
			tmp := t.TempDir()
			for _, d := range []string{"tmp", "home"} {
				if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(bin, "-i", "hosts.ini", "-e", "log="+tmp+"/ansible.log", c.playbook)
			cmd.Dir = dir
			ansibleEnv(cmd, tmp)
			out, err := cmd.CombinedOutput()
			if (err != nil) != (c.exit != 0) {
				t.Fatalf("ansible-playbook: %v\n%s", err, out)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"apply", "-i", dir + "/hosts.ini", "-f", "1", "--state-dir", tmp + "/state", "--lock-file", tmp + "/lock",
				"-e", "log=" + tmp + "/provision.log", dir + "/" + c.playbook}, nil, &stdout, &stderr)
			if code != c.exit {
				t.Fatalf("provision apply: exit %d, want %d\n%s%s", code, c.exit, stdout.String(), stderr.String())
			}
			byAnsible, byProvision := batchLog(t, tmp+"/ansible.log"), batchLog(t, tmp+"/provision.log")
			// Within a batch, Ansible runs task by task across the hosts
			// and provision host by host: compare batch by batch.
			if got, want := batchesOfLog(byProvision), batchesOfLog(byAnsible); !reflect.DeepEqual(got, want) {
				t.Errorf("provision's batches:\n%q\nansible-playbook's:\n%q", got, want)
			}
			if got := batchesOfLog(c.want); !reflect.DeepEqual(got, batchesOfLog(byAnsible)) {
				t.Errorf("ansible-playbook's batches %q, want %q", batchesOfLog(byAnsible), got)
			}
		})
	}
}

// batchLog reads a log's lines.
func batchLog(t *testing.T, path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(data)), " ", "_"))
}

// batchesOfLog groups a log's lines by batch (h1 | h2 h3 | h4 h5 | the
// second play), each group sorted, checking that batches never overlap.
func batchesOfLog(lines []string) [][]string {
	batch := map[string]int{"h1": 0, "h2": 1, "h3": 1, "h4": 2, "h5": 2}
	var out [][]string
	last := -1
	for _, l := range lines {
		l = strings.ReplaceAll(l, " ", "_")
		b := batch[l[:2]]
		if strings.HasSuffix(l, "after") {
			b = 3
		}
		if b < last {
			return append(out, []string{"out of order: " + l})
		}
		for len(out) <= b {
			out = append(out, nil)
		}
		out[b] = append(out[b], l)
		sort.Strings(out[b])
		last = b
	}
	return out
}
