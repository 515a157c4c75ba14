package systemd

import (
	"context"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks/taskstest"
)

func TestLingerOnline(t *testing.T) {
	sys, _ := newHost(t, true)
	f := newFake()
	ld := &fakeLogind{linger: map[uint32]bool{}, sd: f}
	f.install(t, ld)
	f.add(unitInfo{Name: "user@1000.service", ActiveState: "inactive"})
	task := &Linger{User: "alice"}
	p := taskstest.Converge(t, sys, task)
	wantChanges(t, p, "linger: false -> true", "user manager: user@1000.service inactive -> running")
	if got := strings.Join(ld.calls, "; "); got != "SetUserLinger 1000 true" {
		t.Errorf("logind calls %q", got)
	}
	if got := f.Calls(); got != "start user@1000.service" {
		t.Errorf("systemd calls %q", got)
	}

	// Lingering, but the manager died: start it again.
	f.add(unitInfo{Name: "user@1000.service", ActiveState: "failed"})
	f.reset()
	p = taskstest.Converge(t, sys, task)
	wantChanges(t, p, "user manager: user@1000.service failed -> running")
	if got := f.Calls(); got != "start user@1000.service" {
		t.Errorf("systemd calls %q", got)
	}

	// Off: logind stops the manager itself once alice has no session.
	ld.calls = nil
	f.reset()
	p = taskstest.Converge(t, sys, &Linger{User: "alice", Enabled: ptr(false)})
	wantChanges(t, p, "linger: true -> false")
	if got := strings.Join(ld.calls, "; "); got != "SetUserLinger 1000 false" {
		t.Errorf("logind calls %q", got)
	}
	if f.Calls() != "" {
		t.Errorf("systemd calls %q", f.Calls())
	}
}

func TestLingerManagerFails(t *testing.T) {
	sys, run := newHost(t, true)
	f := newFake()
	ld := &fakeLogind{linger: map[uint32]bool{}, sd: f}
	f.install(t, ld)
	f.add(unitInfo{Name: "user@1000.service"})
	f.failOn["user@1000.service"] = "failed"
	run.Reply("journalctl", "user@1000.service: Failed to set up mount namespacing\n", 0)
	task := &Linger{User: "alice"}
	p := check(t, sys, task)
	err := task.Apply(context.Background(), sys, p)
	if err == nil || !strings.Contains(err.Error(), "alice's manager: start user@1000.service: job failed; last journal lines:\n    user@1000.service: Failed to set up mount namespacing") {
		t.Errorf("error %v", err)
	}
}

func TestLingerUserCreatedLater(t *testing.T) {
	sys, _ := newHost(t, true)
	f := newFake()
	ld := &fakeLogind{linger: map[uint32]bool{}, sd: f}
	f.install(t, ld)
	task := &Linger{User: "bob"}
	p := check(t, sys, task)
	wantChanges(t, p, "linger: false -> true", "user manager: (no user) -> running")
	if len(p.Warnings) != 1 || p.Warnings[0] != "user bob does not exist yet" {
		t.Errorf("warnings %q", p.Warnings)
	}
	if err := task.Apply(context.Background(), sys, p); err == nil || err.Error() != `no such user "bob"` {
		t.Errorf("apply: %v", err)
	}
	if p := check(t, sys, &Linger{User: "bob", Enabled: ptr(false)}); !p.Empty() {
		t.Errorf("no lingering for a missing user: %s", p)
	}
}

func TestLingerOffline(t *testing.T) {
	sys, _ := newHost(t, false)
	task := &Linger{User: "alice"}
	before := taskstest.Snapshot(t, sys)
	p := check(t, sys, task)
	if len(taskstest.Snapshot(t, sys)) != len(before) {
		t.Error("check changed files")
	}
	wantChanges(t, p, "linger: false -> true")
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "alice's manager starts at the next boot") {
		t.Errorf("warnings %q", p.Warnings)
	}
	taskstest.Converge(t, sys, task)
	fi, err := sys.Stat("/var/lib/systemd/linger/alice")
	if err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o644 {
		t.Errorf("linger file: %v %v", fi, err)
	}
	p = taskstest.Converge(t, sys, &Linger{User: "alice", Enabled: ptr(false)})
	wantChanges(t, p, "linger: true -> false")
	if sys.Exists("/var/lib/systemd/linger/alice") {
		t.Error("linger file still there")
	}
	if _, err := (&Linger{User: "bob"}).Check(context.Background(), sys); err == nil || err.Error() != `no such user "bob"` {
		t.Errorf("offline, no such user: %v", err)
	}
}

func TestLingerValidate(t *testing.T) {
	for in, want := range map[string]string{"alice": "", "": "user: is required", "-a": "user: is not a valid user name: -a", "a/b": "user: is not a valid user name: a/b"} {
		err := (&Linger{User: in}).Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
