//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/testhost"
)

// guestExamples is where the example playbooks are copied in a guest.
const guestExamples = "/root/examples"

// installExample copies examples/NAME from this module into the guest and
// returns its guest path.
func installExample(t testing.TB, h *testhost.Host, name string) string {
	t.Helper()
	root, err := testhost.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	guest := guestExamples + "/" + name
	if err := h.CopyIn(filepath.Join(root, "examples", name), guest); err != nil {
		t.Fatalf("copy %s into %s: %v", name, h.Name, err)
	}
	return guest
}

// stageLog collects the wall time of every playbook run of one test and logs
// them as a table when the test ends.
type stageLog struct {
	mu   sync.Mutex
	rows []string
}

func newStageLog(t *testing.T) *stageLog {
	s := new(stageLog)
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.rows) > 0 {
			t.Logf("playbook runs of %s (wall time, as seen from the test):\n%s", t.Name(), strings.Join(s.rows, "\n"))
		}
	})
	return s
}

func (s *stageLog) add(row string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.rows = append(s.rows, row)
	s.mu.Unlock()
}

// pbRun is one provision run: its events and the raw command result.
type pbRun struct {
	h   *testhost.Host
	evs []report.Event
	res testhost.Result
}

// runBook runs provision ARGS --output json on h as root, fails the test
// unless it exits with want, fails it when want is 0 or 2 and a task
// failed, and logs the run's wall time under label.
func runBook(t testing.TB, st *stageLog, h *testhost.Host, want int, label string, args ...string) pbRun {
	t.Helper()
	r := runBookCode(t, st, h, label, args...)
	if r.res.Code != want {
		r.fatalf(t, "want exit %d", want)
	}
	if want != 1 {
		if failed := r.results(statusIs("failed")); len(failed) > 0 {
			r.fatalf(t, "%d task(s) failed:\n%s", len(failed), describeResults(failed))
		}
	}
	return r
}

// runBookCode is runBook without expectations about the exit code or the
// results: the caller checks r.res.Code.
func runBookCode(t testing.TB, st *stageLog, h *testhost.Host, label string, args ...string) pbRun {
	t.Helper()
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	cmdline := testhost.GuestProvisionPath + " " + strings.Join(quoted, " ") + " --output json"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := h.Exec(ctx, "root", cmdline, nil)
	d := time.Since(start)
	r := pbRun{h: h, res: res}
	if err != nil {
		r.fatalf(t, "%v", err)
	}
	if r.evs, err = testhost.ParseEvents(res.Stdout); err != nil {
		r.fatalf(t, "bad JSON events: %v", err)
	}
	row := fmt.Sprintf("  %-9s %-55s %6.2fs  exit %d  %s", h.Name, label, d.Seconds(), res.Code, r.recap())
	t.Logf("stage: %s$ %s", strings.TrimSpace(row), cmdline)
	st.add(row)
	return r
}

// recap renders the run's recap for its host, and provision's own time.
func (r pbRun) recap() string {
	for _, e := range r.evs {
		if e.Type == report.Recap {
			if c := e.Recap[hostKey(e.Recap)]; c != nil {
				return fmt.Sprintf("ok=%d changed=%d pending=%d failed=%d skipped=%d (provision: %.0fms)",
					c.OK, c.Changed, c.Pending, c.Failed, c.Skipped, e.DurationMS)
			}
		}
	}
	return "(no recap)"
}

func hostKey(m map[string]*report.Counts) string {
	for k := range m {
		return k
	}
	return ""
}

// fatalf and errorf report a failed expectation about a run with the
// host, the command, its output and the guest's journal tail.
func (r pbRun) fatalf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Fatalf("%s", r.h.Failure(r.res, fmt.Sprintf(format, args...), nil))
}

func (r pbRun) errorf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Errorf("%s", r.h.Failure(r.res, fmt.Sprintf(format, args...), nil))
}

// resultFilter selects task results.
type resultFilter func(e report.Event) bool

func statusIs(statuses ...string) resultFilter {
	return func(e report.Event) bool { return slices.Contains(statuses, e.Status) }
}

func isHandler(e report.Event) bool { return e.Handler }

