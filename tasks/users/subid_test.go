package users

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"

	"github.com/provision-tool/provision/testhost"
)

const (
	testPasswd = "root:x:0:0:root:/root:/bin/bash\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n" +
		"alice:x:1000:1000::/home/alice:/bin/bash\n" +
		"bob:x:1001:1001::/home/bob:/bin/bash\n"
	testGroup = "root:x:0:\nnogroup:x:65534:\nalice:x:1000:\nbob:x:1001:\nusers:x:100:\n"
)

// newHost makes a System with the accounts above plus files (path ->
// content; a "" content for passwd or group is kept as empty).
func newHost(t *testing.T, files map[string]string) *tasks.System {
	t.Helper()
	sys, _ := taskstest.New(t)
	all := map[string]string{"/etc/passwd": testPasswd, "/etc/group": testGroup}
	for p, c := range files {
		all[p] = c
	}
	for p, c := range all {
		taskstest.WriteFile(t, sys, p, c)
	}
	return sys
}

func check(t *testing.T, sys *tasks.System, task tasks.Task) tasks.Plan {
	t.Helper()
	before := taskstest.Snapshot(t, sys)
	p, err := task.Check(context.Background(), sys)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if after := taskstest.Snapshot(t, sys); !reflect.DeepEqual(before, after) {
		t.Fatalf("check changed the host:\nbefore %v\nafter  %v", before, after)
	}
	return p
}

func wantFile(t *testing.T, sys *tasks.System, path, want string) {
	t.Helper()
	if got := taskstest.ReadFile(t, sys, path); got != want {
		t.Errorf("%s:\n got %q\nwant %q", path, got, want)
	}
}

func wantNoLocks(t *testing.T, sys *tasks.System) {
	t.Helper()
	matches, _ := filepath.Glob(sys.MustPath("/etc/sub*"))
	for _, m := range matches {
		base := filepath.Base(m)
		switch base {
		case "subuid", "subgid", "subuid-", "subgid-":
		default:
			t.Errorf("left behind: /etc/%s", base)
		}
	}
	if _, err := os.Stat(sys.MustPath("/etc/subuid.lock")); err == nil {
		t.Error("/etc/subuid.lock left behind")
	}
}

func changesOf(p tasks.Plan) []tasks.Change { return p.Changes }

func TestSubIDEmptyFiles(t *testing.T) {
	sys := newHost(t, map[string]string{"/etc/subuid": "", "/etc/subgid": ""})
	task := &SubID{User: "alice"}
	p := check(t, sys, task)
	want := []tasks.Change{
		{Field: "subuid", Before: "", After: "100000:65536"},
		{Field: "content", Path: "/etc/subuid", Before: "", After: "alice:100000:65536\n"},
		{Field: "subgid", Before: "", After: "100000:65536"},
		{Field: "content", Path: "/etc/subgid", Before: "", After: "alice:100000:65536\n"},
	}
	if !reflect.DeepEqual(changesOf(p), want) {
		t.Fatalf("plan:\n got %+v\nwant %+v", p.Changes, want)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("unexpected warnings %q", p.Warnings)
	}
	taskstest.Converge(t, sys, task)
	wantFile(t, sys, "/etc/subuid", "alice:100000:65536\n")
	wantFile(t, sys, "/etc/subgid", "alice:100000:65536\n")
	wantFile(t, sys, "/etc/subuid-", "")
	wantNoLocks(t, sys)

	// A second user goes right after.
	taskstest.Converge(t, sys, &SubID{User: "bob"})
	wantFile(t, sys, "/etc/subuid", "alice:100000:65536\nbob:165536:65536\n")
	wantFile(t, sys, "/etc/subgid", "alice:100000:65536\nbob:165536:65536\n")
	wantFile(t, sys, "/etc/subuid-", "alice:100000:65536\n")
}

