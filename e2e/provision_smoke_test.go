//go:build e2e

package e2e

import (
	"testing"

	"github.com/provision-tool/provision/testhost"
)

// smokePlay is a small fixed playbook (the examples/ suite is built on top
// of the harness separately and follows the examples as they change).
const smokePlay = `- name: smoke
  hosts: all
  tasks:
    - name: podman
      package:
        names: [podman]
    - name: a podman user
      user:
        name: erin
    - name: erin's subordinate ids
      subid:
        user: erin
`

// TestProvisionSmoke shows the harness's provision helpers at work on each
// kind of single host: a small playbook checked on a fresh host (exit 2,
// changes pending), applied (exit 0, changes), applied again (exit 0,
// nothing changed) and checked (exit 0).
func TestProvisionSmoke(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	for _, kind := range []testhost.Kind{testhost.Debian, testhost.Fedora} {
		t.Run(string(kind), func(t *testing.T) {
			h := testhost.Boot(t, kind, testhost.Options{})
			h.InstallProvision(t)
			if err := h.WriteFile("/root/play.yml", []byte(smokePlay), 0o644); err != nil {
				t.Fatal(err)
			}
			evs, _ := h.Provision(t, 2, "check", "/root/play.yml")
			if n := len(testhost.TaskResults(evs, "changed")); n == 0 {
				t.Errorf("check on a fresh host: no task has changes pending")
			}
			evs, _ = h.Provision(t, 0, "apply", "/root/play.yml")
			if n := len(testhost.TaskResults(evs, "changed")); n == 0 {
				t.Errorf("first apply: nothing changed")
			}
			if failed := testhost.TaskResults(evs, "failed"); len(failed) > 0 {
				t.Errorf("first apply: failed tasks: %+v", failed)
			}
			evs, _ = h.Provision(t, 0, "apply", "/root/play.yml")
			if changed := testhost.TaskResults(evs, "changed"); len(changed) > 0 {
				t.Errorf("second apply changed %d tasks: %+v", len(changed), changed)
			}
			h.Provision(t, 0, "check", "/root/play.yml")
			if got := h.SSH(t, "grep -c '^erin:' /etc/subuid /etc/subgid"); got != "/etc/subuid:1\n/etc/subgid:1" {
				t.Errorf("erin's ranges: %q", got)
			}
		})
	}
}
