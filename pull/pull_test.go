package pull

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/sirupsen/logrus"

	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
	_ "github.com/provision-tool/provision/tasks/files"
	"github.com/provision-tool/provision/tasks/taskstest"
)

var opts = Options{Playbook: "/etc/provision/site.yml", Every: 30 * time.Minute, Binary: "/usr/local/bin/provision"}

func TestUnits(t *testing.T) {
	service, timer, err := Units(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Description=provision pull: apply /etc/provision/site.yml\n",
		"Type=oneshot\nExecStart=/usr/local/bin/provision pull --once --playbook /etc/provision/site.yml\nSyslogIdentifier=provision\n",
	} {
		if !strings.Contains(service, want) {
			t.Errorf("service lacks %q:\n%s", want, service)
		}
	}
	if want := "[Timer]\nOnActiveSec=1800s\nOnUnitActiveSec=1800s\nAccuracySec=1s\n\n[Install]\nWantedBy=timers.target\n"; !strings.Contains(timer, want) {
		t.Errorf("timer lacks %q:\n%s", want, timer)
	}
	o := opts
	o.Check = true
	o.Playbook = "/srv/my plays/100% $HOME.yml"
	service, _, err = Units(o)
	if err != nil {
		t.Fatal(err)
	}
	if want := `ExecStart=/usr/local/bin/provision pull --once --playbook "/srv/my plays/100%% $$HOME.yml" --check` + "\nSuccessExitStatus=2\n"; !strings.Contains(service, want) {
		t.Errorf("check-mode service lacks %q:\n%s", want, service)
	}
	for _, bad := range []Options{
		{Playbook: "site.yml", Every: time.Minute, Binary: "/p"},
		{Playbook: "/site.yml", Every: time.Second, Binary: "/p"},
		{Playbook: "/site.yml", Every: 10500 * time.Millisecond, Binary: "/p"},
		{Playbook: "/site.yml", Every: time.Minute, Binary: "p"},
	} {
		if _, _, err := Units(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// links lists the symlinks under the root's /etc.
func links(t *testing.T, sys *tasks.System) []string {
	var out []string
	filepath.Walk(sys.MustPath("/etc"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			rel, _ := filepath.Rel(sys.Root, p)
			out = append(out, "/"+rel+" -> "+target)
		}
		return nil
	})
	return out
}

// TestInstallOffline: in an image root the units are written and the timer
// enabled by its link; starting is skipped with a warning. Installing again
// changes nothing; a new interval rewrites the timer; Remove undoes it all.
func TestInstallOffline(t *testing.T) {
	sys := installRoot(t)
	ctx := context.Background()
	res, err := Install(ctx, sys, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"content of /etc/systemd/system/provision-pull.service",
		"content of /etc/systemd/system/provision-pull.timer",
		"enabled: false -> true: /etc/systemd/system/timers.target.wants/provision-pull.timer -> /etc/systemd/system/provision-pull.timer",
	}
	if !res.Changed || !reflect.DeepEqual(res.Changes, want) {
		t.Errorf("install: %+v", res)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "offline") {
		t.Errorf("warnings %q", res.Warnings)
	}
	if got := links(t, sys); !reflect.DeepEqual(got, []string{"/etc/systemd/system/timers.target.wants/provision-pull.timer -> /etc/systemd/system/provision-pull.timer"}) {
		t.Errorf("links %q", got)
	}
	if res, err := Install(ctx, sys, opts); err != nil || res.Changed {
		t.Errorf("second install: %+v %v", res, err)
	}
	o := opts
	o.Every = time.Hour
	res, err = Install(ctx, sys, o)
	if err != nil || !reflect.DeepEqual(res.Changes, []string{"content of /etc/systemd/system/provision-pull.timer"}) {
		t.Errorf("new interval: %+v %v", res, err)
	}
	if got := taskstest.ReadFile(t, sys, "/etc/systemd/system/provision-pull.timer"); !strings.Contains(got, "OnUnitActiveSec=3600s") {
		t.Errorf("timer %s", got)
	}
	var out bytes.Buffer
	if err := Status(&out, sys, "", 5); err != nil {
		t.Fatal(err)
	}
	if want := "pull: every 1h0m0s, apply /etc/provision/site.yml (provision-pull.timer)\nno pull runs recorded in /var/lib/provision/pull-state.json\n"; out.String() != want {
		t.Errorf("status:\n%s\nwant:\n%s", out.String(), want)
	}
	res, err = Remove(ctx, sys)
	if err != nil || !res.Changed {
		t.Fatalf("remove: %+v %v", res, err)
	}
	if sys.Exists("/etc/systemd/system/provision-pull.timer") || sys.Exists("/etc/systemd/system/provision-pull.service") || len(links(t, sys)) != 0 {
		t.Errorf("left behind: %q", links(t, sys))
	}
	if res, err := Remove(ctx, sys); err != nil || res.Changed {
		t.Errorf("second remove: %+v %v", res, err)
	}
}

func TestJournalHook(t *testing.T) {
	type sent struct {
		msg  string
		prio journal.Priority
		vars map[string]string
	}
	var got []sent
	h := &JournalHook{Send: func(msg string, p journal.Priority, vars map[string]string) error {
		got = append(got, sent{msg, p, vars})
		return nil
	}}
	l := logrus.New()
	l.SetOutput(&bytes.Buffer{})
	l.AddHook(h)
	l.WithFields(logrus.Fields{"task": "write config", "status": "changed", "9bad-key": 1, "_x": "y"}).Warn("hello")
	want := sent{"hello", journal.PriWarning, map[string]string{"SYSLOG_IDENTIFIER": "provision", "TASK": "write config", "STATUS": "changed", "BAD_KEY": "1", "X": "y"}}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("sent %+v, want %+v", got, want)
	}
}

// capture is a logrus hook that keeps entries.
type capture struct{ entries []*logrus.Entry }

func (c *capture) Levels() []logrus.Level     { return logrus.AllLevels }
func (c *capture) Fire(e *logrus.Entry) error { c.entries = append(c.entries, e); return nil }

func TestSink(t *testing.T) {
	l := logrus.New()
	l.SetOutput(&bytes.Buffer{})
	l.SetLevel(logrus.DebugLevel)
	c := &capture{}
	l.AddHook(c)
	s := Sink(l)
	s.Emit(report.Event{Type: report.TaskStart, Task: "x"})
	s.Emit(report.Event{Type: report.TaskResult, Host: "h1", Play: "p", Task: "motd", Module: "copy", Pos: "site.yml:3:7", Status: report.StatusChanged,
		Changes: []tasks.Change{{Field: "content", Path: "/etc/motd"}}})
	s.Emit(report.Event{Type: report.TaskResult, Host: "h1", Task: "motd", Status: report.StatusChanged, Check: true})
	s.Emit(report.Event{Type: report.TaskResult, Host: "h1", Task: "svc", Status: report.StatusFailed, Error: "boom"})
	s.Emit(report.Event{Type: report.TaskResult, Host: "h1", Task: "ok", Status: report.StatusOK})
	if len(c.entries) != 4 {
		t.Fatalf("%d entries", len(c.entries))
	}
	e := c.entries[0]
	if e.Message != "changed: motd (content of /etc/motd)" || e.Level != logrus.InfoLevel ||
		e.Data["TASK"] != "motd" || e.Data["STATUS"] != "changed" || e.Data["CHANGED"] != "true" || e.Data["HOST"] != "h1" ||
		e.Data["MODULE"] != "copy" || e.Data["POS"] != "site.yml:3:7" || e.Data["CHANGES"] != "content of /etc/motd" {
		t.Errorf("changed entry: %s %v %v", e.Message, e.Level, e.Data)
	}
	if e := c.entries[1]; e.Message != "drift: motd" || e.Level != logrus.WarnLevel || e.Data["CHECK"] != "true" {
		t.Errorf("check-mode entry: %s %v %v", e.Message, e.Level, e.Data)
	}
	if e := c.entries[2]; e.Message != "failed: svc: boom" || e.Level != logrus.ErrorLevel || e.Data["ERROR"] != "boom" || e.Data["CHANGED"] != "false" {
		t.Errorf("failed entry: %s %v %v", e.Message, e.Level, e.Data)
	}
	if e := c.entries[3]; e.Level != logrus.DebugLevel {
		t.Errorf("ok entry at %v", e.Level)
	}
}

func TestRecordAndStatus(t *testing.T) {
	sys, _ := taskstest.New(t)
	start := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	for i, c := range []*report.Counts{{OK: 5, Changed: 1}, {OK: 6}, {OK: 5, Pending: 1}, {OK: 3, Failed: 1}} {
		r := NewRun("/etc/provision/site.yml", i == 2, start.Add(time.Duration(i)*time.Minute), c, nil)
		if err := Record(sys, "", r); err != nil {
			t.Fatal(err)
		}
	}
	if err := Record(sys, "", NewRun("/etc/provision/site.yml", false, start.Add(4*time.Minute), nil, os.ErrPermission)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Status(&out, sys, "", 4); err != nil {
		t.Fatal(err)
	}
	want := `pull: not installed (provision pull --playbook PATH --every INTERVAL installs it)
TIME                  MODE     OK  CHANGED  FAILED  DRIFT  RESULT
2026-11-29 09:01:00Z  apply     6        0       0      0  in sync
2026-11-29 09:02:00Z  check     5        1       0      1  drift found
2026-11-29 09:03:00Z  apply     3        0       1      0  1 failed
2026-11-29 09:04:00Z  apply     0        0       0      0  error: permission denied
`
	if out.String() != want {
		t.Errorf("status:\n%s\nwant:\n%s", out.String(), want)
	}
	runs, _ := History(sys, "", 0)
	if len(runs) != 5 || runs[0].Drift != 1 || runs[0].Changed != 1 {
		t.Errorf("history %+v", runs)
	}
	for i := 0; i < keepRuns; i++ {
		Record(sys, "", NewRun("/x.yml", false, start, &report.Counts{}, nil))
	}
	if runs, _ := History(sys, "", 0); len(runs) != keepRuns || runs[0].Playbook != "/x.yml" {
		t.Errorf("kept %d runs", len(runs))
	}
}

// TestRunOnce runs a playbook with the engine: the first run repairs drift
// (a missing file), the second finds none, a check run after injected drift
// reports it and changes nothing; each is recorded and logged.
func TestRunOnce(t *testing.T) {
	sys, _ := taskstest.New(t)
	src := "- hosts: all\n  tasks:\n    - name: motd\n      copy:\n        dest: /etc/motd\n        content: \"hello\\n\"\n"
	pb, err := playbook.Parse(filepath.Join(sys.Root, "site.yml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(sys.MustPath("/etc"), 0o755)
	l := logrus.New()
	var logged bytes.Buffer
	l.SetOutput(&logged)
	c := &capture{}
	l.AddHook(c)
	ctx := context.Background()
	counts, err := RunOnce(ctx, sys, pb, RunOptions{Log: l})
	if err != nil || counts.Changed != 1 {
		t.Fatalf("first run: %+v %v", counts, err)
	}
	if counts, err = RunOnce(ctx, sys, pb, RunOptions{Log: l}); err != nil || counts.Changed != 0 || counts.OK != 1 {
		t.Fatalf("second run: %+v %v", counts, err)
	}
	taskstest.WriteFile(t, sys, "/etc/motd", "drifted\n")
	counts, err = RunOnce(ctx, sys, pb, RunOptions{Log: l, Check: true})
	if err != nil || counts.Pending != 1 || report.ExitCode(counts, true) != 2 {
		t.Fatalf("check run: %+v %v", counts, err)
	}
	if got := taskstest.ReadFile(t, sys, "/etc/motd"); got != "drifted\n" {
		t.Errorf("check run changed the file: %q", got)
	}
	runs, _ := History(sys, "", 0)
	if len(runs) != 3 || runs[0].Drift != 1 || runs[1].Drift != 0 || !runs[2].Check || runs[2].Drift != 1 {
		t.Errorf("history %+v", runs)
	}
	var msgs []string
	for _, e := range c.entries {
		msgs = append(msgs, e.Level.String()+" "+e.Message)
	}
	want := []string{"info changed: motd (state: absent -> file; content of /etc/motd)", "warning pull run: drift repaired", "info pull run: in sync", "warning drift: motd (content of /etc/motd)", "warning pull run: drift found"}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("logged:\n%q\nwant\n%q", msgs, want)
	}
	if e := c.entries[1]; e.Data["DRIFT"] != 1 || e.Data["CHANGED"] != 1 || e.Data["CHECK"] != false {
		t.Errorf("summary fields %v", e.Data)
	}
}

// installRoot is a host root with opts' binary and playbook in place,
// owned by root (or the test's user) and writable by no one else.
func installRoot(t *testing.T) *tasks.System {
	t.Helper()
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, opts.Binary, "#!/bin/sh\n")
	taskstest.WriteFile(t, sys, opts.Playbook, "- hosts: all\n")
	return sys
}

func TestInstallRefusesFilesOthersCanChange(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		setup      func(sys *tasks.System)
	}{
		{"missing binary", "no such file", func(sys *tasks.System) { os.Remove(taskstest.HostPath(sys, opts.Binary)) }},
		{"group-writable playbook", "/etc/provision/site.yml has mode 0664", func(sys *tasks.System) {
			os.Chmod(taskstest.HostPath(sys, opts.Playbook), 0o664)
		}},
		{"world-writable directory", "/usr/local/bin has mode 0777", func(sys *tasks.System) {
			os.Chmod(taskstest.HostPath(sys, "/usr/local/bin"), 0o777)
		}},
		{"playbook owned by a user", "owned by uid 4242", func(sys *tasks.System) {
			os.Chown(taskstest.HostPath(sys, opts.Playbook), 4242, 4242)
		}},
		{"binary linked to a user's file", "/home/alice/provision is owned by uid 4242", func(sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/home/alice/provision", "#!/bin/sh\n")
			os.Chown(taskstest.HostPath(sys, "/home/alice/provision"), 4242, 4242)
			os.Remove(taskstest.HostPath(sys, opts.Binary))
			os.Symlink("/home/alice/provision", taskstest.HostPath(sys, opts.Binary))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.want, "uid") && os.Getuid() != 0 {
				t.Skip("needs root to chown")
			}
			sys := installRoot(t)
			tc.setup(sys)
			_, err := Install(context.Background(), sys, opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if sys.Exists("/etc/systemd/system/provision-pull.service") {
				t.Error("the unit was written")
			}
		})
	}
}

func TestUnitsRefuseControlCharacters(t *testing.T) {
	for _, p := range []string{"/etc/site.yml\nExecStartPre=/tmp/evil", "/etc/site\r.yml", "/etc/\x1b[2Jsite.yml"} {
		o := opts
		o.Playbook = p
		if _, _, err := Units(o); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("%q: %v", p, err)
		}
	}
	o := opts
	o.StateDir = "/var/lib/x\n[Service]"
	if _, _, err := Units(o); err == nil {
		t.Errorf("state dir with a newline accepted")
	}
}

