package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAliasPlaybookApplies: anchors, aliases and merge keys everywhere
// validate and apply like the expanded playbook.
func TestAliasPlaybookApplies(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"p.yml": aliasPlay})
	writeFiles(t, root, map[string]string{"etc/passwd": "root:x:0:0:root:/root:/bin/bash\n"})
	pb := filepath.Join(dir, "p.yml")
	if code, out, errOut := runWithTimeout(t, []string{"validate", pb}); code != 0 {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := runWithTimeout(t, []string{"apply", "--root", root, pb})
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	for _, p := range []string{"srv/a", "srv/b", "srv/h"} {
		if st, err := os.Stat(filepath.Join(root, p)); err != nil || !st.IsDir() {
			t.Errorf("%s: %v", p, err)
		}
	}
	// Plays one, two (the merged copy of one) and three.
	if n := strings.Count(out, "PLAY "); n != 3 {
		t.Errorf("%d plays ran, want 3:\n%s", n, out)
	}
	if code, out, _ := runWithTimeout(t, []string{"apply", "--root", root, pb}); code != 0 || !strings.Contains(out, "changed=0") {
		t.Errorf("second apply: exit %d\n%s", code, out)
	}
}

// TestHostDataIsNotATemplate is issue 10: an image whose os-release says
// PRETTY_NAME="{{ secret_token }}" must not make the playbook write its
// secret into the file.
func TestHostDataIsNotATemplate(t *testing.T) {
	dir, root := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"p.yml": `- hosts: all
  vars:
    secret_token: hunter2
  tasks:
    - copy:
        dest: /etc/motd
        content: "Welcome to {{ facts.os.pretty_name }}"
    - copy:
        dest: /etc/issue
        content: "{{ greeting }}"
`})
	writeFiles(t, root, map[string]string{
		"etc/passwd":     "root:x:0:0:root:/root:/bin/bash\n",
		"etc/os-release": "ID=debian\nPRETTY_NAME=\"{{ secret_token }}\"\n",
	})
	args := []string{"apply", "--root", root, "-e", "greeting={{ secret_token }}", filepath.Join(dir, "p.yml")}
	if code, out, errOut := runWithTimeout(t, args); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	data, err := os.ReadFile(filepath.Join(root, "etc/motd"))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(data); got != "Welcome to {{ secret_token }}" {
		t.Errorf("motd = %q, want the pretty name as the image wrote it", got)
	}
	// -e values are data too.
	if data, _ := os.ReadFile(filepath.Join(root, "etc/issue")); string(data) != "{{ secret_token }}" {
		t.Errorf("issue = %q, want the -e value as given", data)
	}
}
