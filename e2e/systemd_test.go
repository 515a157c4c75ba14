//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/testhost"
)

// The systemd modules (service, systemd_unit, linger) and pull mode on
// booted Debian hosts, where systemd is PID 1 and D-Bus works: the real
// go-systemd connections that the unit tests replace with fakes.

// sdDemoPlay writes demo.service (its environment carries the version, so
// a restart is visible in the process), keeps it enabled and running, and
// restarts it from a handler only when the unit file changed.
const sdDemoPlay = `- name: demo
  hosts: all
  tasks:
    - name: demo unit
      systemd_unit:
        name: demo.service
        content: |
          [Unit]
          Description=demo {{ version }}
          [Service]
          Environment=DEMO_VERSION={{ version }}
          ExecStart=/bin/sleep infinity
          [Install]
          WantedBy=multi-user.target
      notify: restart demo
    - name: demo runs
      service:
        name: demo
        state: started
        enabled: true
  handlers:
    - name: restart demo
      service:
        name: demo
        state: restarted
`

// sdShow reads unit properties with systemctl show (the test's own view,
// independent of provision's D-Bus code).
func sdShow(t *testing.T, h *testhost.Host, unit string, props ...string) map[string]string {
	t.Helper()
	out := h.SSH(t, "systemctl show "+unit+" -p "+strings.Join(props, " -p "))
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// sdCursor returns the journal's current cursor, to read what comes after.
func sdCursor(t *testing.T, h *testhost.Host) string {
	t.Helper()
	out := h.SSH(t, "journalctl -n 0 --show-cursor --no-pager")
	c, ok := strings.CutPrefix(strings.TrimSpace(out[strings.LastIndex(out, "\n")+1:]), "-- cursor: ")
	if !ok {
		t.Fatalf("no cursor in %q", out)
	}
	return c
}

// sdSystemdSince returns what systemd (PID 1) logged after the cursor.
func sdSystemdSince(t *testing.T, h *testhost.Host, cursor string) []string {
	t.Helper()
	out := h.SSH(t, "journalctl --no-pager -o cat _PID=1 --after-cursor '"+cursor+"'")
	return strings.Split(out, "\n")
}

func sdCount(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func sdStatuses(evs []report.Event) map[string]string {
	m := map[string]string{}
	for _, e := range testhost.TaskResults(evs) {
		name := e.Task
		if e.Handler {
			name = "handler " + name
		}
		m[name] = e.Status
	}
	return m
}

func sdExpect(t *testing.T, what string, evs []report.Event, want map[string]string) {
	t.Helper()
	got := sdStatuses(evs)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: task statuses %v, want %v", what, got, want)
	}
}

// TestSystemdServiceLifecycle: a unit written, enabled and started; a
// converged re-run that changes and restarts nothing; its file changed,
// so systemd is reloaded once and the unit restarted once; converged again.
func TestSystemdServiceLifecycle(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	h := testhost.Boot(t, testhost.Debian, testhost.Options{})
	h.InstallProvision(t)
	if err := h.WriteFile("/root/demo.yml", []byte(sdDemoPlay), 0o644); err != nil {
		t.Fatal(err)
	}
	const props = "ExecMainStartTimestampMonotonic"

	evs, _ := h.Provision(t, 2, "check", "/root/demo.yml", "-e", "version=1")
	sdExpect(t, "check on a fresh host", evs, map[string]string{"demo unit": "changed", "demo runs": "changed", "handler restart demo": "changed"})

	evs, _ = h.Provision(t, 0, "apply", "/root/demo.yml", "-e", "version=1")
	sdExpect(t, "first apply", evs, map[string]string{"demo unit": "changed", "demo runs": "changed", "handler restart demo": "changed"})
	if got := h.SSH(t, "systemctl is-enabled demo.service; systemctl is-active demo.service"); got != "enabled\nactive" {
		t.Fatalf("after the first apply: %q", got)
	}
	first := sdShow(t, h, "demo.service", props, "MainPID")

	// Converged: nothing changes, nothing restarts.
	cursor := sdCursor(t, h)
	evs, _ = h.Provision(t, 0, "apply", "/root/demo.yml", "-e", "version=1")
	sdExpect(t, "converged re-run", evs, map[string]string{"demo unit": "ok", "demo runs": "ok"})
	h.Provision(t, 0, "check", "/root/demo.yml", "-e", "version=1")
	again := sdShow(t, h, "demo.service", props, "MainPID")
	if again[props] != first[props] || again["MainPID"] != first["MainPID"] {
		t.Errorf("converged re-run restarted demo: %v, then %v", first, again)
	}
	if lines := sdSystemdSince(t, h, cursor); sdCount(lines, "Reloading") != 0 || sdCount(lines, "Stopping demo.service") != 0 {
		t.Errorf("converged re-run: systemd logged:\n%s", strings.Join(lines, "\n"))
	}

	// The unit file changes: one daemon-reload, one restart, new process.
	cursor = sdCursor(t, h)
	evs, _ = h.Provision(t, 0, "apply", "/root/demo.yml", "-e", "version=2")
	sdExpect(t, "changed unit", evs, map[string]string{"demo unit": "changed", "demo runs": "changed", "handler restart demo": "changed"})
	for _, e := range testhost.TaskResults(evs, "changed") {
		if e.Task == "demo runs" && (len(e.Changes) != 1 || e.Changes[0].Field != "daemon-reload") {
			t.Errorf("demo runs: changes %+v, want only the daemon-reload", e.Changes)
		}
	}
	lines := sdSystemdSince(t, h, cursor)
	if sdCount(lines, "Reloading") != 1 || sdCount(lines, "Stopping demo.service") != 1 || sdCount(lines, "Started demo.service") != 1 {
		t.Errorf("changed unit: want one reload and one restart; systemd logged:\n%s", strings.Join(lines, "\n"))
	}
	second := sdShow(t, h, "demo.service", props, "MainPID", "NeedDaemonReload")
	if second[props] == first[props] || second["NeedDaemonReload"] != "no" {
		t.Errorf("after the change: %v (before %v)", second, first)
	}
	if env := h.SSH(t, "tr '\\0' '\\n' < /proc/"+second["MainPID"]+"/environ | grep DEMO_VERSION"); env != "DEMO_VERSION=2" {
		t.Errorf("the running process has %q", env)
	}

	evs, _ = h.Provision(t, 0, "apply", "/root/demo.yml", "-e", "version=2")
	sdExpect(t, "converged after the change", evs, map[string]string{"demo unit": "ok", "demo runs": "ok"})
	if third := sdShow(t, h, "demo.service", props); third[props] != second[props] {
		t.Errorf("converged re-run restarted demo: %v, then %v", second, third)
	}

	// Stopped and disabled.
	const stop = `- hosts: all
  tasks:
    - service: {name: demo, state: stopped, enabled: false}
`
	h.WriteFile("/root/stop.yml", []byte(stop), 0o644)
	h.Provision(t, 0, "apply", "/root/stop.yml")
	if got := h.SSH(t, "systemctl is-enabled demo.service; systemctl is-active demo.service; true"); got != "disabled\ninactive" {
		t.Errorf("after stop and disable: %q", got)
	}
	evs, _ = h.Provision(t, 0, "apply", "/root/stop.yml")
	if n := len(testhost.TaskResults(evs, "changed")); n != 0 {
		t.Errorf("stop again: %d changed", n)
	}

	// A package's unit (in /lib) masked, then unmasked and started: the
	// manager keeps a unit masked until a reload, which the task does.
	h.WriteFile("/lib/systemd/system/vendor-demo.service", []byte("[Service]\nExecStart=/bin/sleep infinity\n"), 0o644)
	const mask = `- hosts: all
  tasks:
    - service: {name: vendor-demo, state: stopped, masked: true}
`
	const unmask = `- hosts: all
  tasks:
    - service: {name: vendor-demo, state: started, masked: false}
`
	h.WriteFile("/root/mask.yml", []byte(mask), 0o644)
	h.WriteFile("/root/unmask.yml", []byte(unmask), 0o644)
	h.Provision(t, 0, "apply", "/root/mask.yml")
	if got := h.SSH(t, "systemctl is-enabled vendor-demo.service; true"); got != "masked" {
		t.Errorf("after mask: %q", got)
	}
	evs, _ = h.Provision(t, 0, "apply", "/root/unmask.yml")
	if ch := testhost.TaskResults(evs, "changed"); len(ch) != 1 || len(ch[0].Changes) != 3 {
		t.Errorf("unmask and start: %+v", ch)
	}
	if got := h.SSH(t, "systemctl is-enabled vendor-demo.service; systemctl is-active vendor-demo.service; true"); got != "static\nactive" {
		t.Errorf("after unmask and start: %q", got)
	}
	evs, _ = h.Provision(t, 0, "apply", "/root/unmask.yml")
	if n := len(testhost.TaskResults(evs, "changed")); n != 0 {
		t.Errorf("unmask again: %d changed", n)
	}
}

// TestSystemdFailingUnit: a unit that fails to start fails the task with
// the unit's journal lines, for a oneshot (the job fails) and for a simple
// service that dies right after its start job is done.
func TestSystemdFailingUnit(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	h := testhost.Boot(t, testhost.Debian, testhost.Options{})
	h.InstallProvision(t)
	for _, typ := range []string{"oneshot", "simple"} {
		play := fmt.Sprintf(`- hosts: all
  tasks:
    - systemd_unit:
        name: bad-%[1]s.service
        content: |
          [Service]
          Type=%[1]s
          ExecStart=/bin/sh -c 'echo "bad-%[1]s: config error: /etc/bad.conf is missing" >&2; exit 3'
    - name: bad runs
      service:
        name: bad-%[1]s
        state: started
`, typ)
		h.WriteFile("/root/bad.yml", []byte(play), 0o644)
		evs, _ := h.Provision(t, 1, "apply", "/root/bad.yml")
		failed := testhost.TaskResults(evs, "failed")
		if len(failed) != 1 || failed[0].Task != "bad runs" {
			t.Fatalf("%s: failed tasks %+v", typ, failed)
		}
		msg := failed[0].Error
		for _, want := range []string{"start bad-" + typ + ".service: ", "last journal lines:", "bad-" + typ + ": config error: /etc/bad.conf is missing", "status=3"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error lacks %q:\n%s", typ, want, msg)
			}
		}
		t.Logf("%s: the task's error:\n%s", typ, msg)
	}
}

