package engine

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

// testFile is a minimal module: a file with content under the root.
type testFile struct {
	Path    string `yaml:"path" required:"true"`
	Content string `yaml:"content"`
	Fail    bool   `yaml:"fail"`
}

func (f *testFile) Check(_ context.Context, sys *tasks.System) (tasks.Plan, error) {
	var p tasks.Plan
	if f.Fail {
		return p, errors.New("asked to fail")
	}
	old, _, err := sys.ReadFileIfExists(f.Path)
	if err != nil {
		return p, err
	}
	if string(old) != f.Content {
		p.Changes = append(p.Changes, tasks.Change{Field: "content", Path: f.Path, Before: string(old), After: f.Content})
	}
	return p, nil
}

func (f *testFile) Apply(_ context.Context, sys *tasks.System, _ tasks.Plan) error {
	return sys.WriteFile(f.Path, []byte(f.Content), tasks.FileAttrs{Mode: 0o644, UID: -1, GID: -1}, "")
}

// testBroken plans a change forever: a module that never converges.
type testBroken struct{}

func (testBroken) Check(context.Context, *tasks.System) (tasks.Plan, error) {
	return tasks.Plan{Changes: []tasks.Change{{Field: "x", Before: "a", After: "b"}}}, nil
}
func (testBroken) Apply(context.Context, *tasks.System, tasks.Plan) error { return nil }

func init() {
	tasks.Register(tasks.Module{Name: "testfile", Summary: "test", New: func() tasks.Task { return new(testFile) }})
	tasks.Register(tasks.Module{Name: "testbroken", Summary: "test", New: func() tasks.Task { return new(testBroken) }})
}

type recorder struct {
	mu     sync.Mutex
	events []report.Event
}

func (r *recorder) Emit(e report.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Type == report.TaskResult {
		r.events = append(r.events, e)
	}
}

// statuses renders results as "task[item]=status" lines.
func (r *recorder) statuses() string {
	var out []string
	for _, e := range r.events {
		s := e.Task
		if e.Item != nil {
			s += "[" + playbook.Stringify(e.Item) + "]"
		}
		out = append(out, s+"="+e.Status)
	}
	return strings.Join(out, " ")
}

func runPB(t *testing.T, sys *tasks.System, src string, opts Options) (*recorder, *report.Counts) {
	t.Helper()
	pb, err := playbook.Parse(sys.Root+"/site.yml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	rec := &recorder{}
	opts.Sink = rec
	counts, err := Run(context.Background(), pb, sys, opts)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return rec, counts
}

const handlerPB = `
- name: p
  hosts: all
  vars:
    users: [alice, bob]
  tasks:
    - name: conf
      testfile: {path: "/etc/{{ item }}.conf", content: "user={{ item }}\n"}
      loop: "{{ users }}"
      notify: reload
    - name: maybe fail
      testfile: {path: /etc/x, fail: "{{ vars.fail ?? false }}"}
  handlers:
    - name: reload
      testfile: {path: "/var/log/{{ item }}.reloaded", content: "yes\n"}
      loop: "{{ notified_items }}"
`

func TestConvergeThenNoop(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/var/log/.keep", "")
	taskstest.WriteFile(t, sys, "/etc/.keep", "")
	rec, c := runPB(t, sys, handlerPB, Options{})
	if got, want := rec.statuses(), "conf[alice]=changed conf[bob]=changed maybe fail=ok reload[alice]=changed reload[bob]=changed"; got != want {
		t.Fatalf("first run:\n got %s\nwant %s\n%+v", got, want, rec.events)
	}
	if c.Changed != 4 || c.Failed != 0 {
		t.Fatalf("counts %+v", c)
	}
	rec, c = runPB(t, sys, handlerPB, Options{})
	if got, want := rec.statuses(), "conf[alice]=ok conf[bob]=ok maybe fail=ok"; got != want {
		t.Fatalf("second run:\n got %s\nwant %s", got, want)
	}
	if c.Changed != 0 || c.OK != 3 {
		t.Fatalf("counts %+v", c)
	}
}

func TestCheckModeChangesNothing(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/etc/alice.conf", "old\n")
	before := taskstest.Snapshot(t, sys)
	rec, c := runPB(t, sys, handlerPB, Options{Check: true})
	if c.Pending != 4 || c.OK != 1 || c.Changed != 0 {
		t.Fatalf("counts %+v (%s)", c, rec.statuses())
	}
	after := taskstest.Snapshot(t, sys)
	delete(after, "run/provision.lock")
	delete(after, "run")
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed in check mode", k)
		}
	}
	if len(after) != len(before) {
		t.Errorf("check mode created files: before %v after %v", before, after)
	}
}