func TestSubIDCreatesMissingFiles(t *testing.T) {
	sys := newHost(t, nil)
	p := check(t, sys, &SubID{User: "bob", Count: 1000})
	if got := p.String(); got != "subuid: (absent) -> 100000:1000; content of /etc/subuid; subgid: (absent) -> 100000:1000; content of /etc/subgid" {
		t.Errorf("plan = %s", got)
	}
	taskstest.Converge(t, sys, &SubID{User: "bob", Count: 1000})
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		wantFile(t, sys, f, "bob:100000:1000\n")
		st, err := os.Stat(sys.MustPath(f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o644 {
			t.Errorf("%s mode %v, want 0644", f, st.Mode().Perm())
		}
		if os.Geteuid() == 0 {
			if uid, gid := tasks.FileOwner(st); uid != 0 || gid != 0 {
				t.Errorf("%s owned by %d:%d, want root", f, uid, gid)
			}
		}
		if _, err := os.Stat(sys.MustPath(f + "-")); !os.IsNotExist(err) {
			t.Errorf("a backup %s- was made of a file that did not exist (%v)", f, err)
		}
	}
	st, err := os.Stat(sys.MustPath(PwdLockFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v %v, want a 0600 file", PwdLockFile, st, err)
	}
	wantNoLocks(t, sys)
}

func TestSubIDKeepsAdequateRanges(t *testing.T) {
	tests := []struct {
		name   string
		subuid string
		count  int64
	}{
		{"by name", "alice:200000:65536\n", 0},
		{"by numeric UID", "1000:200000:65536\n", 0},
		{"by name and UID together", "alice:200000:30000\n1000:230000:35536\n", 0},
		{"outside the login.defs window", "alice:700000000:65536\n", 0},
		{"bigger than asked", "alice:200000:1000000\n", 0},
		{"duplicate lines count once", "alice:200000:65536\nalice:200000:65536\n", 65536},
		{"next to others, comments and a stray line", "# hand-made\nbob:100000:100000\n\nalice:200000:65536\nnot a range\ncarol:265536:65536", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := newHost(t, map[string]string{"/etc/subuid": tt.subuid, "/etc/subgid": tt.subuid})
			p := check(t, sys, &SubID{User: "alice", Count: tt.count})
			if !p.Empty() {
				t.Fatalf("plan not empty: %s", p)
			}
		})
	}
	t.Run("duplicates do not add up", func(t *testing.T) {
		sys := newHost(t, map[string]string{"/etc/subuid": "alice:200000:40000\nalice:200000:40000\n", "/etc/subgid": "alice:200000:65536\n"})
		p := check(t, sys, &SubID{User: "alice"})
		if got := p.String(); got != "subuid: 200000:40000,200000:40000 -> 100000:65536; content of /etc/subuid" {
			t.Errorf("plan = %s", got)
		}
	})
}

func TestSubIDReplacesTooSmallRange(t *testing.T) {
	old := "# subordinate UIDs\nbob:300000:65536\n\nalice:100000:1000\n  \ncarol:400000:65536"
	sys := newHost(t, map[string]string{"/etc/subuid": old, "/etc/subgid": "alice:100000:65536\n"})
	task := &SubID{User: "alice"}
	p := check(t, sys, task)
	want := []tasks.Change{
		{Field: "subuid", Before: "100000:1000", After: "100000:65536"},
		{Field: "content", Path: "/etc/subuid", Before: old,
			After: "# subordinate UIDs\nbob:300000:65536\n\n  \ncarol:400000:65536\nalice:100000:65536\n"},
	}
	if !reflect.DeepEqual(p.Changes, want) {
		t.Fatalf("plan:\n got %+v\nwant %+v", p.Changes, want)
	}
	if want := []string{"/etc/subuid: alice has 1000 usable IDs, wants 65536"}; !reflect.DeepEqual(p.Warnings, want) {
		t.Errorf("warnings %q, want %q", p.Warnings, want)
	}
	if err := task.Apply(context.Background(), sys, p); err != nil {
		t.Fatal(err)
	}
	wantFile(t, sys, "/etc/subuid", want[1].After)
	wantFile(t, sys, "/etc/subuid-", old)
	wantFile(t, sys, "/etc/subgid", "alice:100000:65536\n")
	if _, err := os.Stat(sys.MustPath("/etc/subgid-")); !os.IsNotExist(err) {
		t.Error("the unchanged /etc/subgid was rewritten")
	}
	if p2 := check(t, sys, task); !p2.Empty() {
		t.Errorf("second check: %s", p2)
	}
}

func TestSubIDReplacesOverlappingRange(t *testing.T) {
	old := "bob:100000:65536\nalice:120000:65536\n"
	sys := newHost(t, map[string]string{"/etc/subuid": old, "/etc/subgid": "alice:1000000:65536\nbob:100000:65536\n"})
	task := &SubID{User: "alice"}
	p := check(t, sys, task)
	if got := p.String(); got != "subuid: 120000:65536 -> 165536:65536; content of /etc/subuid" {
		t.Errorf("plan = %s", got)
	}
	wantWarn := []string{
		"/etc/subuid:2: alice's range 120000:65536 overlaps bob's range 100000:65536 (line 1)",
		"/etc/subuid: alice has 0 usable IDs, wants 65536",
	}
	if !reflect.DeepEqual(p.Warnings, wantWarn) {
		t.Errorf("warnings:\n got %q\nwant %q", p.Warnings, wantWarn)
	}
	taskstest.Converge(t, sys, task)
	wantFile(t, sys, "/etc/subuid", "bob:100000:65536\nalice:165536:65536\n")
}

func TestSubIDOverlapWithAliasIsNotAConflict(t *testing.T) {
	// alias has alice's UID: the same owner to shadow and Podman.
	sys := newHost(t, map[string]string{
		"/etc/passwd": testPasswd + "alias:x:1000:1000::/home/alice:/bin/bash\n",
		"/etc/subuid": "alias:100000:65536\nalice:100000:65536\n",
		"/etc/subgid": "alice:100000:65536\n",
	})
	if p := check(t, sys, &SubID{User: "alice"}); !p.Empty() || len(p.Warnings) != 0 {
		t.Errorf("plan %s, warnings %q; want none", p, p.Warnings)
	}
}

func TestSubIDRangeContainingIDsInUse(t *testing.T) {
	// A local user with UID 150000 and a group with GID 120000.
	sys := newHost(t, map[string]string{
		"/etc/passwd": testPasswd + "big:x:150000:1001::/home/big:/bin/sh\n",
		"/etc/group":  testGroup + "biggroup:x:120000:\n",
		"/etc/subuid": "alice:100000:65536\n",
		"/etc/subgid": "alice:100000:65536\n",
	})
	task := &SubID{User: "alice"}
	p := check(t, sys, task)
	if got := p.String(); got != "subuid: 100000:65536 -> 150001:65536; content of /etc/subuid; subgid: 100000:65536 -> 120001:65536; content of /etc/subgid" {
		t.Errorf("plan = %s", got)
	}
	wantWarn := []string{
		"/etc/subuid:1: alice's range 100000:65536 contains UID 150000, in use by user big",
		"/etc/subuid: alice has 0 usable IDs, wants 65536",
		"/etc/subgid:1: alice's range 100000:65536 contains GID 120000, in use by group biggroup",
		"/etc/subgid: alice has 0 usable IDs, wants 65536",
	}
	if !reflect.DeepEqual(p.Warnings, wantWarn) {
		t.Errorf("warnings:\n got %q\nwant %q", p.Warnings, wantWarn)
	}
	taskstest.Converge(t, sys, task)
	wantFile(t, sys, "/etc/subuid", "alice:150001:65536\n")
	wantFile(t, sys, "/etc/subgid", "alice:120001:65536\n")
}

func TestSubIDRangeContainingOwnUID(t *testing.T) {
	sys := newHost(t, map[string]string{"/etc/subuid": "alice:0:65536\n", "/etc/subgid": "alice:1000:1\n"})
	p := check(t, sys, &SubID{User: "alice", Count: 1})
	want := []string{
		"/etc/subuid:1: alice's range 0:65536 contains UID 0, in use by user root",
		"/etc/subuid: alice has 0 usable IDs, wants 1",
		"/etc/subgid:1: alice's range 1000:1 contains GID 1000, in use by group alice",
		"/etc/subgid: alice has 0 usable IDs, wants 1",
	}
	if !reflect.DeepEqual(p.Warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", p.Warnings, want)
	}
}

func TestSubIDPrimaryGIDWithoutGroupIsInUse(t *testing.T) {
	sys := newHost(t, map[string]string{
		"/etc/passwd": testPasswd + "odd:x:2000:100500::/home/odd:/bin/sh\n",
		"/etc/subgid": "",
	})
	p := check(t, sys, &SubID{User: "alice"})
	if got := p.Changes[2]; got.Field != "subgid" || got.After != "100501:65536" {
		t.Errorf("subgid change %+v, want the range to skip GID 100500", got)
	}
}

func TestSubIDKeepsGoodRangeDropsBadOne(t *testing.T) {
	old := "bob:100000:65536\nalice:100010:10\nalice:200000:65536\n"
	sys := newHost(t, map[string]string{"/etc/subuid": old, "/etc/subgid": "alice:200000:65536\n"})
	task := &SubID{User: "alice"}
	p := check(t, sys, task)
	want := []tasks.Change{
		{Field: "subuid", Before: "100010:10,200000:65536", After: "200000:65536"},
		{Field: "content", Path: "/etc/subuid", Before: old, After: "bob:100000:65536\nalice:200000:65536\n"},
	}
	if !reflect.DeepEqual(p.Changes, want) {
		t.Fatalf("plan:\n got %+v\nwant %+v", p.Changes, want)
	}
	taskstest.Converge(t, sys, task)
	wantFile(t, sys, "/etc/subuid", want[1].After)
}

func TestSubIDOwnMalformedLineIsReplaced(t *testing.T) {
	old := "alice:100000:65536 \nbob:165536:65536\n"
	sys := newHost(t, map[string]string{"/etc/subuid": old, "/etc/subgid": "alice:100000:65536\n"})
	task := &SubID{User: "alice"}
	p := check(t, sys, task)
	if got := p.String(); got != `subuid: "alice:100000:65536 " -> 100000:65536; content of /etc/subuid` {
		t.Errorf("plan = %s", got)
	}
	if len(p.Warnings) != 2 || p.Warnings[0] != "/etc/subuid:1: alice's line is malformed (contains whitespace)" {
		t.Errorf("warnings %q", p.Warnings)
	}
	taskstest.Converge(t, sys, task)
	wantFile(t, sys, "/etc/subuid", "bob:165536:65536\nalice:100000:65536\n")
}

func TestSubIDOtherMalformedLinesAreKeptAndAvoided(t *testing.T) {
	old := "carol:100000:65536 \r\n" + // trailing blanks: containers/storage still reads it
		"dave:0x28000:65536\n" + // shadow reads hex: 163840
		"#erin:229376:65536\n" + // shadow parses comments like ranges
		"garbage\n"
	sys := newHost(t, map[string]string{"/etc/subuid": old, "/etc/subgid": "alice:100000:65536\n"})
	task := &SubID{User: "alice"}
	p := check(t, sys, task)
	wantWarn := []string{
		"/etc/subuid:1: malformed line (contains whitespace): left unchanged, but fix it, since rootless Podman may reject the whole file",
		"/etc/subuid:2: malformed line (start \"0x28000\" is not a decimal number): left unchanged, but fix it, since rootless Podman may reject the whole file",
		"/etc/subuid:4: malformed line (has 1 colon-separated fields, want 3 (owner:start:count)): left unchanged, but fix it, since rootless Podman may reject the whole file",
	}
	if !reflect.DeepEqual(p.Warnings, wantWarn) {
		t.Errorf("warnings:\n got %q\nwant %q", p.Warnings, wantWarn)
	}
	// 100000-165535 (carol), 163840-229375 (dave), 229376-294911 (#erin).
	if got := p.String(); got != "subuid: (absent) -> 294912:65536; content of /etc/subuid" {
		t.Errorf("plan = %s", got)
	}
	taskstest.Converge(t, sys, task)
	wantFile(t, sys, "/etc/subuid", old+"alice:294912:65536\n")
}

func TestSubIDOwnRangeOverlappingMalformedLineIsReplaced(t *testing.T) {
	sys := newHost(t, map[string]string{
		"/etc/subuid": "carol:100000:65536 \nalice:100000:65536\n",
		"/etc/subgid": "alice:100000:65536\n",
	})
	p := check(t, sys, &SubID{User: "alice"})
	if got := p.String(); got != "subuid: 100000:65536 -> 165536:65536; content of /etc/subuid" {
		t.Errorf("plan = %s", got)
	}
}

func TestSubIDWarnsAboutOtherOwners(t *testing.T) {
	sys := newHost(t, map[string]string{
		"/etc/passwd": testPasswd + "svc:x:120000:120000::/:/bin/false\n",
		"/etc/subuid": "bob:100000:65536\ncarol:100000:65536\n1001:110000:10\nalice:300000:65536\n",
		"/etc/subgid": "alice:300000:65536\n",
	})
	p := check(t, sys, &SubID{User: "alice"})
	if !p.Empty() {
		t.Errorf("plan %s, want none", p)
	}
	want := []string{
		"/etc/subuid:1: bob's range 100000:65536 overlaps carol's range 100000:65536 (line 2): each can reach the other's files",
		"/etc/subuid:2: carol's range 100000:65536 overlaps 1001's range 110000:10 (line 3): each can reach the other's files",
		"/etc/subuid:1: bob's range 100000:65536 contains UID 120000, in use by user svc",
		"/etc/subuid:2: carol's range 100000:65536 contains UID 120000, in use by user svc",
	}
	if !reflect.DeepEqual(p.Warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", p.Warnings, want)
	}
}

func TestSubIDCapsWarnings(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 25; i++ {
		fmt.Fprintf(&b, "u%d:100000:65536\n", i)
	}
	sys := newHost(t, map[string]string{"/etc/subuid": b.String(), "/etc/subgid": ""})
	p := check(t, sys, &SubID{User: "alice"})
	var overlaps int
	for _, w := range p.Warnings {
		if strings.Contains(w, " overlaps ") {
			overlaps++
		}
	}
	if overlaps != maxWarnings || !contains(p.Warnings, "... and 290 more overlaps") {
		t.Errorf("got %d overlap warnings (want %d) and %q", overlaps, maxWarnings, p.Warnings)
	}
}

func TestSubIDLoginDefsWindow(t *testing.T) {
	sys := newHost(t, map[string]string{
		"/etc/login.defs": "UID_MIN 1000\nSUB_UID_MIN 524288\nSUB_UID_MAX 1000000000\nSUB_UID_COUNT 65536\n" +
			"SUB_GID_MIN 200000\nSUB_GID_MAX 600100000\n",
		"/etc/subuid": "core:524288:65536\n",
		"/etc/subgid": "",
	})
	task := &SubID{User: "alice"}
	taskstest.Converge(t, sys, task)
	wantFile(t, sys, "/etc/subuid", "core:524288:65536\nalice:589824:65536\n")
	wantFile(t, sys, "/etc/subgid", "alice:200000:65536\n")
}

func TestSubIDNoHoleLeft(t *testing.T) {
	sys := newHost(t, map[string]string{
		"/etc/login.defs": "SUB_UID_MIN 100000\nSUB_UID_MAX 231070\n",
		"/etc/subuid":     "bob:100000:65536\n",
		"/etc/subgid":     "",
	})
	_, err := (&SubID{User: "alice"}).Check(context.Background(), sys)
	want := "/etc/subuid: no free range of 65536 IDs left between 100000 and 231070 (SUB_UID_MIN and SUB_UID_MAX in /etc/login.defs)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

func TestSubIDLargeCount(t *testing.T) {
	sys := newHost(t, map[string]string{"/etc/subuid": "bob:100000:65536\n", "/etc/subgid": "alice:100000:65536\n"})
	task := &SubID{User: "alice", Count: 1000000}
	taskstest.Converge(t, sys, task)
	wantFile(t, sys, "/etc/subuid", "bob:100000:65536\nalice:165536:1000000\n")
	// The too-small subgid range is replaced, and may reuse its place.
	wantFile(t, sys, "/etc/subgid", "alice:100000:1000000\n")
}

func TestSubIDNumericUserArgument(t *testing.T) {
	sys := newHost(t, map[string]string{"/etc/subuid": "", "/etc/subgid": ""})
	taskstest.Converge(t, sys, &SubID{User: "1001"})
	wantFile(t, sys, "/etc/subuid", "bob:100000:65536\n")
	if _, err := (&SubID{User: "4242"}).Check(context.Background(), sys); err == nil || err.Error() != "no user with UID 4242" {
		t.Errorf("err = %v", err)
	}
}

func TestSubIDBackupKeepsModeAndContent(t *testing.T) {
	old := "bob:100000:65536\n"
	sys := newHost(t, map[string]string{"/etc/subuid": old, "/etc/subgid": old})
	if err := os.Chmod(sys.MustPath("/etc/subuid"), 0o640); err != nil {
		t.Fatal(err)
	}
	oldTime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(sys.MustPath("/etc/subuid"), oldTime, oldTime); err != nil {
		t.Fatal(err)
	}
	task := &SubID{User: "alice"}
	p := check(t, sys, task)
	if !contains(p.Warnings, "/etc/subuid has mode 0640: rootless Podman without libsubid reads it as the user and needs it world-readable (0644)") {
		t.Errorf("no mode warning in %q", p.Warnings)
	}
	taskstest.Converge(t, sys, task)
	wantFile(t, sys, "/etc/subuid-", old)
	for _, f := range []string{"/etc/subuid", "/etc/subuid-"} {
		st, err := os.Stat(sys.MustPath(f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o640 {
			t.Errorf("%s mode %v, want 0640 kept", f, st.Mode().Perm())
		}
	}
	st, _ := os.Stat(sys.MustPath("/etc/subuid-"))
	if !st.ModTime().Equal(oldTime) {
		t.Errorf("backup mtime %v, want the old file's %v", st.ModTime(), oldTime)
	}
}

func TestSubIDRefusesSymlink(t *testing.T) {
	sys := newHost(t, map[string]string{"/etc/real": "", "/etc/subgid": ""})
	if err := os.Symlink("real", sys.MustPath("/etc/subuid")); err != nil {
		t.Fatal(err)
	}
	_, err := (&SubID{User: "alice"}).Check(context.Background(), sys)
	if err == nil || !strings.Contains(err.Error(), "/etc/subuid is not a regular file") {
		t.Errorf("err = %v", err)
	}
}

func TestSubIDDeterministic(t *testing.T) {
	files := map[string]string{
		"/etc/subuid": "bob:100000:65536\n# x\ncarol:231072:65536\ndave:170000:100\n",
		"/etc/subgid": "carol:100000:65536\n",
	}
	var results []string
	for i := 0; i < 3; i++ {
		sys := newHost(t, files)
		taskstest.Converge(t, sys, &SubID{User: "alice"})
		results = append(results, taskstest.ReadFile(t, sys, "/etc/subuid")+"|"+taskstest.ReadFile(t, sys, "/etc/subgid"))
	}
	want := files["/etc/subuid"] + "alice:296608:65536\n|carol:100000:65536\nalice:165536:65536\n"
	for i, r := range results {
		if r != want {
			t.Errorf("run %d: %q, want %q", i, r, want)
		}
	}
	// The order of other owners' lines does not change the allocation.
	sys := newHost(t, map[string]string{"/etc/subuid": "dave:170000:100\ncarol:231072:65536\nbob:100000:65536\n", "/etc/subgid": ""})
	taskstest.Converge(t, sys, &SubID{User: "alice"})
	if got := taskstest.ReadFile(t, sys, "/etc/subuid"); !strings.HasSuffix(got, "\nalice:296608:65536\n") {
		t.Errorf("reordered file gave %q", got)
	}
}

func TestSubIDApplyRecomputesUnderLock(t *testing.T) {
	sys := newHost(t, map[string]string{"/etc/subuid": "", "/etc/subgid": ""})
	task := &SubID{User: "alice"}
	p := check(t, sys, task)
	// useradd gives bob the range Check planned for alice.
	taskstest.WriteFile(t, sys, "/etc/subuid", "bob:100000:65536\n")
	if err := task.Apply(context.Background(), sys, p); err != nil {
		t.Fatal(err)
	}
	wantFile(t, sys, "/etc/subuid", "bob:100000:65536\nalice:165536:65536\n")
	wantFile(t, sys, "/etc/subgid", "alice:100000:65536\n")
	if p2 := check(t, sys, task); !p2.Empty() {
		t.Errorf("second check: %s", p2)
	}
}

func TestSubIDApplyOnlyPlannedFiles(t *testing.T) {
	sys := newHost(t, map[string]string{"/etc/subuid": "", "/etc/subgid": "alice:100000:65536\n"})
	task := &SubID{User: "alice"}
	p := check(t, sys, task)
	if d := p.Data.(subidData); !reflect.DeepEqual(d.Files, []string{"/etc/subuid"}) {
		t.Fatalf("data %+v", d)
	}
	taskstest.WriteFile(t, sys, "/etc/subgid", "")
	if err := task.Apply(context.Background(), sys, p); err != nil {
		t.Fatal(err)
	}
	wantFile(t, sys, "/etc/subgid", "")
	if _, err := os.Stat(sys.MustPath("/etc/subgid.lock")); err == nil {
		t.Error("subgid.lock left behind")
	}
}

func TestSubIDUnknownUser(t *testing.T) {
	sys := newHost(t, map[string]string{"/etc/subuid": "", "/etc/subgid": ""})
	task := &SubID{User: "zoe"}
	p := check(t, sys, task)
	if p.String() != "subuid: (absent) -> 100000:65536; content of /etc/subuid; subgid: (absent) -> 100000:65536; content of /etc/subgid" {
		t.Errorf("plan = %s", p)
	}
	if len(p.Warnings) != 1 || !strings.HasPrefix(p.Warnings[0], "user zoe does not exist (yet)") {
		t.Errorf("warnings %q", p.Warnings)
	}
	err := task.Apply(context.Background(), sys, p)
	if err == nil || err.Error() != "no such user zoe" {
		t.Errorf("apply err = %v", err)
	}
	wantFile(t, sys, "/etc/subuid", "")
	wantNoLocks(t, sys)
}

func TestSubIDStaleLockIsBroken(t *testing.T) {
	sys := newHost(t, map[string]string{"/etc/subuid": "", "/etc/subgid": ""})
	// A PID above pid_max's ceiling (2^22) cannot be alive.
	taskstest.WriteFile(t, sys, "/etc/subuid.lock", "99999999\x00")
	taskstest.Converge(t, sys, &SubID{User: "alice"})
	wantFile(t, sys, "/etc/subuid", "alice:100000:65536\n")
	wantNoLocks(t, sys)
}

func TestSubIDLiveLockFails(t *testing.T) {
	sys := newHost(t, map[string]string{"/etc/subuid": "", "/etc/subgid": ""})
	taskstest.WriteFile(t, sys, "/etc/subgid.lock", strconv.Itoa(os.Getpid())+"\x00")
	task := &SubID{User: "alice"}
	p := check(t, sys, task)
	err := task.Apply(context.Background(), sys, p)
	if want := fmt.Sprintf("lock /etc/subgid.lock already used by PID %d", os.Getpid()); err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	// Nothing was written, our own locks are gone, the other one stays.
	wantFile(t, sys, "/etc/subuid", "")
	if _, err := os.Stat(sys.MustPath("/etc/subuid.lock")); err == nil {
		t.Error("/etc/subuid.lock left behind")
	}
	if _, err := os.Stat(sys.MustPath(fmt.Sprintf("/etc/subgid.%d", os.Getpid()))); err == nil {
		t.Error("temp PID file left behind")
	}
	wantFile(t, sys, "/etc/subgid.lock", strconv.Itoa(os.Getpid())+"\x00")
	// The global lock was released too.
	unlock, err := LockPasswd(context.Background(), sys)
	if err != nil {
		t.Fatalf("pwd lock still held: %v", err)
	}
	unlock()
}

func TestSubIDWaitsForPasswdLock(t *testing.T) {
	sys := newHost(t, map[string]string{"/etc/subuid": "", "/etc/subgid": ""})
	holder := holdPwdLock(t, sys)
	defer holder.Close()
	old := lockTimeout
	lockTimeout = 200 * time.Millisecond
	defer func() { lockTimeout = old }()
	task := &SubID{User: "alice"}
	p := check(t, sys, task)
	start := time.Now()
	err := task.Apply(context.Background(), sys, p)
	if err == nil || err.Error() != "lock /etc/.pwd.lock: still held by another program after 200ms" {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Error("gave up before the timeout")
	}
	wantFile(t, sys, "/etc/subuid", "")
	wantNoLocks(t, sys)
}

// holdPwdLock takes /etc/.pwd.lock through another open file description,
// as another program would.
func holdPwdLock(t *testing.T, sys *tasks.System) *os.File {
	t.Helper()
	f, err := os.OpenFile(sys.MustPath(PwdLockFile), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		f.Close()
		if errors.Is(err, unix.EINVAL) {
			testhost.Skipf(t, "kernel without open file description locks")
		}
		t.Fatal(err)
	}
	return f
}

func TestSubIDValidate(t *testing.T) {
	tests := []struct {
		task SubID
		arg  string
	}{
		{SubID{}, "user"},
		{SubID{User: "-r"}, "user"},
		{SubID{User: "+nis"}, "user"},
		{SubID{User: "#x"}, "user"},
		{SubID{User: "a:b"}, "user"},
		{SubID{User: "a b"}, "user"},
		{SubID{User: "a\n"}, "user"},
		{SubID{User: "alice", Count: -1}, "count"},
		{SubID{User: "alice", Count: 1 << 32}, "count"},
	}
	for _, tt := range tests {
		err := tt.task.Validate()
		var ae *tasks.ArgError
		if !errors.As(err, &ae) || ae.Arg != tt.arg {
			t.Errorf("Validate(%+v) = %v, want an error for %s", tt.task, err, tt.arg)
		}
	}
	if err := (&SubID{User: "alice", Count: 10}).Validate(); err != nil {
		t.Errorf("valid task: %v", err)
	}
}

func TestSubIDNSSWarnings(t *testing.T) {
	sys := newHost(t, map[string]string{
		"/etc/subuid": "", "/etc/subgid": "",
		"/etc/nsswitch.conf": "# comment\npasswd: files systemd sss [NOTFOUND=return]\ngroup: files systemd\nsubid: sss\n",
	})
	p := check(t, sys, &SubID{User: "alice"})
	want := []string{
		"/etc/nsswitch.conf: passwd also comes from sss; IDs served that way are not checked against the ranges",
		"/etc/nsswitch.conf sets \"subid: sss\": shadow's libsubid reads ranges from there, not from /etc/subuid and /etc/subgid",
	}
	if !reflect.DeepEqual(p.Warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", p.Warnings, want)
	}
}

func TestSubIDRegistered(t *testing.T) {
	m, ok := tasks.Lookup("subid")
	if !ok {
		t.Fatal("subid is not registered")
	}
	args := m.Args()
	if len(args) != 2 || args[0].Name != "user" || !args[0].Required || args[1].Name != "count" || args[1].Default != "65536" {
		t.Errorf("args %+v", args)
	}
	if _, ok := m.New().(*SubID); !ok {
		t.Error("New does not make a *SubID")
	}
}

// TestCheckModePlansOnEarlierPlans: in check mode nothing is written, so a
// second user's range must be planned around the first user's planned one.
func TestCheckModePlansOnEarlierPlans(t *testing.T) {
	sys, _ := taskstest.New(t)
	sys.Memo = &tasks.Memo{}
	taskstest.WriteFile(t, sys, "/etc/passwd", "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n")
	taskstest.WriteFile(t, sys, "/etc/group", "root:x:0:\nalice:x:1000:\nbob:x:1001:\n")
	var afters []string
	for _, u := range []string{"alice", "bob", "alice"} {
		p, err := (&SubID{User: u}).Check(context.Background(), sys)
		if err != nil {
			t.Fatal(err)
		}
		after := ""
		for _, c := range p.Changes {
			if c.Field == "subuid" {
				after = c.After
			}
		}
		afters = append(afters, after)
	}
	// alice's second check sees her own planned range: nothing more to do.
	if afters[0] != "100000:65536" || afters[1] != "165536:65536" || afters[2] != "" {
		t.Fatalf("planned %q", afters)
	}
	if taskstest.ReadFile(t, sys, "/etc/subuid") != "" {
		t.Fatal("check wrote the file")
	}
}
