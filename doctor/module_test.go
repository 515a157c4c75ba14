package doctor

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

func TestModuleRegistered(t *testing.T) {
	m, ok := tasks.Lookup("doctor")
	if !ok {
		t.Fatal("doctor is not registered")
	}
	if _, ok := m.New().(*Task); !ok || m.Summary == "" || m.Doc == "" || m.Example == "" {
		t.Errorf("module: %+v", m)
	}
	var names []string
	for _, a := range m.Args() {
		names = append(names, a.Name)
	}
	if !reflect.DeepEqual(names, []string{"users", "checks", "fail_on", "smoke_image"}) {
		t.Errorf("args %v", names)
	}
}

func TestModuleValidate(t *testing.T) {
	for _, tc := range []struct {
		t   Task
		arg string
	}{
		{Task{Checks: []string{"99"}}, "checks"},
		{Task{Checks: []string{"storage"}}, "checks"},
		{Task{FailOn: "error"}, "fail_on"},
		{Task{Users: []string{"-rf"}}, "users"},
	} {
		err := tc.t.Validate()
		var ae *tasks.ArgError
		if !errors.As(err, &ae) || ae.Arg != tc.arg {
			t.Errorf("%+v: %v, want an error on %s", tc.t, err, tc.arg)
		}
	}
	ok := Task{Checks: []string{"7", "storage_driver", "20"}, FailOn: "warn", Users: []string{"alice"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid task: %v", err)
	}
	opts := ok.Options()
	if !reflect.DeepEqual(opts.Checks, []int{7, 12, 20}) || !opts.Smoke {
		t.Errorf("options %+v", opts)
	}
	opts = (&Task{}).Options()
	if len(opts.Checks) != 19 || opts.Smoke || containsInt(opts.Checks, 20) {
		t.Errorf("default options %+v", opts)
	}
}

func TestModuleGreen(t *testing.T) {
	h := newHost(t)
	h.remove("/var/lib/systemd/linger/bob")
	before := taskstest.Snapshot(t, h.sys)
	task := &Task{}
	p, err := task.Check(context.Background(), h.sys)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if !p.Empty() {
		t.Errorf("plan %s", p)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "doctor check 10 session (bob): linger is off") ||
		!strings.Contains(p.Warnings[0], "fix: task: linger: {user: bob}") {
		t.Errorf("warnings %q", p.Warnings)
	}
	if !reflect.DeepEqual(before, taskstest.Snapshot(t, h.sys)) {
		t.Errorf("check changed the host")
	}
	for _, c := range h.run.Commands() {
		if strings.Contains(c, " run ") {
			t.Errorf("smoke test ran without being listed: %s", c)
		}
	}
	taskstest.Converge(t, h.sys, task)

	// fail_on: warn turns the warning into an error.
	_, err = (&Task{FailOn: "warn"}).Check(context.Background(), h.sys)
	if err == nil || !strings.HasPrefix(err.Error(), "0 failed and 1 warned (fail_on: warn)\nuser bob\n  [WARN] 10 session") {
		t.Errorf("fail_on warn: %v", err)
	}
}

func TestModuleFails(t *testing.T) {
	h := newHost(t)
	h.write("/etc/subuid", "alice:100000:65536\nbob:150000:65536\n")
	h.chown("/usr/bin/podman", 0)
	h.chmod("/usr/bin/podman", 0o4755)
	task := &Task{Users: []string{"alice", "bob"}}
	p, err := task.Check(context.Background(), h.sys)
	if err == nil {
		t.Fatal("no error for a broken host")
	}
	if !p.Empty() {
		t.Errorf("plan %s", p)
	}
	msg := err.Error()
	// The same text as the CLI renders for these checks.
	rep := Run(context.Background(), h.sys, task.Options())
	var cli strings.Builder
	if err := Render(&cli, rep, false); err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{
		"  [FAIL]  2 podman is not setuid\n         found:   /usr/bin/podman is setuid",
		"fix:     run: chmod u-s /usr/bin/podman",
		"  [FAIL]  8 subordinate ID ranges do not overlap\n         found:   /etc/subuid: bob 150000:65536 (line 2) overlaps alice 100000:65536 (line 1)",
		"fix:     task: subid: {user: bob}",
	} {
		if !strings.Contains(msg, part) {
			t.Errorf("error lacks %q:\n%s", part, msg)
		}
		if !strings.Contains(cli.String(), part) {
			t.Errorf("CLI output lacks %q", part)
		}
	}
	// Two: with a setuid-root podman, doctor runs podman only as root, so no
	// per-user check reports what the (fake) podman says for bob.
	if !strings.HasPrefix(msg, "2 checks failed\nhost (as root)\n") || strings.Contains(msg, "[pass]") || strings.HasSuffix(msg, "\n") {
		t.Errorf("error text:\n%s", msg)
	}
}

// In an image being built only the checks that read the image's files
// run; the rest would judge the build machine and are noted as skipped.
func TestModuleImageRunsFileChecksOnly(t *testing.T) {
	h := newHost(t)
	h.sys.Image = true
	p, err := (&Task{Checks: []string{"2", "5", "7", "9", "20"}}).Check(context.Background(), h.sys)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "image build: doctor checks 5, 9, 20 need the booted host") {
		t.Errorf("warnings %q", p.Warnings)
	}
	for _, c := range h.run.Commands() {
		if strings.HasPrefix(c, "podman") {
			t.Errorf("ran %s in an image", c)
		}
	}
	p, err = (&Task{Checks: []string{"10"}}).Check(context.Background(), h.sys)
	if err != nil || len(p.Warnings) != 1 {
		t.Errorf("only a session check: %v %q", err, p.Warnings)
	}
}