// The unit names the playbook's path, not its target: a link in a
// directory others can write, or a file in a sticky /tmp (gone at the
// next reboot, when anyone may create it), would let them choose what the
// root timer runs later.
func TestInstallRefusesPathsOthersCanRepoint(t *testing.T) {
	for _, tc := range []struct {
		name, playbook, want string
		setup                func(sys *tasks.System)
	}{
		{"link in a world-writable directory", "/srv/drop/site.yml", "/srv/drop has mode 0777", func(sys *tasks.System) {
			os.MkdirAll(taskstest.HostPath(sys, "/srv/drop"), 0o755)
			os.Chmod(taskstest.HostPath(sys, "/srv/drop"), 0o777)
			os.Symlink(opts.Playbook, taskstest.HostPath(sys, "/srv/drop/site.yml"))
		}},
		{"file in a sticky /tmp", "/tmp/site.yml", "/tmp has mode 0777", func(sys *tasks.System) {
			os.MkdirAll(taskstest.HostPath(sys, "/tmp"), 0o755)
			os.Chmod(taskstest.HostPath(sys, "/tmp"), 0o777|os.ModeSticky)
			taskstest.WriteFile(t, sys, "/tmp/site.yml", "- hosts: all\n")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := installRoot(t)
			tc.setup(sys)
			o := opts
			o.Playbook = tc.playbook
			_, err := Install(context.Background(), sys, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if sys.Exists("/etc/systemd/system/provision-pull.service") {
				t.Error("the unit was written")
			}
		})
	}
}