// results returns the task_result events that pass every resultFilter.
func (r pbRun) results(fs ...resultFilter) []report.Event {
	var out []report.Event
next:
	for _, e := range r.evs {
		if e.Type != report.TaskResult {
			continue
		}
		for _, f := range fs {
			if !f(e) {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// resultKey names a task result: "task" or "task[item]", with "handler " in
// front for handlers.
func resultKey(e report.Event) string {
	k := e.Task
	if e.Item != nil {
		k += fmt.Sprintf("[%v]", e.Item)
	}
	if e.Handler {
		k = "handler " + k
	}
	return k
}

func resultKeys(evs []report.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = resultKey(e)
	}
	sort.Strings(out)
	return out
}

// describeResults renders task results for a failure message, one line each
// with their changes (file contents shortened).
func describeResults(evs []report.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s: %s", resultKey(e), e.Status)
		if e.Error != "" {
			fmt.Fprintf(&b, " error=%q", e.Error)
		}
		if e.Msg != "" {
			fmt.Fprintf(&b, " msg=%q", e.Msg)
		}
		b.WriteByte('\n')
		for _, c := range e.Changes {
			if c.Path != "" {
				fmt.Fprintf(&b, "      %s %s: %d bytes -> %d bytes\n", c.Field, c.Path, len(c.Before), len(c.After))
			} else {
				fmt.Fprintf(&b, "      %s: %q -> %q\n", c.Field, c.Before, c.After)
			}
		}
		for _, w := range e.Warnings {
			fmt.Fprintf(&b, "      warning: %s\n", w)
		}
	}
	return b.String()
}

// find returns the one task result of task (and item, when item is not
// nil; handlers included), failing the test when there is not exactly one.
func (r pbRun) find(t testing.TB, task string, item any) report.Event {
	t.Helper()
	var got []report.Event
	for _, e := range r.results() {
		if e.Task == task && (item == nil || fmt.Sprint(e.Item) == fmt.Sprint(item)) {
			got = append(got, e)
		}
	}
	if len(got) != 1 {
		r.fatalf(t, "want one result of task %q item %v, got %d; all results:\n%s", task, item, len(got), describeResults(r.results()))
	}
	return got[0]
}

// expectChanged checks that exactly the named task results (see key)
// report changed and every other one is ok or skipped.
func (r pbRun) expectChanged(t testing.TB, want ...string) {
	t.Helper()
	got := resultKeys(r.results(statusIs("changed")))
	sort.Strings(want)
	if !slices.Equal(got, want) {
		r.errorf(t, "changed results %q, want exactly %q; all results:\n%s", got, want, describeResults(r.results()))
	}
	if bad := r.results(statusIs("failed")); len(bad) > 0 {
		r.errorf(t, "failed results:\n%s", describeResults(bad))
	}
}

// changeOf returns the change of field (and path, when not "") in e.
func changeOf(t testing.TB, r pbRun, e report.Event, field, path string) (before, after string) {
	t.Helper()
	for _, c := range e.Changes {
		if c.Field == field && (path == "" || c.Path == path) {
			return c.Before, c.After
		}
	}
	r.fatalf(t, "%s: no change of field %q path %q:\n%s", resultKey(e), field, path, describeResults([]report.Event{e}))
	return "", ""
}

// expectSameTree fails the test when two snapshots differ outside allowed
// paths (guest paths; a directory in allowed covers only itself), naming
// the run r that should not have changed them (host, command, output and
// journal tail).
func expectSameTree(t testing.TB, r pbRun, what string, a, b treeSnap, allowed ...string) {
	t.Helper()
	var bad []string
	for _, line := range a.diff(b) {
		p, _, _ := strings.Cut(line, ": ")
		if !slices.Contains(allowed, p) {
			bad = append(bad, line)
		}
	}
	if len(bad) > 0 {
		r.errorf(t, "%s: %d path(s) changed that should not have (allowed: %q):\n%s", what, len(bad), allowed, strings.Join(bad, "\n"))
	}
}

// guestRead reads a guest file through the host side of its root overlay.
func guestRead(t testing.TB, h *testhost.Host, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.Root(), path))
	if err != nil {
		t.Fatalf("%s: %v", h.Name, err)
	}
	return string(b)
}

// expectChangedOrFailed checks that exactly the named results report
// changed and exactly the named ones failed; every other one is ok or
// skipped.
func (r pbRun) expectChangedOrFailed(t testing.TB, changed, failed []string) {
	t.Helper()
	for _, c := range []struct {
		status string
		want   []string
	}{{"changed", changed}, {"failed", failed}} {
		got := resultKeys(r.results(statusIs(c.status)))
		want := slices.Clone(c.want)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			r.errorf(t, "%s results %q, want exactly %q; all results:\n%s", c.status, got, want, describeResults(r.results()))
		}
	}
}

// endSessions ends the users' logind sessions and waits until logind is
// done with them (their runtime dirs gone, or the users no longer known to
// logind, which removes the dir before it lets a user go), so that a later
// command does not race logind tearing them down after an SSH logout. A
// loaded machine took over 10 s once. The user's processes are then
// killed: on the RPM hosts podman's pause process is catatonit, which
// ignores SIGTERM, and the session stayed "closing" for over a minute.
func endSessions(t *testing.T, h *testhost.Host, users ...string) {
	t.Helper()
	for _, u := range users {
		h.SSH(t, "loginctl terminate-user "+u+" 2>/dev/null; loginctl kill-user --signal=KILL "+u+" 2>/dev/null; for i in $(seq 600); do [ -e /run/user/$(id -u "+u+") ] || exit 0; loginctl show-user "+u+" >/dev/null 2>&1 || exit 0; sleep 0.1; done; echo "+u+" still has /run/user/$(id -u "+u+"); loginctl show-user "+u+"; exit 1")
	}
}