func TestPendingHandlerSurvivesFailure(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/var/log/.keep", "")
	taskstest.WriteFile(t, sys, "/etc/.keep", "")
	rec, c := runPB(t, sys, handlerPB, Options{ExtraVars: map[string]any{"fail": true}})
	if c.Failed != 1 || strings.Contains(rec.statuses(), "reload") {
		t.Fatalf("handler ran after a failure: %s", rec.statuses())
	}
	state := taskstest.ReadFile(t, sys, "/var/lib/provision/pending-handlers.json")
	if !strings.Contains(state, `"reload"`) || !strings.Contains(state, "alice") {
		t.Fatalf("notification not persisted: %q", state)
	}
	// Next run: the config files are unchanged, but the handler still runs
	// for the items notified last time.
	rec, _ = runPB(t, sys, handlerPB, Options{})
	if got, want := rec.statuses(), "conf[alice]=ok conf[bob]=ok maybe fail=ok reload[alice]=changed reload[bob]=changed"; got != want {
		t.Fatalf("second run:\n got %s\nwant %s", got, want)
	}
	if _, err := os.Stat(sys.MustPath("/var/lib/provision/pending-handlers.json")); !os.IsNotExist(err) {
		t.Fatalf("pending handler state not cleared: %v", err)
	}
}

func TestDidNotConverge(t *testing.T) {
	sys, _ := taskstest.New(t)
	rec, c := runPB(t, sys, "- hosts: all\n  tasks:\n    - testbroken: {}\n", Options{})
	if c.Failed != 1 || !strings.Contains(rec.events[0].Error, "did not converge") {
		t.Fatalf("got %+v", rec.events)
	}
	_, c = runPB(t, sys, "- hosts: all\n  tasks:\n    - testbroken: {}\n", Options{NoVerify: true})
	if c.Failed != 0 || c.Changed != 1 {
		t.Fatalf("--no-verify: %+v", c)
	}
}

func TestWhenTagsRegister(t *testing.T) {
	sys, _ := taskstest.New(t)
	src := `
- hosts: all
  tasks:
    - name: a
      testfile: {path: /a, content: "1"}
      register: ra
      tags: [one]
    - name: b
      testfile: {path: /b, content: "{{ ra.changed }}"}
      when: ra.changed
      tags: [two]
    - name: c
      testfile: {path: /c, content: "x"}
      changed_when: false
`
	rec, _ := runPB(t, sys, src, Options{Tags: []string{"one"}})
	if got := rec.statuses(); got != "a=changed" {
		t.Fatalf("tags: %s", got)
	}
	rec, _ = runPB(t, sys, src, Options{SkipTags: []string{"one"}})
	if got := rec.statuses(); got != "b=failed" {
		// ra is undefined when a is skipped.
		t.Fatalf("skip-tags: %s", got)
	}
	sys2, _ := taskstest.New(t)
	rec, _ = runPB(t, sys2, src, Options{})
	if got := rec.statuses(); got != "a=changed b=changed c=ok" {
		t.Fatalf("all: %s", got)
	}
	if got := taskstest.ReadFile(t, sys2, "/b"); got != "true" {
		t.Fatalf("/b = %q", got)
	}
	rec, _ = runPB(t, sys2, src, Options{})
	if got := rec.statuses(); got != "a=ok b=skipped c=ok" {
		t.Fatalf("rerun: %s", got)
	}
}

func TestLockHeld(t *testing.T) {
	sys, _ := taskstest.New(t)
	l, err := AcquireLock(sys, DefaultLockPath)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	pb, _ := playbook.Parse("x.yml", []byte("- hosts: all\n  tasks: []\n"))
	_, err = Run(context.Background(), pb, sys, Options{})
	var locked *ErrLocked
	if !errors.As(err, &locked) || locked.PID != os.Getpid() {
		t.Fatalf("want ErrLocked with our PID, got %v", err)
	}
}

// TestCheckModeFalseIsReportedAsChanged: a check_mode: false task really
// writes during `provision check`, so it is reported (and counted) as
// changed, not as pending; the rest of the run stays a check.
func TestCheckModeFalseIsReportedAsChanged(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/etc/.keep", "")
	rec, c := runPB(t, sys, `
- name: p
  hosts: all
  tasks:
    - name: real
      testfile: {path: /etc/real, content: "x\n"}
      check_mode: false
    - name: checked
      testfile: {path: /etc/checked, content: "y\n"}
`, Options{Check: true})
	if c.Changed != 1 || c.Pending != 1 {
		t.Fatalf("counts %+v (%s)", c, rec.statuses())
	}
	for _, e := range rec.events {
		if e.Type == report.TaskResult && e.Task == "real" && e.Check {
			t.Errorf("the applied task's result says check: %+v", e)
		}
	}
	if taskstest.ReadFile(t, sys, "/etc/real") != "x\n" || sys.Exists("/etc/checked") {
		t.Errorf("check_mode: false did not apply, or the checked task did")
	}
}
