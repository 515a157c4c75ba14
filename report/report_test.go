package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/provision-tool/provision/tasks"
)

func TestHumanDiffAndRecap(t *testing.T) {
	var buf bytes.Buffer
	h := &Human{W: &buf, Diff: true}
	h.Emit(Event{Type: PlayStart, Play: "p", Check: true})
	h.Emit(Event{Type: TaskResult, Task: "ranges", Item: "alice", Status: StatusChanged, Check: true, DurationMS: 2,
		Changes: []tasks.Change{
			{Field: "subuid", Before: "", After: "100000:65536"},
			{Field: "content", Path: "/etc/subuid", Before: "bob:1:2\n", After: "bob:1:2\nalice:100000:65536\n"},
			{Field: "password", Before: "a", After: "b", Sensitive: true},
		}})
	h.Emit(Event{Type: TaskResult, Task: "t", Status: StatusFailed, Error: "boom\nsecond line"})
	h.Emit(Event{Type: Recap, Check: true, Recap: map[string]*Counts{"localhost": {OK: 1, Pending: 1, Failed: 1}}})
	got := buf.String()
	for _, want := range []string{
		"PLAY p (check mode: nothing will be changed)\n",
		"pending  ranges (item=alice)  2ms\n",
		"         subuid: (absent) -> 100000:65536\n",
		"         --- before: /etc/subuid\n",
		"         +alice:100000:65536\n",
		"         password: (sensitive value)\n",
		"failed   t\n         boom\n         second line\n",
		"localhost  ok=1 changed=0 failed=1 skipped=0 pending=1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\x1b[") {
		t.Error("colour without Color")
	}
}

func TestHumanFleetPrintsPlayOnceAndAligns(t *testing.T) {
	var buf bytes.Buffer
	h := &Human{W: &buf, ShowHost: true, HostWidth: 5}
	for _, host := range []string{"a", "bbbbb"} {
		h.Emit(Event{Type: PlayStart, Play: "p", Host: host})
		h.Emit(Event{Type: TaskResult, Host: host, Task: "t", Status: StatusOK})
	}
	h.Emit(Event{Type: HostError, Host: "c", Status: StatusUnreachable, Error: "ssh: no route"})
	want := "PLAY p\na      ok       t\nbbbbb  ok       t\nc      unreachable ssh: no route\n"
	if buf.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	j := NewJSON(&buf)
	j.Emit(Event{Type: TaskResult, Host: "h", Task: "t", Status: StatusChanged, Changes: []tasks.Change{{Field: "f", After: "x"}}})
	j.Emit(Event{Type: Recap, Recap: map[string]*Counts{"h": {Changed: 1}}})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", buf.String())
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil {
		t.Fatal(err)
	}
	if e["v"] != float64(SchemaVersion) || e["host"] != "h" || e["status"] != "changed" {
		t.Fatalf("event %v", e)
	}
}

func TestExitCode(t *testing.T) {
	cases := []struct {
		c     Counts
		check bool
		want  int
	}{
		{Counts{OK: 3}, false, ExitOK},
		{Counts{Pending: 1}, true, ExitPending},
		{Counts{Pending: 1, Failed: 1}, true, ExitFailed},
		{Counts{Unreachable: true}, false, ExitFailed},
	}
	for _, c := range cases {
		if got := ExitCode(&c.c, c.check); got != c.want {
			t.Errorf("%+v check=%v: %d, want %d", c.c, c.check, got, c.want)
		}
	}
}

func TestLiveLineNeverMixesWithOutput(t *testing.T) {
	var buf bytes.Buffer
	live := &Live{W: &buf, Total: 2}
	h := &Human{W: &buf, ShowHost: true, HostWidth: 1, Live: live}
	live.Run(time.Hour)
	live.Start("a")
	h.Emit(Event{Type: TaskResult, Host: "a", Task: "t", Status: StatusOK})
	live.Done("a")
	live.Close()
	out := buf.String()
	if !strings.Contains(out, "\r\x1b[Ka  ok       t\n") {
		t.Fatalf("event not written on a cleared line: %q", out)
	}
	if !strings.Contains(out, "hosts: 0 done, 1 running, 2 total; slowest: a") || !strings.HasSuffix(out, "\r\x1b[K") {
		t.Fatalf("status line: %q", out)
	}
}

// TestHumanEscapesControlCharacters: a task name must not fake a line of
// the report nor send escape sequences to the terminal.
func TestHumanEscapesControlCharacters(t *testing.T) {
	var b strings.Builder
	h := &Human{W: &b}
	h.Emit(Event{Type: TaskResult, Task: "x\n\x1b[33mchanged  \x1b[0mfake\rz", Status: StatusOK})
	got := b.String()
	if strings.Count(got, "\n") != 1 || strings.ContainsAny(got, "\x1b\r") {
		t.Errorf("report = %q, want one line without control characters", got)
	}
	if !strings.Contains(got, `x\n\x1b[33mchanged  \x1b[0mfake\rz`) {
		t.Errorf("report = %q, want the name escaped", got)
	}
}
