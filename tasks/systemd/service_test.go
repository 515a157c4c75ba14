package systemd

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

const passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n"

// newHost returns a test host with root and alice; booted makes it look
// like a host whose PID 1 is systemd (/run/systemd/system exists).
func newHost(t *testing.T, booted bool) (*tasks.System, *taskstest.FakeRunner) {
	t.Helper()
	sys, run := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/etc/passwd", passwd)
	taskstest.WriteFile(t, sys, "/etc/group", "root:x:0:\nalice:x:1000:\n")
	if booted {
		if err := os.MkdirAll(sys.MustPath("/run/systemd/system"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return sys, run
}

func ptr[T any](v T) *T { return &v }

func changes(p tasks.Plan) []string {
	var out []string
	for _, c := range p.Changes {
		out = append(out, c.Field+": "+c.Before+" -> "+c.After)
	}
	return out
}

func check(t *testing.T, sys *tasks.System, task tasks.Task) tasks.Plan {
	t.Helper()
	p, err := task.Check(context.Background(), sys)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return p
}

func wantChanges(t *testing.T, p tasks.Plan, want ...string) {
	t.Helper()
	if got := changes(p); !reflect.DeepEqual(got, want) {
		t.Errorf("plan:\n got  %q\n want %q", got, want)
	}
}

func TestServiceOnline(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		units []unitInfo
		// pending units appear at daemon-reload
		pending []unitInfo
		task    Service
		plan    []string
		calls   string
		warn    string
	}{
		{
			name:  "start and enable",
			units: []unitInfo{{Name: "web.service", UnitFileState: "disabled", SubState: "dead"}},
			task:  Service{Name: "web", State: "started", Enabled: ptr(true)},
			plan:  []string{"enabled: disabled -> true", "state: inactive (dead) -> started"},
			calls: "enable web.service; start web.service",
		},
		{
			name:  "converged",
			units: []unitInfo{{Name: "web.service", UnitFileState: "enabled", ActiveState: "active", SubState: "running"}},
			task:  Service{Name: "web.service", State: "started", Enabled: ptr(true)},
		},
		{
			name:  "unit file changed on disk",
			units: []unitInfo{{Name: "web.service", UnitFileState: "enabled", ActiveState: "active", SubState: "running", NeedDaemonReload: true}},
			task:  Service{Name: "web", State: "started"},
			plan:  []string{"daemon-reload: unit files changed on disk -> reloaded"},
			calls: "daemon-reload",
		},
		{
			name:    "new quadlet file: reload loads the generated unit, then start",
			pending: []unitInfo{{Name: "web.service", UnitFileState: "generated", SourcePath: "/etc/containers/systemd/web.container"}},
			task:    Service{Name: "web.container", State: "started", Enabled: ptr(true)},
			plan:    []string{"daemon-reload: unit not loaded -> reloaded", "state: (not loaded) -> started"},
			calls:   "daemon-reload; start web.service",
		},
		{
			name:  "generated unit: enabled by its quadlet file",
			files: map[string]string{"/etc/containers/systemd/web.container": "[Container]\nImage=x\n[Install]\nWantedBy=multi-user.target\n"},
			units: []unitInfo{{Name: "web.service", UnitFileState: "generated", ActiveState: "active", SourcePath: "/etc/containers/systemd/web.container"}},
			task:  Service{Name: "web.container", Enabled: ptr(true)},
		},
		{
			name:  "generated unit: its quadlet file does not enable it",
			files: map[string]string{"/etc/containers/systemd/web.container": "[Container]\nImage=x\n"},
			units: []unitInfo{{Name: "web.service", UnitFileState: "generated", ActiveState: "active", SourcePath: "/etc/containers/systemd/web.container"}},
			task:  Service{Name: "web.container", Enabled: ptr(true)},
			warn:  "web.service is generated from /etc/containers/systemd/web.container, whose [Install] section names no target: it will not start at boot",
		},
		{
			name:  "generated unit: cannot be disabled here",
			files: map[string]string{"/etc/containers/systemd/web.container": "[Container]\nImage=x\n[Install]\nWantedBy=multi-user.target\n"},
			units: []unitInfo{{Name: "web.service", UnitFileState: "generated", ActiveState: "active", SourcePath: "/etc/containers/systemd/web.container"}},
			task:  Service{Name: "web.container", Enabled: ptr(false)},
			warn:  "remove that section there to disable it",
		},
		{
			name:  "user scope, user created later in the run",
			task:  Service{Name: "app", State: "started", Enabled: ptr(true), Scope: "user", User: "bob"},
			plan:  []string{"enabled: (no user) -> true", "state: (no user) -> started"},
			warn:  "user bob does not exist yet; the plan assumes the unit is stopped",
			calls: "-",
		},
		{
			name:  "static unit",
			units: []unitInfo{{Name: "tmp.mount", UnitFileState: "static"}},
			task:  Service{Name: "tmp.mount", Enabled: ptr(true)},
			warn:  "static",
		},
		{
			name:  "stop a running unit",
			units: []unitInfo{{Name: "web.service", ActiveState: "active", SubState: "running"}},
			task:  Service{Name: "web", State: "stopped"},
			plan:  []string{"state: active (running) -> stopped"},
			calls: "stop web.service",
		},
		{
			name: "stopping a unit that does not exist is nothing to do",
			task: Service{Name: "nothere", State: "stopped", Enabled: ptr(false)},
		},
		{
			name:  "failed counts as stopped",
			units: []unitInfo{{Name: "web.service", ActiveState: "failed", SubState: "failed"}},
			task:  Service{Name: "web", State: "stopped"},
		},
		{
			name:  "disable",
			units: []unitInfo{{Name: "web.service", UnitFileState: "enabled"}},
			task:  Service{Name: "web", Enabled: ptr(false)},
			plan:  []string{"enabled: enabled -> false"},
			calls: "disable web.service",
		},
		{
			name:  "stop and mask",
			units: []unitInfo{{Name: "web.service", UnitFileState: "enabled", ActiveState: "active", SubState: "running"}},
			task:  Service{Name: "web", State: "stopped", Masked: ptr(true)},
			plan:  []string{"state: active (running) -> stopped", "masked: false -> true"},
			calls: "stop web.service; mask web.service",
		},
		{
			name:  "unmask, then start",
			units: []unitInfo{{Name: "web.service", LoadState: "masked", UnitFileState: "masked"}},
			task:  Service{Name: "web", State: "started", Masked: ptr(false)},
			plan:  []string{"masked: true -> false", "daemon-reload: unit unmasked on disk -> reloaded", "state: inactive -> started"},
			calls: "unmask web.service; daemon-reload; start web.service",
		},
		{
			name:  "unmasked on disk but not reloaded",
			units: []unitInfo{{Name: "web.service", LoadState: "masked", UnitFileState: "disabled"}},
			task:  Service{Name: "web", State: "started"},
			plan:  []string{"daemon-reload: unit unmasked on disk -> reloaded", "state: inactive -> started"},
			calls: "daemon-reload; start web.service",
		},
		{
			name:  "activating counts as started",
			units: []unitInfo{{Name: "web.service", ActiveState: "activating", SubState: "start"}},
			task:  Service{Name: "web", State: "started"},
		},
		{
			name:  "auto-restart does not",
			units: []unitInfo{{Name: "web.service", ActiveState: "activating", SubState: "auto-restart"}},
			task:  Service{Name: "web", State: "started"},
			plan:  []string{"state: activating (auto-restart) -> started"},
			calls: "start web.service",
		},
		{
			name:  "user scope",
			units: []unitInfo{{Name: "app.service", UnitFileState: "disabled"}},
			task:  Service{Name: "app", State: "started", Scope: "user", User: "alice"},
			plan:  []string{"state: inactive -> started"},
			calls: "start app.service",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sys, _ := newHost(t, true)
			for p, content := range c.files {
				taskstest.WriteFile(t, sys, p, content)
			}
			f := newFake()
			f.install(t, nil)
			for _, u := range c.units {
				f.add(u)
			}
			for _, u := range c.pending {
				f.pending[u.Name] = u
			}
			before := taskstest.Snapshot(t, sys)
			p := check(t, sys, &c.task)
			wantChanges(t, p, c.plan...)
			if f.Calls() != "" {
				t.Errorf("check made calls: %s", f.Calls())
			}
			if !reflect.DeepEqual(before, taskstest.Snapshot(t, sys)) {
				t.Errorf("check changed files")
			}
			if (c.warn == "") != (len(p.Warnings) == 0) || !strings.Contains(strings.Join(p.Warnings, "\n"), c.warn) {
				t.Errorf("warnings %q lack %q", p.Warnings, c.warn)
			}
			if c.calls == "-" {
				err := c.task.Apply(context.Background(), sys, p)
				if err == nil || err.Error() != `no such user "bob"` {
					t.Errorf("apply: %v", err)
				}
				return
			}
			taskstest.Converge(t, sys, &c.task)
			if got := f.Calls(); got != c.calls {
				t.Errorf("calls: %q, want %q", got, c.calls)
			}
		})
	}
}

// TestOneReloadPerRun: two unit files changed, two service tasks: the
// first reloads, which refreshes both, and the second plans nothing.
func TestOneReloadPerRun(t *testing.T) {
	sys, _ := newHost(t, true)
	f := newFake()
	f.install(t, nil)
	f.add(unitInfo{Name: "a.service", ActiveState: "active", NeedDaemonReload: true})
	f.add(unitInfo{Name: "b.service", ActiveState: "active", NeedDaemonReload: true})
	taskstest.Converge(t, sys, &Service{Name: "a", State: "started"})
	if p := check(t, sys, &Service{Name: "b", State: "started"}); !p.Empty() {
		t.Errorf("second service task plans %s", p)
	}
	if got := f.Calls(); got != "daemon-reload" {
		t.Errorf("calls %q, want one daemon-reload", got)
	}
}

// TestRestartedIsAnAction: restarted is imperative: it plans a restart each
// time it runs (it is meant for handlers), starts a stopped unit, and
// reloads stale unit files first.
func TestRestartedIsAnAction(t *testing.T) {
	sys, _ := newHost(t, true)
	f := newFake()
	f.install(t, nil)
	f.add(unitInfo{Name: "web.service", ActiveState: "active", SubState: "running", NeedDaemonReload: true})
	task := &Service{Name: "web", State: "restarted"}
	if !task.Imperative() {
		t.Fatal("restarted is not imperative")
	}
	if (&Service{Name: "web", State: "started"}).Imperative() {
		t.Fatal("started is imperative")
	}
	p := check(t, sys, task)
	wantChanges(t, p, "daemon-reload: unit files changed on disk -> reloaded", "state: active (running) -> restarted")
	if err := task.Apply(context.Background(), sys, p); err != nil {
		t.Fatal(err)
	}
	if got := f.Calls(); got != "daemon-reload; restart web.service" {
		t.Errorf("calls %q", got)
	}
	wantChanges(t, check(t, sys, task), "state: active (running) -> restarted")

	f.add(unitInfo{Name: "web.service", ActiveState: "inactive", SubState: "dead"})
	wantChanges(t, check(t, sys, task), "state: inactive (dead) -> started")
	wantChanges(t, check(t, sys, &Service{Name: "web", State: "reloaded"}), "state: inactive (dead) -> started")
	f.add(unitInfo{Name: "web.service", ActiveState: "active", SubState: "running"})
	f.reset()
	r := &Service{Name: "web", State: "reloaded"}
	p = check(t, sys, r)
	wantChanges(t, p, "state: active (running) -> reloaded")
	if err := r.Apply(context.Background(), sys, p); err != nil {
		t.Fatal(err)
	}
	if got := f.Calls(); got != "reload web.service" {
		t.Errorf("calls %q", got)
	}
}

// TestFailedJobShowsJournal: a failed start is reported with the unit's
// journal lines, read with journalctl since the job was queued.
func TestFailedJobShowsJournal(t *testing.T) {
	for _, mode := range []string{"failed", "after:failed"} {
		t.Run(mode, func(t *testing.T) {
			sys, run := newHost(t, true)
			f := newFake()
			f.install(t, nil)
			f.add(unitInfo{Name: "bad.service"})
			f.failOn["bad.service"] = mode
			run.On("journalctl", func(c tasks.Cmd) tasks.Result {
				return tasks.Result{Stdout: "Starting bad.service...\nboom: no such file\nbad.service: Failed with result 'exit-code'.\n"}
			})
			task := &Service{Name: "bad", State: "started"}
			p := check(t, sys, task)
			err := task.Apply(context.Background(), sys, p)
			if err == nil {
				t.Fatal("apply of a failing unit succeeded")
			}
			want := "start bad.service: job failed; last journal lines:\n    Starting bad.service...\n    boom: no such file\n"
			if mode != "failed" {
				want = "start bad.service: unit failed right after the job (exit-code); last journal lines:\n    Starting bad.service..."
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, want)
			}
			cmds := run.Commands()
			for _, c := range cmds {
				if !strings.HasPrefix(c, "journalctl --no-pager -o cat -n 20 --since @") || !strings.HasSuffix(c, " -u bad.service") {
					t.Errorf("journal command: %q", cmds)
				}
			}
			if len(cmds) == 0 || len(cmds) > 2 {
				t.Errorf("journal read %d times: %q", len(cmds), cmds)
			}
		})
	}
}

