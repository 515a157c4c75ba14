package killtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// playbook exercises every module that writes under --root; each task
// notifies a handler that leaves a marker file.
const playbook = `
- name: crash
  hosts: all
  vars:
    users: [alice, bob, carol]
  tasks:
    - name: subid
      subid: {user: "{{ item }}"}
      loop: "{{ users }}"
      notify: migrate
    - name: copy
      copy: {dest: /etc/app/app.conf, content: "new copy\n", backup: true}
      notify: copied
    - name: template
      template: {dest: /etc/app/tpl.conf, content: "host {{ inventory_hostname }}\n"}
      notify: templated
    - name: file
      file: {path: /etc/app/secret, mode: "0600", owner: alice}
      notify: filed
    - name: registries
      registries: {unqualified_search_registries: [docker.io]}
      notify: registered
    - name: storage
      storage: {driver: overlay, mount_program: none, graphroot: /var/lib/containers/storage}
      notify: stored
    - name: sysctl
      sysctl: {name: user.max_user_namespaces, value: "15000", apply_live: false}
      notify: sysctled
  handlers:
    - name: migrate
      copy: {dest: "/var/lib/markers/migrate-{{ item }}", content: "ran\n"}
      loop: "{{ notified_items }}"
    - {name: copied, copy: {dest: /var/lib/markers/copied, content: "ran\n"}}
    - {name: templated, copy: {dest: /var/lib/markers/templated, content: "ran\n"}}
    - {name: filed, copy: {dest: /var/lib/markers/filed, content: "ran\n"}}
    - {name: registered, copy: {dest: /var/lib/markers/registered, content: "ran\n"}}
    - {name: stored, copy: {dest: /var/lib/markers/stored, content: "ran\n"}}
    - {name: sysctled, copy: {dest: /var/lib/markers/sysctled, content: "ran\n"}}
`

// markers are the files the handlers write, one per change notified.
var markers = []string{"migrate-alice", "migrate-bob", "migrate-carol", "copied", "templated", "filed", "registered", "stored", "sysctled"}

// contentFiles are the managed files whose content changes; each must
// hold its old or its new content at every instant.
var contentFiles = []string{
	"/etc/app/app.conf", "/etc/app/tpl.conf", "/etc/containers/storage.conf",
	"/etc/containers/registries.conf.d/50-provision.conf", "/etc/sysctl.d/90-provision.conf",
}

// subidLines is how many other users /etc/subuid and /etc/subgid hold, so
// that their rewrite takes long enough to be hit.
const subidLines = 1000

// makeTree writes the initial host tree under root.
func makeTree(t testing.TB, root string) {
	t.Helper()
	var sub strings.Builder
	for i := range subidLines {
		fmt.Fprintf(&sub, "u%d:%d:65536\n", i, 100000+i*65536)
	}
	files := []struct {
		path, content string
		mode          os.FileMode
	}{
		{"/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n" +
			"bob:x:1001:1001::/home/bob:/bin/bash\ncarol:x:1002:1002::/home/carol:/bin/bash\n", 0o644},
		{"/etc/group", "root:x:0:\nalice:x:1000:\nbob:x:1001:\ncarol:x:1002:\n", 0o644},
		{"/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n", 0o644},
		{"/etc/subuid", sub.String(), 0o644},
		{"/etc/subgid", sub.String(), 0o644},
		{"/etc/app/app.conf", "old\n", 0o644},
		{"/etc/app/tpl.conf", "old\n", 0o644},
		{"/etc/app/secret", "s\n", 0o666},
		{"/etc/containers/storage.conf", "[storage]\ndriver = \"vfs\"\noptions = {overlay = {mountopt = \"nodev\"}}\n", 0o644},
	}
	for _, f := range files {
		p := filepath.Join(root, f.path)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(f.content), f.mode))
		must(t, os.Chmod(p, f.mode))
	}
	for _, d := range []string{"/etc/containers/registries.conf.d", "/etc/sysctl.d", "/var/lib/markers"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
