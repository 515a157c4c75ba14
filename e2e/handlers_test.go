//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/provision-tool/provision/testhost"
)

// interruptedPlay notifies a handler from a loop and then fails (step is
// "false") before the handlers' turn at the end of the play.
const interruptedPlay = `- name: interrupted handler
  hosts: all
  vars:
    step: "false"
  tasks:
    - name: write the marker files
      copy:
        content: "{{ item }}\n"
        dest: "/etc/provision-e2e-{{ item }}.conf"
      loop: [one, two]
      notify: record the handler
    - name: a step that fails
      command:
        argv: ["{{ step }}"]
  handlers:
    - name: record the handler
      shell:
        cmd: echo {{ item }} >> /var/tmp/handler-ran
      loop: "{{ notified_items }}"
`

const pendingHandlers = "/var/lib/provision/pending-handlers.json"

// TestInterruptedHandler proves that a handler notified before a failing
// task runs on the next run, for the items that were notified, even though
// the notifying task is then ok; and that the state file says so in the
// meantime and is gone afterwards.
func TestInterruptedHandler(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	st := newStageLog(t)
	h := testhost.Boot(t, testhost.Debian, testhost.Options{})
	h.InstallProvision(t)
	book := "/root/interrupted.yml"
	if err := h.WriteFile(book, []byte(interruptedPlay), 0o644); err != nil {
		t.Fatal(err)
	}
	ran := filepath.Join(h.Root(), "var/tmp/handler-ran")
	state := filepath.Join(h.Root(), pendingHandlers)

	r := runBook(t, st, h, 1, "apply (a later task fails)", "apply", book)
	r.expectChangedOrFailed(t, []string{"write the marker files[one]", "write the marker files[two]"}, []string{"a step that fails"})
	if hs := r.results(isHandler); len(hs) > 0 {
		r.errorf(t, "handlers ran although a task failed before them:\n%s", describeResults(hs))
	}
	if _, err := os.Stat(ran); err == nil {
		t.Errorf("the handler's command ran in the failed run")
	}
	saved, err := os.ReadFile(state)
	if err != nil {
		r.fatalf(t, "after the failed run: %v", err)
	}
	var s struct {
		Pending []struct {
			Playbook, Play, Handler string
			Items                   []any
		}
	}
	if err := json.Unmarshal(saved, &s); err != nil {
		t.Fatalf("%s: %v\n%s", pendingHandlers, err, saved)
	}
	if len(s.Pending) != 1 || s.Pending[0].Handler != "record the handler" || s.Pending[0].Play != "interrupted handler" ||
		!slices.Equal(s.Pending[0].Items, []any{"one", "two"}) {
		t.Errorf("%s does not name the handler and its items one, two:\n%s", pendingHandlers, saved)
	}

	// Check mode reports the pending handler and leaves the state alone.
	c := runBook(t, st, h, 2, "check (handler pending)", "check", "-e", "step=true", book)
	for _, item := range []string{"one", "two"} {
		if e := c.find(t, "record the handler", item); e.Status != "changed" || !e.Handler {
			c.errorf(t, "check: the pending handler for %s: %+v, want changed (pending)", item, e)
		}
	}
	if now, _ := os.ReadFile(state); string(now) != string(saved) {
		t.Errorf("check changed %s:\n%s\nwas\n%s", pendingHandlers, now, saved)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Errorf("the handler's command ran in check mode")
	}

	r = runBook(t, st, h, 0, "apply (fixed with -e step=true)", "apply", "-e", "step=true", book)
	r.expectChanged(t, "a step that fails", "handler record the handler[one]", "handler record the handler[two]")
	for _, item := range []string{"one", "two"} {
		if e := r.find(t, "write the marker files", item); e.Status != "ok" {
			r.errorf(t, "the notifying task for %s: %s, want ok", item, e.Status)
		}
	}
	if b, err := os.ReadFile(ran); err != nil || string(b) != "one\ntwo\n" {
		t.Errorf("the handler's record: %q, %v; want one\\ntwo\\n", b, err)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		b, _ := os.ReadFile(state)
		t.Errorf("%s after the handler succeeded: %v\n%s", pendingHandlers, err, b)
	}

	r = runBook(t, st, h, 0, "apply (third run)", "apply", "-e", "step=true", book)
	if hs := r.results(isHandler); len(hs) > 0 {
		r.errorf(t, "handlers ran again:\n%s", describeResults(hs))
	}
	if b, _ := os.ReadFile(ran); string(b) != "one\ntwo\n" {
		t.Errorf("the handler's record after a third run: %q", b)
	}
}