// TestFailedJobWaitsForTheJournal: right after a failure journald may not
// hold systemd's messages yet; the error waits for them.
func TestFailedJobWaitsForTheJournal(t *testing.T) {
	saved := journalPoll
	journalPoll = time.Millisecond
	t.Cleanup(func() { journalPoll = saved })
	sys, run := newHost(t, true)
	f := newFake()
	f.install(t, nil)
	f.add(unitInfo{Name: "bad.service"})
	f.failOn["bad.service"] = "after:failed"
	reads := 0
	run.On("journalctl", func(c tasks.Cmd) tasks.Result {
		reads++
		if reads < 3 {
			return tasks.Result{Stdout: "Starting bad.service...\n"}
		}
		return tasks.Result{Stdout: "Starting bad.service...\nbad: config error\nbad.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED\n"}
	})
	task := &Service{Name: "bad", State: "started"}
	err := task.Apply(context.Background(), sys, check(t, sys, task))
	if err == nil || !strings.Contains(err.Error(), "bad: config error") || !strings.Contains(err.Error(), "status=3") {
		t.Fatalf("error %v after %d journal reads", err, reads)
	}
}

func TestUserJournalMatches(t *testing.T) {
	sys, run := newHost(t, true)
	run.Reply("journalctl", "line\n", 0)
	got := journalLines(context.Background(), sys, scope{Name: "alice", UID: 1000}, "web.service", timeZero)
	if got != "line" {
		t.Errorf("lines %q", got)
	}
	want := "journalctl --no-pager -o cat -n 20 _SYSTEMD_USER_UNIT=web.service _UID=1000 + USER_UNIT=web.service _UID=1000"
	if cmds := run.Commands(); len(cmds) != 1 || cmds[0] != want {
		t.Errorf("command %q, want %q", cmds, want)
	}
}