// sdQuadlet builds Podman's Quadlet generator. Debian 12 ships podman
// 4.3.1, which predates Quadlet (4.4), so the test builds quadlet from
// podman v4.9.5 through the Go module proxy once and caches it; the guest
// runs it as its user generator with its own podman 4.3.1.
func sdQuadlet(t *testing.T) string {
	t.Helper()
	out := filepath.Join(testhost.CacheDir(), "quadlet-v4.9.5")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module quadletbuild\n\ngo 1.22\n\nrequire github.com/containers/podman/v4 v4.9.5\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tools.go"), []byte("package main\n\nimport _ \"github.com/containers/podman/v4/cmd/quadlet\"\n\nfunc main() {}\n"), 0o644)
	cmd := exec.Command("go", "build", "-o", out+".tmp", "github.com/containers/podman/v4/cmd/quadlet")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		testhost.Skipf(t, "cannot build Quadlet from podman v4.9.5 (Debian 12's podman 4.3.1 has none): %v\n%s", err, b)
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		t.Fatal(err)
	}
	return out
}

// sdQuadletPlay makes carol a lingering user whose manager runs a rootless
// container from a Quadlet file, and restarts it when the file changes.
// Two Quadlet lines are for this lab: the hosts' cgroup v1 hierarchy has
// nothing delegated (--cgroups=disabled), and podman 4.3.1 leaves the
// cidfile of a stopped container behind (ExecStartPre removes it).
const sdQuadletPlay = `- name: rootless web
  hosts: all
  tasks:
    - name: carol
      user:
        name: carol
    - name: carol lingers
      linger:
        user: carol
    - name: carol's image
      command:
        argv: [podman, import, --change, 'CMD ["/bin/sh"]', /srv/busybox.tar, localhost/bb]
        creates: /home/carol/.local/share/containers/storage/overlay-images/images.json
      become_user: carol
    - name: web container
      systemd_unit:
        name: web.container
        scope: user
        user: carol
        content: |
          [Container]
          Image=localhost/bb
          Exec=sleep {{ seconds }}
          PodmanArgs=--cgroups=disabled
          [Service]
          ExecStartPre=-/bin/rm -f %t/%N.cid
          [Install]
          WantedBy=default.target
      notify: restart web
    - name: web runs
      service:
        name: web.container
        scope: user
        user: carol
        state: started
        enabled: true
  handlers:
    - name: restart web
      service:
        name: web.container
        scope: user
        user: carol
        state: restarted
`

