package files

import (
	"context"
	"io/fs"
	"os"
	"reflect"
	"syscall"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"

	"github.com/provision-tool/provision/testhost"
)

const (
	passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n"
	group  = "root:x:0:\nstaff:x:50:\nalice:x:1000:\n"
)

func withAccounts(t *testing.T, sys *tasks.System) {
	taskstest.WriteFile(t, sys, "/etc/passwd", passwd)
	taskstest.WriteFile(t, sys, "/etc/group", group)
}

func ownerOf(t *testing.T, sys *tasks.System, p string) (uid, gid uint32) {
	t.Helper()
	fi, err := os.Lstat(taskstest.HostPath(sys, p))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

func wantOwner(p string, uid, gid uint32) func(t *testing.T, sys *tasks.System) {
	return func(t *testing.T, sys *tasks.System) {
		t.Helper()
		if u, g := ownerOf(t, sys, p); u != uid || g != gid {
			t.Errorf("%s owned by %d:%d, want %d:%d", p, u, g, uid, gid)
		}
	}
}

// TestOwner needs root to chown.
func TestOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		testhost.Skipf(t, "chown needs root")
	}
	chown := func(p string, uid, gid int) func(*testing.T, *tasks.System) {
		return func(t *testing.T, sys *tasks.System) {
			if err := os.Lchown(taskstest.HostPath(sys, p), uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	both := func(fns ...func(*testing.T, *tasks.System)) func(*testing.T, *tasks.System) {
		return func(t *testing.T, sys *tasks.System) {
			for _, f := range fns {
				f(t, sys)
			}
		}
	}
	runCases(t, []planCase{{
		name:  "new file with owner and group",
		setup: withAccounts,
		task:  &Copy{Content: str("x\n"), Dest: "/etc/app.conf", Owner: "alice", Group: "staff", Mode: "0640"},
		want: []tasks.Change{
			{Field: "state", Before: "absent", After: "file"},
			{Field: "content", Path: "/etc/app.conf", Before: "", After: "x\n"},
			{Field: "mode", Before: "", After: "0640"},
			{Field: "owner", Before: "", After: "alice"},
			{Field: "group", Before: "", After: "staff"},
		},
		after: wantOwner("/etc/app.conf", 1000, 50),
	}, {
		name: "owner of an existing file, content kept",
		setup: both(withAccounts, func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/etc/app.conf", "x\n")
		}, chown("/etc/app.conf", 0, 0)),
		task:  &File{Path: "/etc/app.conf", Owner: "alice"},
		want:  []tasks.Change{{Field: "owner", Before: "root", After: "alice"}},
		after: wantOwner("/etc/app.conf", 1000, 0),
	}, {
		name: "numbers not in passwd are used as is",
		setup: both(withAccounts, func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/etc/app.conf", "x\n")
		}, chown("/etc/app.conf", 0, 0)),
		task: &File{Path: "/etc/app.conf", Owner: "1234", Group: "4321"},
		want: []tasks.Change{
			{Field: "owner", Before: "root", After: "1234"},
			{Field: "group", Before: "root", After: "4321"},
		},
		after: wantOwner("/etc/app.conf", 1234, 4321),
	}, {
		name: "setuid survives the chown",
		setup: both(withAccounts, func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/usr/bin/tool", "x\n")
		}, chown("/usr/bin/tool", 0, 0)),
		task: &File{Path: "/usr/bin/tool", Owner: "alice", Mode: "4750"},
		want: []tasks.Change{
			{Field: "mode", Before: "0644", After: "4750"},
			{Field: "owner", Before: "root", After: "alice"},
		},
		after: func(t *testing.T, sys *tasks.System) {
			if m := modeOf(t, sys, "/usr/bin/tool"); m != "4750" {
				t.Errorf("mode %s", m)
			}
		},
	}, {
		name: "chown alone keeps setuid",
		setup: both(withAccounts, func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/usr/bin/tool", "x\n")
		}, chown("/usr/bin/tool", 0, 0), func(t *testing.T, sys *tasks.System) {
			chmod(t, sys, "/usr/bin/tool", 0o755|fs.ModeSetuid)
		}),
		task: &File{Path: "/usr/bin/tool", Owner: "alice"},
		want: []tasks.Change{{Field: "owner", Before: "root", After: "alice"}},
		after: func(t *testing.T, sys *tasks.System) {
			if m := modeOf(t, sys, "/usr/bin/tool"); m != "4755" {
				t.Errorf("mode %s, want 4755 kept", m)
			}
		},
	}, {
		name:  "directory owner",
		setup: withAccounts,
		task:  &File{Path: "/home/alice/.config", State: "directory", Owner: "alice", Group: "alice", Mode: "0700"},
		want: []tasks.Change{
			{Field: "state", Before: "absent", After: "directory"},
			{Field: "mode", Before: "", After: "0700"},
			{Field: "owner", Before: "", After: "alice"},
			{Field: "group", Before: "", After: "alice"},
		},
		after: wantOwner("/home/alice/.config", 1000, 1000),
	}, {
		name:  "link owner, not the target's",
		setup: both(withAccounts, func(t *testing.T, sys *tasks.System) { symlink(t, sys, "/etc/passwd", "/srv/l") }, chown("/srv/l", 0, 0)),
		task:  &File{Path: "/srv/l", State: "link", Src: "/etc/passwd", Owner: "alice"},
		want:  []tasks.Change{{Field: "owner", Before: "root", After: "alice"}},
		after: both(wantOwner("/srv/l", 1000, 0), wantOwner("/etc/passwd", 0, 0)),
	}, {
		name:  "new link target keeps the wanted owner",
		setup: both(withAccounts, func(t *testing.T, sys *tasks.System) { symlink(t, sys, "/a", "/srv/l") }, chown("/srv/l", 1000, 50)),
		task:  &File{Path: "/srv/l", State: "link", Src: "/b", Owner: "alice"},
		want:  []tasks.Change{{Field: "target", Before: "/a", After: "/b"}},
		after: wantOwner("/srv/l", 1000, 50),
	}, {
		name: "a user's file in their home, owner already right",
		setup: both(withAccounts, func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/home/alice/.bashrc", "old\n")
		}, chown("/home/alice", 1000, 1000), chown("/home/alice/.bashrc", 1000, 1000)),
		task:  &Copy{Content: str("new\n"), Dest: "/home/alice/.bashrc", Owner: "alice"},
		want:  []tasks.Change{{Field: "content", Path: "/home/alice/.bashrc", Before: "old\n", After: "new\n"}},
		after: wantOwner("/home/alice/.bashrc", 1000, 1000),
	}, {
		name: "root's file in a user's home is refused",
		setup: both(withAccounts, func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/home/alice/x/.keep", "")
		}, chown("/home/alice", 1000, 1000)),
		task:    &Copy{Content: str("new\n"), Dest: "/home/alice/x/app.conf"},
		wantErr: "/home/alice is owned by uid 1000",
	}})
}

