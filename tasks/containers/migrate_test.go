package containers

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

const (
	pauseFile = "/run/user/1000/libpod/tmp/pause.pid"
	// kernelMap is how the kernel prints a two-line map.
	kernelMap = "         0       1000          1\n         1     100000      65536\n"
)

// migrateHost is alice (1000:1000) with one range in each file and a
// running pause process 4242 whose namespace was made from that range.
func migrateHost(t *testing.T) (*tasks.System, *taskstest.FakeRunner) {
	t.Helper()
	sys, run := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n")
	taskstest.WriteFile(t, sys, "/etc/subuid", "alice:100000:65536\nbob:165536:65536\n")
	taskstest.WriteFile(t, sys, "/etc/subgid", "alice:100000:65536\nbob:165536:65536\n")
	startPause(t, sys, "4242", 1000, kernelMap, kernelMap)
	return sys, run
}

func startPause(t *testing.T, sys *tasks.System, pid string, uid int, uidMap, gidMap string) {
	t.Helper()
	taskstest.WriteFile(t, sys, pauseFile, pid+"\n")
	taskstest.WriteFile(t, sys, "/proc/"+pid+"/status", "Name:\tpodman pause\nState:\tS (sleeping)\nUid:\t"+strconv.Itoa(uid)+"\t"+strconv.Itoa(uid)+"\t"+strconv.Itoa(uid)+"\t"+strconv.Itoa(uid)+"\n")
	taskstest.WriteFile(t, sys, "/proc/"+pid+"/uid_map", uidMap)
	taskstest.WriteFile(t, sys, "/proc/"+pid+"/gid_map", gidMap)
}

// onMigrate makes the fake podman do what migrate does to the pause
// process: remove its pid file and kill it.
func onMigrate(t *testing.T, sys *tasks.System, run *taskstest.FakeRunner) {
	run.On("podman system migrate", func(c tasks.Cmd) tasks.Result {
		os.Remove(sys.MustPath(pauseFile))
		os.RemoveAll(sys.MustPath("/proc/4242"))
		return tasks.Result{}
	})
}

func TestMigrateFreshNamespace(t *testing.T) {
	sys, run := migrateHost(t)
	p := check(t, sys, &PodmanMigrate{User: "alice"})
	wantChanges(t, p, nil)
	if len(run.Calls) != 0 {
		t.Fatalf("ran %v", run.Commands())
	}
}

func TestMigrateStaleNamespace(t *testing.T) {
	sys, run := migrateHost(t)
	// alice got a second, lower range after her pause process started.
	taskstest.WriteFile(t, sys, "/etc/subuid", "alice:100000:65536\nbob:165536:65536\nalice:40000:1000\n")
	onMigrate(t, sys, run)
	m := &PodmanMigrate{User: "alice"}
	p := check(t, sys, m)
	wantChanges(t, p, []tasks.Change{{
		Field:  "user namespace",
		Before: "uid_map 0 1000 1, 1 100000 65536; gid_map 0 1000 1, 1 100000 65536",
		After:  "uid_map 0 1000 1, 1 40000 1000, 1001 100000 65536; gid_map 0 1000 1, 1 100000 65536",
	}})
	if len(run.Calls) != 0 {
		t.Fatalf("check ran %v", run.Commands())
	}
	taskstest.Converge(t, sys, m)
	if got := run.Commands(); !reflect.DeepEqual(got, []string{"podman system migrate"}) {
		t.Fatalf("commands %v", got)
	}
	if c := run.Calls[0]; c.User != "alice" || c.Dir != "/" || len(c.Env) != 0 {
		t.Fatalf("command ran as %q in %q with %v", c.User, c.Dir, c.Env)
	}
}

func TestMigrateStaleGIDs(t *testing.T) {
	sys, run := migrateHost(t)
	taskstest.WriteFile(t, sys, "/etc/subgid", "1000:300000:65536\n") // by UID, as containers/storage matches it
	onMigrate(t, sys, run)
	p := check(t, sys, &PodmanMigrate{User: "1000"})
	if len(p.Changes) != 1 || !strings.HasSuffix(p.Changes[0].After, "gid_map 0 1000 1, 1 300000 65536") {
		t.Fatalf("plan %#v", p.Changes)
	}
	taskstest.Converge(t, sys, &PodmanMigrate{User: "1000"})
	if run.Calls[0].User != "alice" {
		t.Fatalf("ran as %q", run.Calls[0].User)
	}
}

func TestMigrateMatchesSortedRanges(t *testing.T) {
	sys, _ := migrateHost(t)
	taskstest.WriteFile(t, sys, "/etc/subuid", "# comment\n\nalice:200000:1000\nalice:100000:65536\n")
	startPause(t, sys, "4242", 1000, "0 1000 1\n1 100000 65536\n65537 200000 1000\n", kernelMap)
	wantChanges(t, check(t, sys, &PodmanMigrate{User: "alice"}), nil)
}

