//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/testhost"
)

// fleetSize is the number of hosts TestFleetOverSSH boots.
const fleetSize = 20

// fleetPlay is the playbook of the fleet tests. role comes from
// group_vars/web.yml or group_vars/db.yml, greeting from the parent
// group's file, stamp, marker and fail_here from group_vars/all.yml (host
// variables and -e override them).
const fleetPlay = `- name: fleet
  hosts: fleet
  tasks:
    - name: motd names the host's role
      copy:
        content: "{{ greeting }}: {{ role }} on {{ inventory_hostname }}, stamp {{ stamp }}\n"
        dest: /etc/motd-provision
        mode: "0644"
    - name: marker of this run
      copy:
        content: "marker {{ marker }}\n"
        dest: /var/tmp/provision-marker
      when: marker != ""
    - name: fail where the inventory says so
      command:
        argv: ["false"]
      when: fail_here
`

// fleetLab is a booted fleet with an Ansible YAML inventory (groups web and
// db under fleet, group_vars/ beside it) and the provision binary run on
// this machine as the controller.
type fleetLab struct {
	hosts []*testhost.Host
	bin   string
	dir   string // inventory directory (hosts files, group_vars/)
	play  string
	key   string // the harness's client key
	known string // a copy of the harness's known_hosts: tests edit it
	web   map[string]bool
}

// run is one provision run on the controller.
type run struct {
	args           []string
	code           int
	stdout, stderr string
	events         []report.Event
	took           time.Duration
}

func newFleetLab(t *testing.T, n int) *fleetLab {
	t.Helper()
	return newFleetLabOf(t, testhost.Debian, n)
}