// TestSystemdRootlessQuadlet: lingering on, and a rootless Quadlet
// container from a local image started by carol's manager, running after
// the SSH session that provisioned it has ended, and restarted once when
// its Quadlet file changes.
func TestSystemdRootlessQuadlet(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	quadlet := sdQuadlet(t)
	h := testhost.Boot(t, testhost.Debian, testhost.Options{})
	h.InstallProvision(t)
	h.SSH(t, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman uidmap containers-storage >/dev/null")
	if err := h.CopyIn(quadlet, "/usr/libexec/podman/quadlet"); err != nil {
		t.Fatal(err)
	}
	h.SSH(t, "ln -sf /usr/libexec/podman/quadlet /usr/lib/systemd/user-generators/podman-user-generator && ln -sf /usr/libexec/podman/quadlet /usr/lib/systemd/system-generators/podman-system-generator")
	if err := h.CopyIn(testhost.BusyboxRootfs(t), "/srv/busybox.tar"); err != nil {
		t.Fatal(err)
	}
	h.SSH(t, "chmod 644 /srv/busybox.tar")
	h.WriteFile("/root/web.yml", []byte(sdQuadletPlay), 0o644)

	evs, _ := h.Provision(t, 0, "apply", "/root/web.yml", "-e", "seconds=100000")
	sdExpect(t, "first apply", evs, map[string]string{"carol": "changed", "carol lingers": "changed", "carol's image": "changed",
		"web container": "changed", "web runs": "changed", "handler restart web": "changed"})
	evs, _ = h.Provision(t, 0, "apply", "/root/web.yml", "-e", "seconds=100000")
	sdExpect(t, "second apply", evs, map[string]string{"carol": "ok", "carol lingers": "ok", "carol's image": "ok", "web container": "ok", "web runs": "ok"})

	// The provisioning sessions have ended; carol never logged in.
	uid := h.SSH(t, "id -u carol")
	logind := h.SSH(t, "loginctl show-user carol -p Linger -p Sessions -p State")
	for _, want := range []string{"Linger=yes", "State=lingering", "Sessions="} {
		if !strings.Contains("\n"+logind+"\n", "\n"+want+"\n") {
			t.Errorf("carol in logind: %q lacks %s", logind, want)
		}
	}
	asCarol := "cd / && runuser -u carol -- env XDG_RUNTIME_DIR=/run/user/" + uid + " "
	if got := h.SSH(t, asCarol+"systemctl --user is-active web.service"); got != "active" {
		t.Errorf("web.service: %q", got)
	}
	ps := h.SSH(t, asCarol+"podman ps --format '{{.Names}} {{.Command}} {{.Pid}}'")
	f := strings.Fields(ps)
	if len(f) < 3 || f[0] != "systemd-web" || f[1] != "sleep" || f[2] != "100000" {
		t.Fatalf("carol's containers: %q", ps)
	}
	// The container's process lives in the unit's cgroup, under carol's manager.
	pid := strings.Fields(h.SSH(t, asCarol+"podman inspect -f '{{.State.Pid}}' systemd-web"))[0]
	if cg := h.SSH(t, "grep name=systemd /proc/"+pid+"/cgroup"); !strings.Contains(cg, "/user@"+uid+".service/app.slice/web.service") {
		t.Errorf("container cgroup %q", cg)
	}
	// Still running in a later session, after a pause.
	time.Sleep(2 * time.Second)
	if got := h.SSH(t, asCarol+"podman ps --format '{{.Names}}'"); got != "systemd-web" {
		t.Errorf("later: carol's containers %q", got)
	}

	// The Quadlet file changes: reloaded and restarted with the new command.
	evs, _ = h.Provision(t, 0, "apply", "/root/web.yml", "-e", "seconds=200000")
	sdExpect(t, "changed quadlet", evs, map[string]string{"carol": "ok", "carol lingers": "ok", "carol's image": "ok",
		"web container": "changed", "web runs": "changed", "handler restart web": "changed"})
	if got := h.SSH(t, asCarol+"podman ps --format '{{.Names}} {{.Command}}'"); got != "systemd-web sleep 200000" {
		t.Errorf("after the change: %q", got)
	}
	evs, _ = h.Provision(t, 0, "apply", "/root/web.yml", "-e", "seconds=200000")
	if n := len(testhost.TaskResults(evs, "changed")); n != 0 {
		t.Errorf("converged re-run: %d changed", n)
	}
}

// TestSystemdOfflineEnable: provision enables a unit in a tree that is not
// running (--root, on this machine, whose PID 1 is not systemd either):
// the unit file and the link its [Install] section names, with a warning
// that starting is skipped. The tree then becomes part of a guest's root
// (an overlay on /etc/systemd/system), and booting shows the unit enabled
// and started at boot; the same playbook run in the guest over D-Bus finds
// nothing to change.
func TestSystemdOfflineEnable(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	bin := testhost.BuildProvision(t)
	tree := t.TempDir()
	play := `- hosts: all
  tasks:
    - name: offline unit
      systemd_unit:
        name: offline-demo.service
        content: |
          [Service]
          ExecStart=/bin/sleep infinity
          [Install]
          WantedBy=multi-user.target
    - name: offline unit runs
      service:
        name: offline-demo
        state: started
        enabled: true
`
	pb := filepath.Join(t.TempDir(), "offline.yml")
	os.WriteFile(pb, []byte(play), 0o644)
	out, err := exec.Command(bin, "apply", "--root", tree, "--output", "json", pb).CombinedOutput()
	if err != nil {
		t.Fatalf("provision apply --root: %v\n%s", err, out)
	}
	evs, err := testhost.ParseEvents(string(out))
	if err != nil {
		t.Fatal(err)
	}
	var warned bool
	for _, e := range testhost.TaskResults(evs, "changed") {
		for _, w := range e.Warnings {
			warned = warned || strings.Contains(w, "offline") && strings.Contains(w, "state started of offline-demo.service is skipped")
		}
	}
	if !warned || len(testhost.TaskResults(evs, "changed")) != 2 {
		t.Errorf("offline apply: %s", out)
	}
	link := filepath.Join(tree, "etc/systemd/system/multi-user.target.wants/offline-demo.service")
	if target, err := os.Readlink(link); err != nil || target != "/etc/systemd/system/offline-demo.service" {
		t.Fatalf("link %s: %q %v", link, target, err)
	}
	out, err = exec.Command(bin, "apply", "--root", tree, pb).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "changed=0") {
		t.Errorf("second offline apply: %v\n%s", err, out)
	}

	h := testhost.Boot(t, testhost.Debian, testhost.Options{NspawnArgs: []string{
		"--overlay=+/etc/systemd/system:" + filepath.Join(tree, "etc/systemd/system") + ":/etc/systemd/system"}})
	if got := h.SSH(t, "systemctl is-enabled offline-demo.service; systemctl is-active offline-demo.service"); got != "enabled\nactive" {
		t.Fatalf("booted guest: %q", got)
	}
	// Started at boot, before the test logged in.
	started := sdShow(t, h, "offline-demo.service", "ActiveEnterTimestampMonotonic")["ActiveEnterTimestampMonotonic"]
	sshd := sdShow(t, h, "ssh.service", "ActiveEnterTimestampMonotonic")["ActiveEnterTimestampMonotonic"]
	a, _ := strconv.ParseInt(started, 10, 64)
	b, _ := strconv.ParseInt(sshd, 10, 64)
	if a == 0 || b == 0 || a > b+5_000_000 {
		t.Errorf("offline-demo started at %s µs after boot, sshd at %s", started, sshd)
	}
	h.InstallProvision(t)
	h.WriteFile("/root/offline.yml", []byte(play), 0o644)
	evs, _ = h.Provision(t, 0, "apply", "/root/offline.yml")
	if n := len(testhost.TaskResults(evs, "changed")); n != 0 {
		t.Errorf("online apply of the offline playbook: %d changed: %+v", n, testhost.TaskResults(evs, "changed"))
	}
}

