package users

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"

	"github.com/provision-tool/provision/testhost"
)

// realShadowHost makes a temp root that shadow's useradd --prefix can
// work on, or skips the test.
func realShadowHost(t *testing.T) (*tasks.System, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testhost.Skipf(t, "needs root: runs shadow's useradd --prefix on a temp root")
	}
	useradd := ""
	for _, p := range []string{"/usr/sbin/useradd", "/sbin/useradd"} {
		if _, err := os.Stat(p); err == nil {
			useradd = p
		}
	}
	if useradd == "" {
		testhost.Skipf(t, "shadow's useradd is not installed")
	}
	root := t.TempDir()
	sys := &tasks.System{Root: root, Runner: tasks.ExecRunner{}, Facts: facts.New(root)}
	for p, c := range map[string]string{
		"/etc/passwd":     "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n",
		"/etc/group":      "root:x:0:\nalice:x:1000:\n",
		"/etc/shadow":     "root:*:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\n",
		"/etc/gshadow":    "root:*::\nalice:!::\n",
		"/etc/login.defs": "UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\nSUB_UID_MIN 100000\nSUB_UID_MAX 600100000\nSUB_UID_COUNT 65536\nSUB_GID_MIN 100000\nSUB_GID_MAX 600100000\nSUB_GID_COUNT 65536\n",
		"/etc/subuid":     "# kept\nbob:100000:65536\n",
		"/etc/subgid":     "",
	} {
		taskstest.WriteFile(t, sys, p, c)
	}
	return sys, useradd
}

// TestRealShadowReadsOurFiles runs the real useradd on files this module
// wrote: shadow must parse them, find no lock left behind, and allocate
// around our ranges; and subid must keep the range useradd gave.
func TestRealShadowReadsOurFiles(t *testing.T) {
	sys, useradd := realShadowHost(t)
	taskstest.Converge(t, sys, &SubID{User: "alice"})
	wantFile(t, sys, "/etc/subuid", "# kept\nbob:100000:65536\nalice:165536:65536\n")
	wantFile(t, sys, "/etc/subgid", "alice:100000:65536\n")
	wantNoLocks(t, sys)

	out, err := exec.Command(useradd, "--prefix", sys.Root, "-M", "-l", "--", "carol").CombinedOutput()
	if err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	// useradd sorts the entries by start when it allocates (commonio_sort),
	// moving unparsed lines such as comments after them.
	wantFile(t, sys, "/etc/subuid", "bob:100000:65536\nalice:165536:65536\n# kept\ncarol:231072:65536\n")
	wantFile(t, sys, "/etc/subgid", "alice:100000:65536\ncarol:165536:65536\n")
	if p := check(t, sys, &SubID{User: "carol"}); !p.Empty() {
		t.Errorf("subid wants to change useradd's range: %s", p)
	}
	if p := check(t, sys, &SubID{User: "alice"}); !p.Empty() {
		t.Errorf("alice after useradd: %s", p)
	}
}

// TestRealShadowHonoursOurLock holds /etc/subuid.lock while the real
// useradd runs: shadow must read our PID, see it alive and wait.
func TestRealShadowHonoursOurLock(t *testing.T) {
	sys, useradd := realShadowHost(t)
	unlock, err := LockFile(sys, "/etc/subuid")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(useradd, "--prefix", sys.Root, "-M", "-l", "--", "dave")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		unlock()
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if strings.Contains(taskstest.ReadFile(t, sys, "/etc/subuid"), "dave") {
		t.Error("useradd wrote /etc/subuid while we held its lock")
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("useradd: %v: %s", err, out.String())
	}
	if time.Since(start) < 1500*time.Millisecond {
		t.Error("useradd did not wait for the lock")
	}
	wantFile(t, sys, "/etc/subuid", "bob:100000:65536\n# kept\ndave:165536:65536\n")
	matches, _ := filepath.Glob(filepath.Join(sys.Root, "etc", "*.lock"))
	if len(matches) != 0 {
		t.Errorf("locks left: %v", matches)
	}
}