// newFleetLabOf is newFleetLab with hosts of another kind.
func newFleetLabOf(t *testing.T, kind testhost.Kind, n int) *fleetLab {
	t.Helper()
	hosts := testhost.Fleet(t, kind, n)
	l := &fleetLab{hosts: hosts, bin: testhost.BuildProvision(t), web: map[string]bool{}}
	base := t.TempDir()
	l.dir = filepath.Join(base, "inventory")
	l.play = filepath.Join(base, "play.yml")

	// The harness's key and known_hosts, as its own ssh command line uses them.
	argv := hosts[0].SSHCommand("root")
	for i, a := range argv {
		switch {
		case a == "-i" && i+1 < len(argv):
			l.key = argv[i+1]
		case strings.HasPrefix(a, "UserKnownHostsFile="):
			known := strings.TrimPrefix(a, "UserKnownHostsFile=")
			b, err := os.ReadFile(known)
			if err != nil {
				t.Fatal(err)
			}
			l.known = filepath.Join(base, "known_hosts")
			if err := os.WriteFile(l.known, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if l.key == "" || l.known == "" {
		t.Fatalf("no -i or UserKnownHostsFile in the harness's ssh command %q", argv)
	}
	for i, h := range hosts {
		l.web[h.Name] = i < n/2
	}
	write(t, l.play, fleetPlay)
	// Host keys are checked strictly: a host missing from known_hosts or
	// with another key is refused.
	write(t, filepath.Join(l.dir, "group_vars/all.yml"), fmt.Sprintf(`ansible_user: root
ansible_ssh_private_key_file: %s
ansible_ssh_common_args: -F /dev/null -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o ControlPath=none
stamp: "1"
marker: ""
fail_here: false
`, l.key, l.known))
	write(t, filepath.Join(l.dir, "group_vars/fleet.yml"), "greeting: managed by provision\n")
	write(t, filepath.Join(l.dir, "group_vars/web.yml"), "role: web\n")
	write(t, filepath.Join(l.dir, "group_vars/db.yml"), "role: db\n")
	l.inventory(t, "hosts.yml", nil)
	return l
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// inventory writes an Ansible YAML inventory named name into the inventory
// directory: the first half of the hosts in web, the rest in db, both
// children of fleet; each host has ansible_host and the variables of
// hostVars[name] (written as given: YAML scalars). It returns its path.
func (l *fleetLab) inventory(t *testing.T, name string, hostVars map[string]map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("all:\n  children:\n    fleet:\n      children:\n")
	for _, group := range []string{"web", "db"} {
		fmt.Fprintf(&b, "        %s:\n          hosts:\n", group)
		for _, h := range l.hosts {
			if l.web[h.Name] != (group == "web") {
				continue
			}
			vars := map[string]string{"ansible_host": h.IP}
			for k, v := range hostVars[h.Name] {
				vars[k] = v
			}
			keys := make([]string, 0, len(vars))
			for k := range vars {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			fmt.Fprintf(&b, "            %s:\n", h.Name)
			for _, k := range keys {
				fmt.Fprintf(&b, "              %s: %s\n", k, vars[k])
			}
		}
	}
	p := filepath.Join(l.dir, name)
	write(t, p, b.String())
	return p
}

// provision runs the controller with args (-i and the playbook are added)
// and fails the test unless it exits with want. With --output json among
// args the events are decoded.
func (l *fleetLab) provision(t *testing.T, want int, inv string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args = append(append([]string{args[0], "-i", inv}, args[1:]...), l.play)
	cmd := exec.CommandContext(ctx, l.bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := run{args: args, stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("provision %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("provision %s: exit %d, %.2fs", strings.Join(args, " "), r.code, r.took.Seconds())
	if r.code != want {
		t.Fatalf("provision %s: exit %d, want %d\n--- stdout\n%s\n--- stderr\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	for _, a := range args {
		if a == "json" {
			evs, err := testhost.ParseEvents(r.stdout)
			if err != nil {
				t.Fatalf("provision %s: %v", strings.Join(args, " "), err)
			}
			r.events = evs
		}
	}
	return r
}

// recap returns the run's recap event (the last one), failing without one.
func (r run) recap(t *testing.T) map[string]*report.Counts {
	t.Helper()
	if len(r.events) == 0 || r.events[len(r.events)-1].Type != report.Recap {
		t.Fatalf("provision %s: the last event is not the recap\n%s", strings.Join(r.args, " "), r.stdout)
	}
	return r.events[len(r.events)-1].Recap
}

// hostErrors maps host to the error of its host_error event.
func (r run) hostErrors() map[string]report.Event {
	m := map[string]report.Event{}
	for _, e := range r.events {
		if e.Type == report.HostError {
			m[e.Host] = e
		}
	}
	return m
}

// guestFile reads a file of a guest from the host side ("" when missing),
// with its owner.
func guestFile(t *testing.T, h *testhost.Host, p string) (string, int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.Root(), p))
	if errors.Is(err, os.ErrNotExist) {
		return "", -1
	}
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(h.Root(), p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b), int(fi.Sys().(*syscall.Stat_t).Uid)
}

func (l *fleetLab) role(h *testhost.Host) string {
	if l.web[h.Name] {
		return "web"
	}
	return "db"
}

// TestFleetOverSSH boots a fleet of 20 Debian hosts once and runs the
// provision binary on this machine against it over real SSH with an Ansible
// YAML inventory: convergence and a no-op re-run on all 20, an unreachable
// and a failing host among converging ones, a changed (and an unknown) host
// key refused, and non-root login users with and without passwordless sudo.
func TestFleetOverSSH(t *testing.T) {
	testhost.Require(t)
	l := newFleetLab(t, fleetSize)
	inv := filepath.Join(l.dir, "hosts.yml")

	t.Run("list hosts", func(t *testing.T) {
		r := l.provision(t, 0, inv, "apply", "--list-hosts", "-l", "db")
		if want := fmt.Sprintf("hosts (%d):", fleetSize-fleetSize/2); !strings.Contains(r.stdout, want) {
			t.Errorf("--list-hosts -l db: no %q in\n%s", want, r.stdout)
		}
		for _, h := range l.hosts {
			if got := strings.Contains(r.stdout, "    "+h.Name+"\n"); got != !l.web[h.Name] {
				t.Errorf("--list-hosts -l db lists %s: %v, want %v", h.Name, got, !l.web[h.Name])
			}
		}
	})

	t.Run("converge then no-op on 20 hosts", func(t *testing.T) {
		r := l.provision(t, 0, inv, "apply", "--output", "json")
		recap := r.recap(t)
		if len(recap) != fleetSize {
			t.Errorf("first run: recap of %d hosts, want %d", len(recap), fleetSize)
		}
		for _, h := range l.hosts {
			c := recap[h.Name]
			if c == nil || c.Changed != 1 || c.Failed != 0 || c.Unreachable {
				t.Errorf("first run on %s: %+v, want changed=1 failed=0", h.Name, c)
			}
			want := fmt.Sprintf("managed by provision: %s on %s, stamp 1\n", l.role(h), h.Name)
			if got, uid := guestFile(t, h, "/etc/motd-provision"); got != want || uid != 0 {
				t.Errorf("%s: /etc/motd-provision %q (uid %d), want %q (uid 0)", h.Name, got, uid, want)
			}
		}
		hostsSeen := map[string]bool{}
		for _, e := range r.events {
			if e.Type == report.Recap {
				continue
			}
			if e.Host == "" {
				t.Errorf("event without host: %+v", e)
			}
			hostsSeen[e.Host] = true
		}
		if len(hostsSeen) != fleetSize {
			t.Errorf("events name %d hosts, want %d", len(hostsSeen), fleetSize)
		}

		r = l.provision(t, 0, inv, "apply", "--output", "json")
		recap = r.recap(t)
		if len(recap) != fleetSize {
			t.Errorf("second run: recap of %d hosts, want %d", len(recap), fleetSize)
		}
		for _, h := range l.hosts {
			if c := recap[h.Name]; c == nil || c.Changed != 0 || c.Failed != 0 || c.OK != 1 || c.Unreachable {
				t.Errorf("second run on %s: %+v, want ok=1 changed=0", h.Name, c)
			}
		}
		for _, e := range r.events {
			if e.Type != report.Recap && e.Host == "" {
				t.Errorf("second run: event without host: %+v", e)
			}
		}
		t.Logf("no-op re-run on %d hosts: %.0f ms", fleetSize, float64(r.took.Microseconds())/1000)

		// The human recap: one line per host, all in sync.
		r = l.provision(t, 0, inv, "check")
		_, after, ok := strings.Cut(r.stdout, "RECAP\n")
		if !ok {
			t.Fatalf("check: no RECAP in\n%s", r.stdout)
		}
		lines := strings.Split(strings.TrimSpace(after), "\n")
		n := 0
		for _, line := range lines {
			if strings.HasPrefix(line, "took ") {
				continue
			}
			n++
			if !strings.Contains(line, "changed=0 failed=0") || !strings.Contains(line, "pending=0") {
				t.Errorf("check recap line %q", line)
			}
		}
		if n != fleetSize {
			t.Errorf("check recap has %d host lines, want %d:\n%s", n, fleetSize, after)
		}
	})

	t.Run("unreachable and failing hosts while the rest converge", func(t *testing.T) {
		down, failing := l.hosts[2], l.hosts[fleetSize-3]
		// An address on the fleet's bridge that no guest has.
		unused := down.IP[:strings.LastIndex(down.IP, ".")] + ".250"
		bad := l.inventory(t, "hosts-bad.yml", map[string]map[string]string{
			down.Name:    {"ansible_host": unused},
			failing.Name: {"fail_here": "true"},
		})
		r := l.provision(t, 1, bad, "apply", "--output", "json", "-e", "stamp=2")
		recap := r.recap(t)
		errs := r.hostErrors()
		if c := recap[down.Name]; c == nil || !c.Unreachable {
			t.Errorf("%s (ansible_host %s): recap %+v, want unreachable", down.Name, unused, c)
		}
		if e, ok := errs[down.Name]; !ok || e.Status != report.StatusUnreachable || !strings.Contains(e.Error, "ssh") {
			t.Errorf("%s: host_error %+v, want status unreachable with ssh's message", down.Name, e)
		} else {
			t.Logf("%s: %s", down.Name, e.Error)
		}
		if c := recap[failing.Name]; c == nil || c.Failed != 1 || c.Changed != 1 || c.Unreachable {
			t.Errorf("%s: recap %+v, want changed=1 (motd) failed=1 (false)", failing.Name, c)
		}
		for _, h := range l.hosts {
			want := fmt.Sprintf("managed by provision: %s on %s, stamp 2\n", l.role(h), h.Name)
			if h == down {
				want = strings.Replace(want, "stamp 2", "stamp 1", 1)
			}
			if got, _ := guestFile(t, h, "/etc/motd-provision"); got != want {
				t.Errorf("%s: /etc/motd-provision %q, want %q", h.Name, got, want)
			}
			if h == down || h == failing {
				continue
			}
			if c := recap[h.Name]; c == nil || c.Changed != 1 || c.Failed != 0 || c.Unreachable {
				t.Errorf("%s: recap %+v, want changed=1 failed=0", h.Name, c)
			}
		}
		if len(recap) != fleetSize {
			t.Errorf("recap of %d hosts, want %d", len(recap), fleetSize)
		}

		// The same in human form: the unreachable host on one line with
		// ssh's reason, the failed task, and both marked in the recap.
		r = l.provision(t, 1, bad, "apply", "-e", "stamp=2")
		for _, want := range []string{down.Name, "unreachable", failing.Name, "failed"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("human output lacks %q:\n%s", want, r.stdout)
			}
		}
		_, after, _ := strings.Cut(r.stdout, "RECAP\n")
		for _, line := range strings.Split(after, "\n") {
			switch {
			case strings.HasPrefix(line, down.Name+" "):
				if !strings.HasSuffix(line, "unreachable") {
					t.Errorf("recap line of the unreachable host: %q", line)
				}
			case strings.HasPrefix(line, failing.Name+" "):
				if !strings.Contains(line, "failed=1") {
					t.Errorf("recap line of the failing host: %q", line)
				}
			}
		}
	})

	t.Run("changed and unknown host keys are refused", func(t *testing.T) {
		changed, unknown := l.hosts[4], l.hosts[fleetSize-5]
		orig, err := os.ReadFile(l.known)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.WriteFile(l.known, orig, 0o600) })
		keyFile := filepath.Join(t.TempDir(), "other")
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keyFile).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
		other, err := os.ReadFile(keyFile + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(other))
		var lines []string
		replaced := false
		for _, line := range strings.Split(strings.TrimSpace(string(orig)), "\n") {
			names, _, _ := strings.Cut(line, " ")
			switch names {
			case changed.Name + "," + changed.IP:
				line = names + " " + f[0] + " " + f[1]
				replaced = true
			case unknown.Name + "," + unknown.IP:
				continue
			}
			lines = append(lines, line)
		}
		if !replaced {
			t.Fatalf("no known_hosts line for %s,%s in\n%s", changed.Name, changed.IP, orig)
		}
		if err := os.WriteFile(l.known, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}

		marker := fmt.Sprintf("host-keys-%d", time.Now().UnixNano())
		r := l.provision(t, 1, inv, "apply", "--output", "json", "-e", "marker="+marker)
		recap := r.recap(t)
		errs := r.hostErrors()
		for _, c := range []struct {
			h    *testhost.Host
			want string
		}{
			{changed, "Host key verification failed"},
			{unknown, "Host key verification failed"},
		} {
			e, ok := errs[c.h.Name]
			if !ok || e.Status != report.StatusUnreachable || !strings.Contains(e.Error, c.want) {
				t.Errorf("%s: host_error %+v, want unreachable with %q", c.h.Name, e, c.want)
			} else {
				t.Logf("%s: %s", c.h.Name, e.Error)
			}
			if rc := recap[c.h.Name]; rc == nil || !rc.Unreachable || rc.OK+rc.Changed+rc.Failed != 0 {
				t.Errorf("%s: recap %+v, want unreachable and no task", c.h.Name, rc)
			}
		}
		if e := errs[changed.Name]; !strings.Contains(e.Error, "HOST IDENTIFICATION HAS CHANGED") && !strings.Contains(e.Error, "has changed") {
			t.Logf("%s: the error does not say the key changed: %q", changed.Name, e.Error)
		}
		for _, h := range l.hosts {
			got, _ := guestFile(t, h, "/var/tmp/provision-marker")
			if h == changed || h == unknown {
				if got != "" {
					t.Errorf("%s: the marker was written (%q) through a refused host key", h.Name, got)
				}
			} else if got != "marker "+marker+"\n" {
				t.Errorf("%s: marker %q, want %q", h.Name, got, marker)
			}
		}
	})

	t.Run("login user with sudo", func(t *testing.T) {
		sudoer, asker := l.hosts[6], l.hosts[7]
		for _, c := range []struct {
			h       *testhost.Host
			user    string
			sudoers string
		}{
			{sudoer, "deploy", "deploy ALL=(ALL:ALL) NOPASSWD: ALL\n"},
			{asker, "asker", "asker ALL=(ALL:ALL) ALL\n"},
		} {
			c.h.SSH(t, "useradd -m -s /bin/bash "+c.user)
			c.h.AuthorizeUser(t, c.user)
			if err := c.h.WriteFile("/etc/sudoers.d/"+c.user, []byte(c.sudoers), 0o440); err != nil {
				t.Fatal(err)
			}
			c.h.SSH(t, "visudo -cq && rm -f /etc/motd-provision")
		}
		sudoInv := l.inventory(t, "hosts-sudo.yml", map[string]map[string]string{
			sudoer.Name: {"ansible_user": "deploy"},
			asker.Name:  {"ansible_user": "asker"},
		})
		r := l.provision(t, 1, sudoInv, "apply", "--output", "json", "-l", sudoer.Name+","+asker.Name, "-e", "marker=sudo")
		recap := r.recap(t)
		if len(recap) != 2 {
			t.Errorf("recap of %d hosts, want 2 (-l)", len(recap))
		}
		if c := recap[sudoer.Name]; c == nil || c.Failed != 0 || c.Unreachable || c.Changed != 2 {
			t.Errorf("%s as deploy with NOPASSWD sudo: recap %+v, want changed=2", sudoer.Name, c)
		}
		want := fmt.Sprintf("managed by provision: %s on %s, stamp 1\n", l.role(sudoer), sudoer.Name)
		if got, uid := guestFile(t, sudoer, "/etc/motd-provision"); got != want || uid != 0 {
			t.Errorf("%s: /etc/motd-provision %q owned by uid %d, want %q owned by root", sudoer.Name, got, uid, want)
		}
		if got, uid := guestFile(t, sudoer, "/var/tmp/provision-marker"); got != "marker sudo\n" || uid != 0 {
			t.Errorf("%s: marker %q owned by uid %d, want \"marker sudo\" owned by root", sudoer.Name, got, uid)
		}
		// The login really was deploy's, and deploy's sudo ran the agent.
		sudoer.SSH(t, "journalctl -q --no-pager -o cat | grep -q 'Accepted publickey for deploy from'")
		sudoer.SSH(t, "journalctl -q --no-pager -o cat | grep -q 'deploy : .*USER=root ; COMMAND=/bin/sh -c'")

		e, ok := r.hostErrors()[asker.Name]
		want = "sudo on " + asker.Name + " wants a password"
		if !ok || !strings.Contains(e.Error, want) {
			t.Errorf("%s as asker, whose sudo wants a password: host_error %+v, want %q", asker.Name, e, want)
		} else {
			t.Logf("%s: %s: %s", asker.Name, e.Status, e.Error)
		}
		if c := recap[asker.Name]; c == nil || c.Changed != 0 || c.OK != 0 {
			t.Errorf("%s: recap %+v, want no task run", asker.Name, c)
		}
		if got, _ := guestFile(t, asker, "/etc/motd-provision"); got != "" {
			t.Errorf("%s: /etc/motd-provision was written: %q", asker.Name, got)
		}
	})

	t.Run("the Ansible sample repository", func(t *testing.T) {
		l.ansibleSample(t, inv)
	})

	t.Run("serial batches, run_once and max_fail_percentage", func(t *testing.T) {
		l.serialBatches(t)
	})
}

// serialPlay rolls over the fleet in batches of a quarter: one host per
// batch writes the run_once file; a failing host in the third batch is
// one of five, more than max_fail_percentage 10, so the fourth batch and
// the second play never run.
const serialPlay = `- name: rolling
  hosts: fleet
  serial: "25%"
  max_fail_percentage: 10
  tasks:
    - name: every host
      copy:
        content: "serial {{ inventory_hostname }}\n"
        dest: /var/tmp/provision-serial
    - name: one host per batch
      copy:
        content: "once {{ inventory_hostname }}\n"
        dest: /var/tmp/provision-once
      run_once: true
    - name: fail where the inventory says so
      command:
        argv: ["false"]
      when: fail_here
- name: after
  hosts: fleet
  tasks:
    - name: never reached
      copy:
        content: "after\n"
        dest: /var/tmp/provision-after
`

// serialBatches runs serialPlay over SSH and checks the batches on the
// hosts themselves.
func (l *fleetLab) serialBatches(t *testing.T) {
	var order []*testhost.Host // inventory order: web, then db
	for _, web := range []bool{true, false} {
		for _, h := range l.hosts {
			if l.web[h.Name] == web {
				order = append(order, h)
			}
		}
	}
	size := len(order) / 4
	failing := order[2*size+1]
	inv := l.inventory(t, "hosts-serial.yml", map[string]map[string]string{failing.Name: {"fail_here": "true"}})
	saved := l.play
	l.play = filepath.Join(filepath.Dir(saved), "serial.yml")
	defer func() { l.play = saved }()
	write(t, l.play, serialPlay)

	r := l.provision(t, 1, inv, "apply", "--output", "json")
	for b := 0; b < 3; b++ {
		var names []string
		for _, h := range order[b*size : (b+1)*size] {
			names = append(names, h.Name)
		}
		if want := fmt.Sprintf("batch %d of 4: %s\n", b+1, strings.Join(names, ", ")); !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if want := "1 of 5 hosts of the batch failed, more than max_fail_percentage 10%; the run stops"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
	// The events of a batch all come before the next batch's.
	last := map[string]time.Time{}
	first := map[string]time.Time{}
	for _, e := range r.events {
		if e.Host == "" {
			continue
		}
		if _, ok := first[e.Host]; !ok {
			first[e.Host] = e.Time
		}
		last[e.Host] = e.Time
	}
	for i, h := range order {
		ran := i < 3*size
		serial, _ := guestFile(t, h, "/var/tmp/provision-serial")
		once, _ := guestFile(t, h, "/var/tmp/provision-once")
		after, _ := guestFile(t, h, "/var/tmp/provision-after")
		if want := map[bool]string{true: "serial " + h.Name + "\n"}[ran]; serial != want {
			t.Errorf("%s (batch %d): provision-serial %q, want %q", h.Name, i/size+1, serial, want)
		}
		if want := map[bool]string{true: "once " + h.Name + "\n"}[ran && i%size == 0]; once != want {
			t.Errorf("%s (batch %d): provision-once %q, want %q", h.Name, i/size+1, once, want)
		}
		if after != "" {
			t.Errorf("%s: the play after the stop ran", h.Name)
		}
		if ran && i >= size {
			for _, prev := range order[(i/size-1)*size : (i/size)*size] {
				if !last[prev.Name].Before(first[h.Name]) {
					t.Errorf("%s (batch %d) started before %s of the batch before ended", h.Name, i/size+1, prev.Name)
				}
			}
		}
	}
	if c := r.recap(t)[failing.Name]; c == nil || c.Failed != 1 {
		t.Errorf("%s: recap %+v, want failed=1", failing.Name, c)
	}
	if n := len(r.recap(t)); n != 3*size {
		t.Errorf("recap of %d hosts, want %d: the last batch never ran", n, 3*size)
	}
}

// ansibleSample runs the Ansible sample repository of cmd/provision
// (roles, includes, blocks, FQCN modules, Jinja templates) unchanged on
// two hosts over SSH: it converges, and a second run changes nothing.
// sandbox and manage_sysctl leave out podman itself and the kernel
// setting (a guest's /proc/sys is read-only).
func (l *fleetLab) ansibleSample(t *testing.T, inv string) {
	sample, err := filepath.Abs("../cmd/provision/testdata/ansible/site.yml")
	if err != nil {
		t.Fatal(err)
	}
	saved := l.play
	l.play = sample
	defer func() { l.play = saved }()
	hosts := []*testhost.Host{l.hosts[10], l.hosts[11]}
	args := []string{"apply", "--output", "json", "-l", hosts[0].Name + "," + hosts[1].Name, "-e", "sandbox=true", "-e", "manage_sysctl=false"}
	recap := l.provision(t, 0, inv, args...).recap(t)
	for _, h := range hosts {
		// A task counts once, its loop items together, as in Ansible.
		if c := recap[h.Name]; c == nil || c.Failed != 0 || c.Changed != 3 {
			t.Errorf("%s: first run %+v, want changed=3 (the users, the subid files, motd), failed=0", h.Name, c)
		}
		for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
			if got, _ := guestFile(t, h, f); got != "alice:100000:65536\nbob:165536:65536\n" {
				t.Errorf("%s: %s %q", h.Name, f, got)
			}
		}
		if got, _ := guestFile(t, h, "/etc/motd"); got != "This Debian host runs rootless podman\nfor: alice,bob\n" {
			t.Errorf("%s: /etc/motd %q", h.Name, got)
		}
		if got := h.SSH(t, "getent passwd bob"); !strings.HasSuffix(strings.TrimSpace(got), ":/bin/sh") {
			t.Errorf("%s: bob is %q, want the role's login shell /bin/sh", h.Name, got)
		}
	}
	recap = l.provision(t, 0, inv, args...).recap(t)
	for _, h := range hosts {
		if c := recap[h.Name]; c == nil || c.Changed != 0 || c.Failed != 0 {
			t.Errorf("%s: second run %+v, want changed=0", h.Name, c)
		}
	}
}

// TestFleetOldestUserland runs a fleet apply over SSH to a Debian 11 host
// (glibc 2.31, the oldest userland the harness boots; issue 16): the agent
// the controller uploads is the static binary, and it starts there,
// converges the host and is a no-op the second time.
func TestFleetOldestUserland(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	start := time.Now()
	l := newFleetLabOf(t, testhost.Bullseye, 1)
	h := l.hosts[0]
	if got := h.SSH(t, "ldd --version | head -1"); !strings.HasSuffix(got, " 2.31") {
		t.Fatalf("ldd --version on %s: %q, want glibc 2.31", h.Name, got)
	}
	f, err := elf.Open(l.bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("the controller's binary %s has an ELF interpreter: it is not static", l.bin)
		}
	}
	f.Close()
	inv := filepath.Join(l.dir, "hosts.yml")
	r := l.provision(t, 0, inv, "apply", "--output", "json")
	if c := r.recap(t)[h.Name]; c == nil || c.Changed != 1 || c.Failed != 0 || c.Unreachable {
		t.Fatalf("apply on %s: %+v, want changed=1\n%s", h.Name, c, r.stdout)
	}
	want := fmt.Sprintf("managed by provision: %s on %s, stamp 1\n", l.role(h), h.Name)
	if got, uid := guestFile(t, h, "/etc/motd-provision"); got != want || uid != 0 {
		t.Errorf("/etc/motd-provision %q (uid %d), want %q", got, uid, want)
	}
	// The agent on the host is the controller's binary, byte for byte.
	local, err := os.ReadFile(l.bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(local)
	if got := h.SSH(t, "sha256sum /var/lib/provision/bin/* | cut -d' ' -f1 | sort -u"); got != hex.EncodeToString(sum[:]) {
		t.Errorf("agent binaries on %s: %q, want the controller's %x", h.Name, got, sum)
	}
	if c := l.provision(t, 0, inv, "apply", "--output", "json").recap(t)[h.Name]; c == nil || c.Changed != 0 || c.Failed != 0 {
		t.Errorf("second apply on %s: %+v, want changed=0", h.Name, c)
	}
	t.Logf("fleet apply to Debian 11, boot included: %.1fs", time.Since(start).Seconds())
}