func TestMaskedNeedsUnmask(t *testing.T) {
	sys, _ := newHost(t, true)
	f := newFake()
	f.install(t, nil)
	f.add(unitInfo{Name: "web.service", LoadState: "masked", UnitFileState: "masked"})
	_, err := (&Service{Name: "web", State: "started"}).Check(context.Background(), sys)
	if err == nil || !strings.Contains(err.Error(), "web.service is masked: set masked: false") {
		t.Errorf("error %v", err)
	}
}

func TestCannotMaskOwnUnitFile(t *testing.T) {
	sys, _ := newHost(t, true)
	f := newFake()
	f.install(t, nil)
	f.add(unitInfo{Name: "web.service", FragmentPath: "/etc/systemd/system/web.service"})
	_, err := (&Service{Name: "web", Masked: ptr(true)}).Check(context.Background(), sys)
	if err == nil || err.Error() != "cannot mask web.service: its unit file is /etc/systemd/system/web.service (remove it first, with systemd_unit state: absent)" {
		t.Errorf("error %v", err)
	}
}

func TestNotFoundAfterReload(t *testing.T) {
	sys, _ := newHost(t, true)
	f := newFake()
	f.install(t, nil)
	task := &Service{Name: "ghost", State: "started"}
	p := check(t, sys, task)
	wantChanges(t, p, "daemon-reload: unit not loaded -> reloaded", "state: (not loaded) -> started")
	err := task.Apply(context.Background(), sys, p)
	if err == nil || err.Error() != "no unit ghost.service (not found after daemon-reload)" {
		t.Errorf("error %v", err)
	}
}

