//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/testhost"
)

// homeAttackPrep is what alice, an unprivileged user, does in her own home
// before root's next provision run: every directory or file the playbook
// writes for her is a link to a place only root may write.
const homeAttackPrep = `set -e
mkdir -p /home/alice/.config/systemd /home/alice/.config/containers
ln -s /etc/systemd/system /home/alice/.config/systemd/user
ln -s /etc/containers/systemd /home/alice/.config/containers/systemd
ln -s /etc/sudoers.d/alice /home/alice/app.conf
ln -s /etc /home/alice/data
ln -s /etc/shadow /home/alice/.config/containers/storage.conf
`

// homeAttackBook writes alice's files as a rootless-podman playbook would:
// a user unit, a Quadlet file, a config file and a directory in her home.
const homeAttackBook = `- name: alice's files
  hosts: all
  tasks:
    - name: user unit
      systemd_unit:
        name: evil.service
        scope: user
        user: alice
        content: "[Service]\nExecStart=/bin/true\n"
      ignore_errors: true
    - name: quadlet
      systemd_unit:
        name: evil.container
        scope: user
        user: alice
        content: "[Container]\nImage=localhost/x\n"
      ignore_errors: true
    - name: config
      copy:
        dest: /home/alice/app.conf
        content: "alice ALL=(ALL) NOPASSWD: ALL\n"
        owner: alice
      ignore_errors: true
    - name: data dir
      file:
        path: /home/alice/data
        state: directory
        owner: alice
        mode: "0777"
      ignore_errors: true
`

// storageBook reads alice's storage.conf, as the storage task does for
// every user who has one, to warn when it overrides the system file.
const storageBook = `- hosts: all
  tasks:
    - storage:
        driver: overlay
`

// outsideState is what must not change: root's files, and the list of
// world-writable files on the root file system.
const outsideState = `find /etc -xdev -printf '%p %m %U:%G %s %T@ %l\n' | sort | sha256sum
find / -xdev -perm -o+w -type f 2>/dev/null | sort
stat -c '%a %U' /etc /etc/systemd/system /etc/containers/systemd /etc/sudoers.d`

// TestHomeAttacks: on a booted host, alice links the directories of her
// user units, Quadlet files and config into /etc; root's run either
// refuses with an error naming the link or writes only inside her home,
// and nothing outside it changes.
func TestHomeAttacks(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	h := testhost.Boot(t, testhost.Debian, testhost.Options{})
	h.InstallProvision(t)
	h.SSH(t, "useradd -m -s /bin/sh alice && mkdir -p /etc/containers/systemd")
	h.SSH(t, "runuser -u alice -- sh -c '"+homeAttackPrep+"'")
	if err := h.WriteFile("/root/home.yml", []byte(homeAttackBook), 0o644); err != nil {
		t.Fatal(err)
	}
	before := h.SSH(t, outsideState)

	// Exit 0: the refused tasks failed, and ignore_errors (as in Ansible)
	// lets the others run and counts them ignored, not failed.
	events, _ := h.Provision(t, 0, "apply", "/root/home.yml")
	results := map[string]report.Event{}
	for _, e := range events {
		if e.Type == report.TaskResult {
			results[e.Task] = e
		}
	}
	for task, link := range map[string]string{"user unit": "/home/alice/.config/systemd/user", "quadlet": "/home/alice/.config/containers/systemd", "data dir": "/home/alice/data"} {
		if e := results[task]; e.Status != report.StatusFailed || !e.Ignored || !strings.Contains(e.Error, link) {
			t.Errorf("%s: %s %q; want it refused, naming %s", task, e.Status, e.Error, link)
		}
	}
	// The config file may be replaced by a file of alice's (the link was
	// hers, in her home); it must never be written through the link.
	if e := results["config"]; e.Status == report.StatusChanged {
		if got := h.SSH(t, "stat -c '%F %U' /home/alice/app.conf"); got != "regular file alice" {
			t.Errorf("config written as %q", got)
		}
	} else if !strings.Contains(e.Error, "/home/alice/app.conf") {
		t.Errorf("config: %s %q; want it refused naming the link, or written in alice's home", e.Status, e.Error)
	}
	if after := h.SSH(t, outsideState); after != before {
		t.Errorf("outside alice's home, before the run:\n%s\nafter:\n%s", before, after)
	}
	h.SSH(t, "test ! -e /etc/systemd/system/evil.service && test ! -e /etc/containers/systemd/evil.container && test ! -e /etc/sudoers.d/alice")

	// alice's storage.conf links to /etc/shadow: read with her rights,
	// it is refused, and nothing of the shadow file is shown.
	if err := h.WriteFile("/root/storage.yml", []byte(storageBook), 0o644); err != nil {
		t.Fatal(err)
	}
	shadowRoot := strings.SplitN(h.SSH(t, "head -c 20 /etc/shadow"), ":", 3)
	events, r := h.Provision(t, 2, "check", "/root/storage.yml")
	raw := r.Stdout + r.Stderr
	if len(shadowRoot) == 3 && len(shadowRoot[1]) > 1 && strings.Contains(raw, shadowRoot[1]) {
		t.Errorf("the check shows /etc/shadow: %s", raw)
	}
	warned := false
	for _, e := range events {
		for _, w := range e.Warnings {
			warned = warned || strings.Contains(w, "/home/alice/.config/containers/storage.conf: refused: uid ")
		}
	}
	if !warned {
		t.Errorf("no warning that alice's storage.conf was refused: %s", raw)
	}
}
