package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/provision-tool/provision/engine"
	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
)

// labelPB changes a file with every module that replaces one.
const labelPB = `
- hosts: all
  tasks:
    - copy: {dest: /etc/copy.conf, content: "new\n"}
    - template: {dest: /etc/template.conf, src: t.j2}
    - file: {path: /etc/motd, content: "new\n"}
    - subid: {user: alice, count: 65536}
    - registries: {unqualified_search_registries: [docker.io]}
    - storage: {driver: overlay}
    - sysctl: {name: user.max_user_namespaces, value: "28633"}
    - systemd_unit: {name: web.service, content: "[Service]\nExecStart=/bin/true\n"}
    - file: {path: /etc/containers/new.d, state: directory}
    - copy: {dest: /etc/containers/new.d/new.conf, content: "new\n"}
    - systemd_unit: {name: new.service, content: "[Service]\nExecStart=/bin/true\n"}
`

// Every module that replaces a file keeps the file's SELinux label (set
// here on ext4 or tmpfs, which store it without an SELinux kernel), and
// new files get the label the policy of the tree (not the build
// machine's) gives them.
func TestModulesKeepSELinuxLabels(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setting security.* attributes needs root; CI runs as root")
	}
	root := t.TempDir()
	put := func(p, content string) {
		hp := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(hp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	labelOf := func(p string) string {
		buf := make([]byte, 4096)
		n, err := unix.Lgetxattr(filepath.Join(root, p), "security.selinux", buf)
		if err != nil {
			return ""
		}
		return strings.TrimRight(string(buf[:n]), "\x00")
	}
	put("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n")
	put("/etc/group", "root:x:0:\nalice:x:1000:\n")
	put("/etc/selinux/config", "SELINUX=enforcing\nSELINUXTYPE=img\n")
	put("/etc/selinux/img/contexts/files/file_contexts",
		"/etc(/.*)?  system_u:object_r:etc_t:s0\n"+
			"/etc/containers(/.*)?  system_u:object_r:container_config_t:s0\n"+
			"/usr/lib/systemd/system(/.*)?  system_u:object_r:systemd_unit_file_t:s0\n")
	put("/etc/selinux/img/contexts/files/file_contexts.subs_dist", "/etc/systemd/system /usr/lib/systemd/system\n")
	put("/t.j2", "new\n")
	for _, d := range []string{"var/lib/provision", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	kept := []string{"/etc/copy.conf", "/etc/template.conf", "/etc/motd", "/etc/subuid", "/etc/subgid",
		"/etc/containers/registries.conf.d/50-provision.conf", "/etc/containers/storage.conf",
		"/etc/sysctl.d/90-provision.conf", "/etc/systemd/system/web.service"}
	old := map[string]string{"/etc/subuid": "", "/etc/subgid": "",
		"/etc/containers/storage.conf":    "[storage]\ndriver = \"vfs\"\n",
		"/etc/sysctl.d/90-provision.conf": "kernel.sysrq = 1\n"}
	for _, p := range kept {
		content, ok := old[p]
		if !ok {
			content = "old\n"
		}
		put(p, content)
		if err := unix.Lsetxattr(filepath.Join(root, p), "security.selinux", []byte("system_u:object_r:kept_t:s0\x00"), 0); err != nil {
			t.Fatal(err)
		}
	}
	pb, err := playbook.Parse(filepath.Join(root, "site.yml"), []byte(labelPB))
	if err != nil {
		t.Fatal(err)
	}
	var o outputs
	fx := facts.New(root)
	sys := &tasks.System{Root: root, Runner: tasks.ExecRunner{Facts: fx}, Facts: fx, SourceDir: root, Image: true,
		Log: report.NewLogger(&o.log, true)}
	opts := engineOptions()
	opts.Sink = o.sink()
	counts, err := engine.Run(context.Background(), pb, sys, opts)
	if err != nil || counts.Failed != 0 || counts.Changed != 11 {
		t.Fatalf("%v %+v\n%s", err, counts, o.human.String())
	}
	for _, p := range kept {
		data, _ := os.ReadFile(filepath.Join(root, p))
		if content, ok := old[p]; string(data) == "old\n" || ok && string(data) == content {
			t.Errorf("%s not changed:\n%s", p, o.human.String())
		}
		if got := labelOf(p); got != "system_u:object_r:kept_t:s0" {
			t.Errorf("%s: label %q, want the replaced file's", p, got)
		}
	}
	for p, want := range map[string]string{
		"/etc/containers/new.d":           "container_config_t",
		"/etc/containers/new.d/new.conf":  "container_config_t",
		"/etc/systemd/system/new.service": "systemd_unit_file_t",
		"/etc/subuid-":                    "etc_t",
	} {
		if got := labelOf(p); got != "system_u:object_r:"+want+":s0" {
			t.Errorf("%s: label %q, want %s", p, got, want)
		}
	}
}