// TestNoUserManager: in check mode before the linger task, the user's
// manager is not running; the plan says what would happen, with a warning,
// and Apply fails plainly if it is still not running.
func TestNoUserManager(t *testing.T) {
	sys, _ := newHost(t, true)
	f := newFake()
	f.noManager = true
	f.install(t, nil)
	task := &Service{Name: "web.container", Scope: "user", User: "alice", State: "started", Enabled: ptr(true)}
	p := check(t, sys, task)
	wantChanges(t, p, "state: (user manager not running) -> started")
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "alice's user manager is not running") {
		t.Errorf("warnings %q", p.Warnings)
	}
	if err := task.Apply(context.Background(), sys, p); err == nil || !strings.Contains(err.Error(), "user manager is not running") {
		t.Errorf("apply: %v", err)
	}
	// The manager has started meanwhile (linger): Apply plans again.
	f.noManager = false
	f.add(unitInfo{Name: "web.service", UnitFileState: "generated"})
	if err := task.Apply(context.Background(), sys, p); err != nil {
		t.Fatal(err)
	}
	if got := f.Calls(); got != "start web.service" {
		t.Errorf("calls %q", got)
	}
}

func TestServiceValidate(t *testing.T) {
	cases := []struct {
		task Service
		err  string
	}{
		{Service{Name: "web"}, ""},
		{Service{Name: "web.container", Scope: "user", User: "alice"}, ""},
		{Service{Name: "getty@tty1.service", State: "started"}, ""},
		{Service{Name: ""}, "name: is required"},
		{Service{Name: "-web"}, "name: must not start with '-'"},
		{Service{Name: "a/b"}, "name: is not a unit name: a/b"},
		{Service{Name: "web", State: "running"}, "state: must be started, stopped, restarted or reloaded, not running"},
		{Service{Name: "web", State: "started", Masked: ptr(true)}, "masked: a masked unit cannot be started"},
		{Service{Name: "web", Enabled: ptr(true), Masked: ptr(true)}, "masked: a masked unit cannot be enabled"},
		{Service{Name: "web", Scope: "user"}, "user: is required with scope: user"},
		{Service{Name: "web", User: "alice"}, "user: is only for scope: user"},
		{Service{Name: "web", Scope: "global"}, "scope: must be system or user, not global"},
		{Service{Name: "web", Scope: "user", User: "-x"}, "user: is not a valid user name: -x"},
	}
	for _, c := range cases {
		err := c.task.Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.err {
			t.Errorf("%+v: error %q, want %q", c.task, got, c.err)
		}
	}
}

func TestServiceNames(t *testing.T) {
	for in, want := range map[string]string{
		"web": "web.service", "web.service": "web.service", "web.socket": "web.socket",
		"web.container": "web.service", "data.volume": "data-volume.service", "net.network": "net-network.service",
		"app.kube": "app.service", "pod1.pod": "pod1-pod.service", "img.image": "img-image.service",
	} {
		if got := serviceName(in); got != want {
			t.Errorf("serviceName(%q) = %q, want %q", in, got, want)
		}
	}
}

var timeZero = time.Time{}
