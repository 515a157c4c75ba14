package doctor

import (
	"reflect"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

func TestAllGreen(t *testing.T) {
	h := newHost(t)
	before := taskstest.Snapshot(t, h.sys)
	rep := h.doctor(Options{})
	if got := taskstest.Snapshot(t, h.sys); !reflect.DeepEqual(before, got) {
		t.Errorf("doctor changed the host")
	}
	if rep.V != 1 || !reflect.DeepEqual(rep.Users, []string{"alice", "bob"}) {
		t.Errorf("report header: v=%d users=%v", rep.V, rep.Users)
	}
	// 7 host-wide + 2 root variants + 13 per-user checks for 2 users.
	if len(rep.Results) != 7+2+13*2 {
		t.Errorf("%d results", len(rep.Results))
	}
	only(t, rep, map[string]Status{"20/alice": Skip, "20/bob": Skip})
	for _, r := range rep.Results {
		if r.Status == Skip && r.ID != 20 {
			t.Errorf("check %d %q skipped: %s", r.ID, r.User, r.Found)
		}
	}
	want(t, result(t, rep, 20, "alice"), Skip, "use --smoke", "")
	if rep.ExitCode() != 0 {
		t.Errorf("exit %d", rep.ExitCode())
	}
	// Checks run in order; podman info once per user.
	var ids []int
	for _, r := range rep.Results {
		ids = append(ids, r.ID)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] < ids[i-1] {
			t.Fatalf("results out of order: %v", ids)
		}
	}
	infos := map[string]int{}
	for _, c := range h.run.Calls {
		if strings.Join(c.Argv, " ") == "/usr/bin/podman info --format json" {
			infos[c.User]++
		}
		if strings.Contains(strings.Join(c.Argv, " "), "reset") || strings.Contains(strings.Join(c.Argv, " "), "migrate") {
			t.Errorf("doctor ran %q", c.Argv)
		}
	}
	if !reflect.DeepEqual(infos, map[string]int{"": 1, "alice": 1, "bob": 1}) {
		t.Errorf("podman info runs per user: %v", infos)
	}
	want(t, result(t, rep, 1, ""), Pass, "podman version 4.3.1 at /usr/bin/podman", "")
	want(t, result(t, rep, 4, ""), Pass, "/usr/bin/newuidmap is setuid root (mode 4755)", "")
	want(t, result(t, rep, 7, "alice"), Pass, "/etc/subuid: 100000:65536 (65536 IDs)", "")
	want(t, result(t, rep, 9, "bob"), Pass, `uid_map "0 1001 1; 1 165536 65536"`, "")
	want(t, result(t, rep, 10, "alice"), Pass, "/run/user/1000 is alice's, mode 0700", "")
	want(t, result(t, rep, 11, "alice"), Pass, "cgroup v2; delegated to user@1000.service: cpuset cpu io memory pids", "")
	want(t, result(t, rep, 14, "alice"), Pass, "/home/alice/.local/share/containers/storage is on / (ext4", "")
	want(t, result(t, rep, 19, "alice"), Pass, "slirp4netns (default of podman 4.3.1) at /usr/bin/slirp4netns", "")
}

func TestUsersOption(t *testing.T) {
	h := newHost(t)
	rep := h.doctor(Options{Users: []string{"bob", "root", "1000", "bob"}, Checks: []int{7}})
	if !reflect.DeepEqual(rep.Users, []string{"bob", "alice"}) {
		t.Errorf("users %v, want bob and alice (root dropped, UID resolved, duplicates removed)", rep.Users)
	}
	rep = h.doctor(Options{Users: []string{"nobody"}, Checks: []int{7, 9}})
	want(t, result(t, rep, 7, "nobody"), Fail, `no user "nobody" in /etc/passwd`, "", "user: {name: nobody}", "subid: {user: nobody}")
	want(t, result(t, rep, 9, "nobody"), Skip, "no user", "")
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		st   []Status
		want int
	}{
		{nil, 0},
		{[]Status{Pass, Skip}, 0},
		{[]Status{Pass, Warn, Skip}, 2},
		{[]Status{Warn, Fail}, 1},
		{[]Status{Skip, Skip}, 0},
	} {
		var r Report
		for _, s := range tc.st {
			r.Results = append(r.Results, Result{Status: s})
		}
		if got := r.ExitCode(); got != tc.want {
			t.Errorf("%v: exit %d, want %d", tc.st, got, tc.want)
		}
	}
}

func TestChecksSelection(t *testing.T) {
	h := newHost(t)
	rep := h.doctor(Options{Checks: []int{2, 15}})
	var got []string
	for _, r := range rep.Results {
		got = append(got, r.Name+"/"+r.User)
	}
	want := []string{"podman_not_setuid/", "config_parse/", "config_parse/alice", "config_parse/bob"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, c := range h.run.Commands() {
		if strings.Contains(c, "unshare") {
			t.Errorf("unselected check ran %q", c)
		}
	}
}

func TestCheckByName(t *testing.T) {
	for _, s := range []string{"8", "subid_overlaps"} {
		if c, ok := CheckByName(s); !ok || c.ID != 8 {
			t.Errorf("%s: %v %v", s, c, ok)
		}
	}
	for _, s := range []string{"0", "21", "overlaps"} {
		if _, ok := CheckByName(s); ok {
			t.Errorf("%s found", s)
		}
	}
	for i, c := range Checks {
		if c.ID != i+1 {
			t.Errorf("check %d at index %d", c.ID, i)
		}
		if (hostChecks[c.ID] == nil) == (userChecks[c.ID] == nil) || c.PerUser != (userChecks[c.ID] != nil) {
			t.Errorf("check %d: implementation does not match PerUser", c.ID)
		}
	}
}

func TestNotRootSkipsPodman(t *testing.T) {
	h := newHost(t)
	old := canSwitchUser
	canSwitchUser = func(*tasks.System) bool { return false }
	t.Cleanup(func() { canSwitchUser = old })
	rep := h.doctor(Options{})
	for _, id := range []int{9, 12, 13, 18, 19} {
		want(t, result(t, rep, id, "alice"), Skip, "doctor is not running as root, so it cannot run podman as alice", "")
	}
	want(t, result(t, rep, 15, ""), Skip, "cannot run podman as root", "")
	// File-based checks still run; short names fall back to the files.
	want(t, result(t, rep, 17, "alice"), Warn, "no unqualified-search registries (the registries files", "")
	want(t, result(t, rep, 7, "alice"), Pass, "", "")
	want(t, result(t, rep, 8, ""), Pass, "", "")
	for _, c := range h.run.Commands() {
		if c != "/usr/bin/podman --version" {
			t.Errorf("ran %q as non-root", c)
		}
	}
}