// TestUnknownOwner: an account the host does not have yet (an earlier task
// may create it) gives a planned change with a warning; Apply fails naming
// it while it is still missing and succeeds once it exists.
func TestUnknownOwner(t *testing.T) {
	sys, _ := taskstest.New(t)
	withAccounts(t, sys)
	taskstest.WriteFile(t, sys, "/srv/f", "x")
	task := &File{Path: "/srv/f", Owner: "bob", Group: "bob"}
	p, err := checkOnly(t, sys, task)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges := []tasks.Change{
		{Field: "owner", Before: userName(sys, os.Geteuid()), After: "bob"},
		{Field: "group", Before: groupName(sys, os.Getegid()), After: "bob"},
	}
	wantWarn := []string{
		`no such user "bob" (applying fails unless an earlier task creates it)`,
		`no such group "bob" (applying fails unless an earlier task creates it)`,
	}
	if !reflect.DeepEqual(p.Changes, wantChanges) || !reflect.DeepEqual(p.Warnings, wantWarn) {
		t.Fatalf("plan %#v, warnings %q", p.Changes, p.Warnings)
	}
	if err := task.Apply(context.Background(), sys, p); err == nil || err.Error() != `no such user "bob"` {
		t.Fatalf("apply: %v", err)
	}
	if os.Geteuid() != 0 {
		testhost.Skipf(t, "the rest needs root to chown")
	}
	// An earlier task created bob: the same plan applies and converges.
	taskstest.WriteFile(t, sys, "/etc/passwd", passwd+"bob:x:1001:1001::/home/bob:/bin/sh\n")
	taskstest.WriteFile(t, sys, "/etc/group", group+"bob:x:1001:\n")
	if err := task.Apply(context.Background(), sys, p); err != nil {
		t.Fatal(err)
	}
	wantOwner("/srv/f", 1001, 1001)(t, sys)
	if again, _ := task.Check(context.Background(), sys); !again.Empty() {
		t.Fatalf("did not converge: %s", again)
	}
}

func TestNegativeOwner(t *testing.T) {
	sys, _ := taskstest.New(t)
	_, err := (&File{Path: "/", State: "directory", Owner: "-1"}).Check(context.Background(), sys)
	if err == nil {
		t.Fatal("negative owner accepted")
	}
}