func TestMigrateNothingToMigrate(t *testing.T) {
	cases := map[string]func(t *testing.T, sys *tasks.System){
		"no pause.pid": func(t *testing.T, sys *tasks.System) {
			os.Remove(sys.MustPath(pauseFile))
		},
		"dead pause process": func(t *testing.T, sys *tasks.System) {
			os.RemoveAll(sys.MustPath("/proc/4242"))
		},
		"pid reused by another user": func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/proc/4242/status", "Name:\tbash\nUid:\t1001\t1001\t1001\t1001\n")
		},
		"garbage pid file": func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, pauseFile, "x\n")
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			sys, run := migrateHost(t)
			taskstest.WriteFile(t, sys, "/etc/subuid", "alice:300000:65536\n") // stale if it were running
			setup(t, sys)
			wantChanges(t, check(t, sys, &PodmanMigrate{User: "alice"}), nil)
			if len(run.Calls) != 0 {
				t.Fatalf("ran %v", run.Commands())
			}
		})
	}
}

func TestMigrateForce(t *testing.T) {
	sys, run := migrateHost(t)
	onMigrate(t, sys, run)
	m := &PodmanMigrate{User: "alice", Force: true}
	if !m.Imperative() || (&PodmanMigrate{User: "alice"}).Imperative() {
		t.Fatal("force must make the task imperative, and only force")
	}
	p := check(t, sys, m)
	wantChanges(t, p, []tasks.Change{{Field: "user namespace",
		Before: "uid_map 0 1000 1, 1 100000 65536; gid_map 0 1000 1, 1 100000 65536",
		After:  "uid_map 0 1000 1, 1 100000 65536; gid_map 0 1000 1, 1 100000 65536"}})
	if err := m.Apply(context.Background(), sys, p); err != nil {
		t.Fatal(err)
	}
	// Without a pause process force still plans, with no "before".
	p = check(t, sys, m)
	wantChanges(t, p, []tasks.Change{{Field: "user namespace",
		After: "uid_map 0 1000 1, 1 100000 65536; gid_map 0 1000 1, 1 100000 65536"}})
}

func TestMigrateNoRanges(t *testing.T) {
	sys, _ := migrateHost(t)
	os.Remove(sys.MustPath("/etc/subuid"))
	taskstest.WriteFile(t, sys, "/etc/subgid", "bob:165536:65536\n")
	startPause(t, sys, "4242", 1000, "0 1000 1\n", "0 1000 1\n")
	wantChanges(t, check(t, sys, &PodmanMigrate{User: "alice"}), nil)
}

func TestMigrateFailure(t *testing.T) {
	sys, run := migrateHost(t)
	taskstest.WriteFile(t, sys, "/etc/subuid", "alice:300000:65536\n")
	run.On("podman system migrate", func(tasks.Cmd) tasks.Result {
		return tasks.Result{ExitCode: 125, Stderr: "Error: could not get runtime: cannot re-exec process\n"}
	})
	m := &PodmanMigrate{User: "alice"}
	p := check(t, sys, m)
	err := m.Apply(context.Background(), sys, p)
	if err == nil || err.Error() != "user alice: podman system migrate: exit status 125: Error: could not get runtime: cannot re-exec process" {
		t.Fatalf("error %v", err)
	}
}

func TestMigrateErrors(t *testing.T) {
	t.Run("unknown user", func(t *testing.T) {
		sys, _ := migrateHost(t)
		p, err := (&PodmanMigrate{User: "carol"}).Check(context.Background(), sys)
		if err != nil || !p.Empty() || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "carol does not exist") {
			t.Fatalf("plan %+v, error %v", p, err)
		}
	})
	t.Run("malformed subuid", func(t *testing.T) {
		sys, _ := migrateHost(t)
		// In check mode the subid task that repairs the file has only
		// planned to: the handler ignores the malformed line and says so.
		taskstest.WriteFile(t, sys, "/etc/subuid", "alice:100000:65536\nbob 165536 65536\n")
		p, err := (&PodmanMigrate{User: "alice"}).Check(context.Background(), sys)
		if err != nil || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "/etc/subuid:2: malformed line ignored") {
			t.Fatalf("plan %+v, error %v", p, err)
		}
	})
	t.Run("malformed uid_map", func(t *testing.T) {
		sys, _ := migrateHost(t)
		taskstest.WriteFile(t, sys, "/proc/4242/uid_map", "0 1000\n")
		_, err := (&PodmanMigrate{User: "alice"}).Check(context.Background(), sys)
		if err == nil || !strings.Contains(err.Error(), "/proc/4242/uid_map") {
			t.Fatalf("error %v", err)
		}
	})
	for _, user := range []string{"", "-alice", "a:b", "../x"} {
		err := (&PodmanMigrate{User: user}).Validate()
		var ae *tasks.ArgError
		if !errors.As(err, &ae) || ae.Arg != "user" {
			t.Errorf("user %q: error %v", user, err)
		}
	}
}