// sdPullPlay is what the pull timer keeps applied.
const sdPullPlay = `- name: pulled
  hosts: all
  tasks:
    - name: motd
      copy:
        dest: /etc/motd
        content: "managed by provision pull\n"
`

// TestSystemdPull: `provision pull` installs provision-pull.service and
// .timer idempotently; the timer fires by itself and repairs injected
// drift, which shows in `journalctl -t provision` with structured fields
// and in `provision status`; a check-mode timer only reports drift;
// --remove takes it all away.
func TestSystemdPull(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	h := testhost.Boot(t, testhost.Debian, testhost.Options{})
	h.InstallProvision(t)
	h.WriteFile("/etc/provision/site.yml", []byte(sdPullPlay), 0o644)

	out := h.SSH(t, "provision pull --playbook /etc/provision/site.yml --every 20s")
	if !strings.HasPrefix(out, "changed: pull mode installed") {
		t.Errorf("install: %s", out)
	}
	if out := h.SSH(t, "provision pull --playbook /etc/provision/site.yml --every 20s"); !strings.HasPrefix(out, "ok: pull mode already installed") {
		t.Errorf("second install: %s", out)
	}
	if got := h.SSH(t, "systemctl is-enabled provision-pull.timer; systemctl is-active provision-pull.timer"); got != "enabled\nactive" {
		t.Fatalf("timer: %q", got)
	}

	// Drift, then wait for the timer (not a manual start) to repair it.
	h.SSH(t, "echo drifted > /etc/motd")
	deadline := time.Now().Add(90 * time.Second)
	for h.SSH(t, "cat /etc/motd") != "managed by provision pull" {
		if time.Now().After(deadline) {
			t.Fatalf("the timer did not repair /etc/motd in 90s; timers:\n%s\njournal:\n%s", h.SSH(t, "systemctl list-timers --all --no-pager"), h.JournalTail(40))
		}
		time.Sleep(2 * time.Second)
	}
	// The unit ran from the timer, and logged structured entries.
	if got := sdShow(t, h, "provision-pull.service", "Result", "NRestarts")["Result"]; got != "success" {
		t.Errorf("provision-pull.service result %q", got)
	}
	deadline = time.Now().Add(10 * time.Second)
	var entries string
	for time.Now().Before(deadline) {
		entries = h.SSH(t, "journalctl -t provision --no-pager -o verbose TASK=motd STATUS=changed")
		if strings.Contains(entries, "CHANGED=true") {
			break
		}
		time.Sleep(time.Second)
	}
	for _, want := range []string{"MESSAGE=changed: motd", "TASK=motd", "STATUS=changed", "CHANGED=true", "HOST=", "SYSLOG_IDENTIFIER=provision", "_SYSTEMD_UNIT=provision-pull.service"} {
		if !strings.Contains(entries, want) {
			t.Errorf("journal entry lacks %s:\n%s", want, entries)
		}
	}
	summary := h.SSH(t, "journalctl -t provision --no-pager -o cat DRIFT=1 | tail -1")
	if summary != "pull run: drift repaired" {
		t.Errorf("summary entry %q", summary)
	}
	status := h.SSH(t, "provision status -n 50")
	if !strings.Contains(status, "pull: every 20s, apply /etc/provision/site.yml (provision-pull.timer)") || !strings.Contains(status, "drift repaired") {
		t.Errorf("provision status:\n%s", status)
	}
	state := h.SSH(t, "cat /var/lib/provision/pull-state.json")
	if !strings.Contains(state, `"drift": 1`) {
		t.Errorf("state file:\n%s", state)
	}

	// Check mode: the timer is replaced (restarted); a run reports drift,
	// succeeds for systemd (exit 2) and changes nothing.
	if out := h.SSH(t, "provision pull --playbook /etc/provision/site.yml --every 1h --check"); !strings.HasPrefix(out, "changed: pull mode installed") || !strings.Contains(out, "state: active (waiting) -> restarted") {
		t.Errorf("check-mode install: %s", out)
	}
	if got := h.SSH(t, "grep -c -- '--check' /etc/systemd/system/provision-pull.service; systemctl show provision-pull.timer -p NeedDaemonReload"); got != "1\nNeedDaemonReload=no" {
		t.Errorf("check-mode units: %q", got)
	}
	h.SSH(t, "echo drifted again > /etc/motd")
	h.SSH(t, "systemctl start provision-pull.service")
	if got := h.SSH(t, "cat /etc/motd"); got != "drifted again" {
		t.Errorf("a check run changed /etc/motd: %q", got)
	}
	if got := sdShow(t, h, "provision-pull.service", "Result", "ExecMainStatus"); got["Result"] != "success" || got["ExecMainStatus"] != "2" {
		t.Errorf("check run: %v", got)
	}
	if last := strings.Split(h.SSH(t, "provision status -n 1"), "\n"); !strings.Contains(last[len(last)-1], "check") || !strings.Contains(last[len(last)-1], "drift found") {
		t.Errorf("status after a check run: %q", last)
	}
	if got := h.SSH(t, "journalctl -t provision --no-pager -o cat CHECK=true STATUS=changed | tail -1"); !strings.HasPrefix(got, "drift: motd") {
		t.Errorf("check-mode journal entry %q", got)
	}

	if out := h.SSH(t, "provision pull --remove"); !strings.HasPrefix(out, "changed: pull mode removed") {
		t.Errorf("remove: %s", out)
	}
	if got := h.SSH(t, "find /etc/systemd/system -name 'provision-pull*' | wc -l; systemctl is-active provision-pull.timer || true"); got != "0\ninactive" {
		t.Errorf("after remove: %q", got)
	}
	if out := h.SSH(t, "provision pull --remove"); !strings.HasPrefix(out, "ok: pull mode already removed") {
		t.Errorf("second remove: %s", out)
	}
}
