package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

// testIntent plans one change and, in Apply, checks that the handler it
// notifies is already on disk: the write-ahead the engine promises.
type testIntent struct {
	Path    string `yaml:"path" required:"true"`
	Handler string `yaml:"handler" required:"true"`
	Fail    bool   `yaml:"fail"`
}

func (f *testIntent) Check(_ context.Context, sys *tasks.System) (tasks.Plan, error) {
	var p tasks.Plan
	if !sys.Exists(f.Path) {
		p.Add("state", "absent", "file")
	}
	return p, nil
}

func (f *testIntent) Apply(_ context.Context, sys *tasks.System, _ tasks.Plan) error {
	state, err := sys.ReadFile("/var/lib/provision/" + handlersFile)
	if err != nil {
		return err
	}
	if !strings.Contains(string(state), `"handler": "`+f.Handler+`"`) || !strings.Contains(string(state), `"intent": true`) {
		return errors.New("no intent persisted before Apply: " + string(state))
	}
	if err := sys.WriteFile(f.Path, nil, tasks.FileAttrs{UID: -1, GID: -1}, ""); err != nil {
		return err
	}
	if f.Fail {
		return errors.New("failed after the change")
	}
	return nil
}

func init() {
	tasks.Register(tasks.Module{Name: "testintent", Summary: "test", New: func() tasks.Task { return new(testIntent) }})
}

const intentPB = `
- name: p
  hosts: all
  tasks:
    - name: change
      testintent: {path: "/etc/{{ item }}", handler: reload, fail: "{{ item == 'b' && (vars.fail ?? false) }}"}
      loop: [a, b, c]
      notify: reload
  handlers:
    - name: reload
      testfile: {path: "/var/log/{{ item }}.reloaded", content: "yes\n"}
      loop: "{{ notified_items }}"
`

func TestNotificationWrittenAheadOfChange(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/var/log/.keep", "")
	taskstest.WriteFile(t, sys, "/etc/.keep", "")
	rec, c := runPB(t, sys, intentPB, Options{})
	if got, want := rec.statuses(), "change[a]=changed change[b]=changed change[c]=changed reload[a]=changed reload[b]=changed reload[c]=changed"; got != want || c.Failed != 0 {
		t.Fatalf("got %s\nwant %s\n%+v", got, want, rec.events)
	}
	if sys.Exists("/var/lib/provision/" + handlersFile) {
		t.Fatal("state kept after the handler succeeded")
	}
}

func TestFailureAfterApplyKeepsNotification(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/var/log/.keep", "")
	taskstest.WriteFile(t, sys, "/etc/.keep", "")
	_, c := runPB(t, sys, intentPB, Options{ExtraVars: map[string]any{"fail": true}})
	if c.Failed != 1 {
		t.Fatalf("counts %+v", c)
	}
	state := taskstest.ReadFile(t, sys, "/var/lib/provision/"+handlersFile)
	if !strings.Contains(state, `"b"`) || strings.Contains(state, `"intent"`) {
		t.Fatalf("settled state should keep a and b, not as intent: %s", state)
	}
	rec, _ := runPB(t, sys, intentPB, Options{})
	if got, want := rec.statuses(), "change[a]=ok change[b]=ok change[c]=changed reload[a]=changed reload[b]=changed reload[c]=changed"; got != want {
		t.Fatalf("re-run: got %s\nwant %s", got, want)
	}
}

// A loop item's registered result keeps a digest, not a huge file's text.
func TestCompactKeepsDigest(t *testing.T) {
	big := strings.Repeat("alice:100000:65536\n", 10000)
	res := compact(map[string]any{"changes": []tasks.Change{{Field: "subuid", Before: "a", After: "b"}, {Field: "content", Path: "/etc/subuid", Before: big, After: big + "x\n"}}})
	ch := res["changes"].([]tasks.Change)
	if ch[0].Before != "a" || len(ch[1].Before) > 100 || !strings.Contains(ch[1].After, "sha256") {
		t.Fatalf("%+v", ch)
	}
}
