package doctor

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/tasks"

	"github.com/provision-tool/provision/testhost"
)

func TestPodmanMissing(t *testing.T) {
	h := newHost(t)
	h.remove("/usr/bin/podman")
	rep := h.doctor(Options{})
	want(t, result(t, rep, 1, ""), Fail, "podman is not in PATH", "podman: command not found", "task: package: {names: [podman]}")
	for _, id := range []int{2} {
		want(t, result(t, rep, id, ""), Skip, "podman is not installed (check 1)", "")
	}
	for _, id := range []int{9, 12, 13, 18, 19, 20} {
		r := result(t, rep, id, "alice")
		if r.Status != Skip {
			t.Errorf("check %d: %s, want skip", id, r.Status)
		}
	}
	want(t, result(t, rep, 12, "bob"), Skip, "podman is not installed (check 1)", "")
	if len(h.run.Calls) != 0 {
		t.Errorf("commands ran without podman: %v", h.run.Commands())
	}
	if rep.ExitCode() != 1 {
		t.Errorf("exit %d", rep.ExitCode())
	}
}

func TestPodmanVersion(t *testing.T) {
	for _, tc := range []struct {
		v      string
		status Status
		found  string
	}{
		{"3.4.4", Warn, "podman 3.x uses CNI only"},
		{"4.3.1", Pass, "4.4 or later is recommended"},
		{"5.2.2", Pass, "podman version 5.2.2 at /usr/bin/podman"},
	} {
		h := newHost(t)
		h.version = tc.v
		rep := h.doctor(Options{Checks: []int{1}})
		want(t, result(t, rep, 1, ""), tc.status, tc.found, "")
	}
}

func TestSetuidPodman(t *testing.T) {
	h := newHost(t)
	h.chown("/usr/bin/podman", 0)
	h.chmod("/usr/bin/podman", 0o4755)
	rep := h.doctor(Options{})
	want(t, result(t, rep, 2, ""), Fail, "/usr/bin/podman is setuid: mode 4755", "(silent) every user can act as root",
		"run: chmod u-s /usr/bin/podman")

	// Run by a user, a setuid-root podman is rootful (euid 0): on a real
	// host it reported root's storage, or failed on the user's
	// XDG_RUNTIME_DIR "not owned by the current user". Doctor runs it
	// only as root and says why it cannot show the users' view.
	for _, id := range []int{9, 13, 18, 19} {
		want(t, result(t, rep, id, "alice"), Skip, "/usr/bin/podman is setuid root (check 2): run as alice it runs rootful", "")
	}
	want(t, result(t, rep, 12, "alice"), Skip, "/usr/bin/podman is setuid root (check 2)", "")
	want(t, result(t, rep, 15, "alice"), Skip, "/usr/bin/podman is setuid root (check 2)", "")
	want(t, result(t, rep, 15, ""), Pass, "podman info as root succeeded", "")
	for _, c := range h.run.Calls {
		if c.User != "" {
			t.Errorf("doctor ran %q as %s with a setuid podman", strings.Join(c.Argv, " "), c.User)
		}
	}
	// The same with podman 5, whose check 18 asks podman info for a
	// refused cni: a setuid podman run by a user made root-owned
	// ~/.config directories (0700, the user's group) on the Debian 13 test
	// host, which then broke the user's podman and systemd --user.
	h5 := newHost(t)
	h5.version = "5.4.2"
	h5.chown("/usr/bin/podman", 0)
	h5.chmod("/usr/bin/podman", 0o4755)
	rep5 := h5.doctor(Options{})
	want(t, result(t, rep5, 18, "alice"), Skip, "/usr/bin/podman is setuid root (check 2)", "")
	for _, c := range h5.run.Calls {
		if c.User != "" {
			t.Errorf("podman 5: doctor ran %q as %s with a setuid podman", strings.Join(c.Argv, " "), c.User)
		}
	}

	// The disk still shows a remembered vfs, and a registries file podman
	// refuses.
	h.mkdir("/home/bob/.local/share/containers/storage/vfs-images", 0o700)
	h.write("/etc/containers/registries.conf", "unqualified-search-registries = [\"quay.io\"]\n[registries.search]\nregistries = [\"docker.io\"]\n")
	rep = h.doctor(Options{Checks: []int{12, 15}})
	want(t, result(t, rep, 12, "bob"), Fail,
		"run as bob it runs rootful, so it cannot show bob's view\n/home/bob/.local/share/containers/storage/vfs-images exists: vfs is remembered",
		"vfs: very slow", "task: storage: {driver: overlay}", "as bob: podman system reset")
	want(t, result(t, rep, 12, "alice"), Skip, "/usr/bin/podman is setuid root (check 2)", "")
	want(t, result(t, rep, 15, "alice"), Fail, "checked the registries and storage files only", "mixing sysregistry v1/v2 is not supported")
}

func TestNewuidmapMissing(t *testing.T) {
	h := newHost(t)
	h.remove("/usr/bin/newuidmap")
	rep := h.doctor(Options{Checks: []int{3, 4}})
	want(t, result(t, rep, 3, ""), Fail, "newuidmap not found in PATH",
		`command required for rootless mode with multiple IDs: exec: "newuidmap": executable file not found in $PATH`,
		"task: package: {names: [uidmap]}")
	if strings.Contains(result(t, rep, 3, "").Symptom, "newgidmap") {
		t.Errorf("newgidmap is present but named")
	}
	// The present one is still checked.
	want(t, result(t, rep, 4, ""), Pass, "/usr/bin/newgidmap is setuid root", "")

	h.write("/etc/os-release", "ID=fedora\nVERSION_ID=40\n")
	h.sys.Facts = newFacts(h.sys.Root)
	rep = h.doctor(Options{Checks: []int{3}})
	want(t, result(t, rep, 3, ""), Fail, "", "", "package: {names: [shadow-utils]}")

	h.remove("/usr/bin/newgidmap")
	rep = h.doctor(Options{Checks: []int{4}})
	want(t, result(t, rep, 4, ""), Skip, "not installed (check 3)", "")
}

func TestNewuidmapUnprivileged(t *testing.T) {
	h := newHost(t)
	h.chmod("/usr/bin/newuidmap", 0o755)
	rep := h.doctor(Options{Checks: []int{4}})
	want(t, result(t, rep, 4, ""), Fail, "/usr/bin/newuidmap is neither setuid root (mode 755, owner uid 0) nor has cap_setuid=ep: no file capabilities",
		"newuidmap: write to uid_map failed: Operation not permitted\ncannot set up namespace using \"/usr/bin/newuidmap\": should have setuid or have filecaps setuid",
		"run: setcap cap_setuid=ep /usr/bin/newuidmap", "apt-get install --reinstall uidmap")
	if strings.Contains(result(t, rep, 4, "").Found, "newgidmap is neither") {
		t.Errorf("newgidmap is setuid but reported")
	}

	// setuid but not owned by root gives nothing.
	h = newHost(t)
	h.chown("/usr/bin/newgidmap", 1000)
	h.chmod("/usr/bin/newgidmap", 0o4755)
	rep = h.doctor(Options{Checks: []int{4}})
	want(t, result(t, rep, 4, ""), Fail, "/usr/bin/newgidmap is neither setuid root (mode 4755, owner uid 1000)", "", "setcap cap_setgid=ep /usr/bin/newgidmap")
}

func TestNewuidmapNosuid(t *testing.T) {
	h := newHost(t)
	h.write("/proc/self/mountinfo", mountinfoGreen+"40 22 8:2 / /usr rw,nosuid,relatime shared:20 - ext4 /dev/sda2 rw\n")
	rep := h.doctor(Options{Checks: []int{4}})
	want(t, result(t, rep, 4, ""), Fail, "/usr/bin/newuidmap is setuid root but /usr is mounted nosuid", "", "setcap cap_setuid=ep /usr/bin/newuidmap")
}

// capBlob builds a revision-2 vfs_cap_data with the given permitted bits.
func capBlob(permitted uint64, effective bool) []byte {
	b := make([]byte, 20)
	magic := uint32(0x02000000)
	if effective {
		magic |= 1
	}
	binary.LittleEndian.PutUint32(b, magic)
	binary.LittleEndian.PutUint32(b[4:], uint32(permitted))
	binary.LittleEndian.PutUint32(b[12:], uint32(permitted>>32))
	return b
}

func TestParseVFSCaps(t *testing.T) {
	perm, eff, has, err := parseVFSCaps(capBlob(1<<capSetuid, true))
	if err != nil || !has || !eff || perm != 1<<capSetuid {
		t.Errorf("v2: %#x %v %v %v", perm, eff, has, err)
	}
	v3 := append(capBlob(1<<40|1<<capSetgid, false), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(v3, 0x03000000)
	perm, eff, has, err = parseVFSCaps(v3)
	if err != nil || !has || eff || perm != 1<<40|1<<capSetgid {
		t.Errorf("v3: %#x %v %v %v", perm, eff, has, err)
	}
	v1 := make([]byte, 12)
	binary.LittleEndian.PutUint32(v1, 0x01000001)
	binary.LittleEndian.PutUint32(v1[4:], 1<<capSetuid)
	if perm, eff, _, err = parseVFSCaps(v1); err != nil || !eff || perm != 1<<capSetuid {
		t.Errorf("v1: %#x %v %v", perm, eff, err)
	}
	if _, _, _, err := parseVFSCaps([]byte{1, 2}); err == nil {
		t.Errorf("short blob accepted")
	}
	if _, _, _, err := parseVFSCaps(make([]byte, 20)); err == nil {
		t.Errorf("revision 0 accepted")
	}
}

// TestNewuidmapFileCaps sets real file capabilities, which needs root
// (CAP_SETFCAP) and a filesystem with security xattrs.
func TestNewuidmapFileCaps(t *testing.T) {
	if os.Geteuid() != 0 {
		testhost.Skipf(t, "setting file capabilities needs root")
	}
	h := newHost(t)
	for _, x := range []struct {
		p   string
		cap int
	}{{"/usr/bin/newuidmap", capSetuid}, {"/usr/bin/newgidmap", capSetgid}} {
		h.chmod(x.p, 0o755)
		err := unix.Lsetxattr(h.sys.MustPath(x.p), "security.capability", capBlob(1<<uint(x.cap), true), 0)
		if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EPERM) {
			testhost.Skipf(t, "file capabilities unsupported here (%v)", err)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	rep := h.doctor(Options{Checks: []int{4}})
	want(t, result(t, rep, 4, ""), Pass, "/usr/bin/newuidmap has cap_setuid=ep; /usr/bin/newgidmap has cap_setgid=ep", "")

	// Wrong capability: cap_setgid on newuidmap.
	if err := unix.Lsetxattr(h.sys.MustPath("/usr/bin/newuidmap"), "security.capability", capBlob(1<<capSetgid, true), 0); err != nil {
		t.Fatal(err)
	}
	rep = h.doctor(Options{Checks: []int{4}})
	want(t, result(t, rep, 4, ""), Fail, "file capabilities without cap_setuid=ep", "", "setcap cap_setuid=ep /usr/bin/newuidmap")
}

func TestUserNamespaces(t *testing.T) {
	h := newHost(t)
	h.write("/proc/sys/user/max_user_namespaces", "0\n")
	rep := h.doctor(Options{Checks: []int{5}})
	want(t, result(t, rep, 5, ""), Fail, "user.max_user_namespaces = 0",
		"user namespaces are not enabled in /proc/sys/user/max_user_namespaces",
		`task: sysctl: {name: user.max_user_namespaces, value: "15000"}`)

	h.write("/proc/sys/user/max_user_namespaces", "15000\n")
	h.write("/proc/sys/kernel/unprivileged_userns_clone", "0\n")
	rep = h.doctor(Options{Checks: []int{5}})
	want(t, result(t, rep, 5, ""), Fail, "kernel.unprivileged_userns_clone = 0", "cannot clone: Invalid argument",
		`sysctl: {name: kernel.unprivileged_userns_clone, value: "1"}`)

	h.remove("/proc/sys/kernel/unprivileged_userns_clone")
	h.write("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1\n")
	rep = h.doctor(Options{Checks: []int{5}})
	want(t, result(t, rep, 5, ""), Pass, "the distribution's podman is allowed", "")
	h.remove("/usr/bin/podman")
	h.exe("/usr/local/bin/podman", 0o755)
	rep = h.doctor(Options{Checks: []int{5}})
	want(t, result(t, rep, 5, ""), Warn, "podman is /usr/local/bin/podman", "", "AppArmor profile")

	h.remove("/proc/sys/user/max_user_namespaces")
	rep = h.doctor(Options{Checks: []int{5}})
	want(t, result(t, rep, 5, ""), Skip, "cannot read /proc/sys/user/max_user_namespaces", "")
}

func TestSubidFileMissing(t *testing.T) {
	h := newHost(t)
	h.remove("/etc/subuid")
	rep := h.doctor(Options{})
	want(t, result(t, rep, 6, ""), Fail, "/etc/subuid does not exist",
		"usermod: /etc/subuid does not exist, you cannot use the flags -v or -V",
		"task: subid: {user: alice} (the subid task creates missing files", "task: subid: {user: bob}")
	want(t, result(t, rep, 7, "alice"), Skip, "/etc/subuid cannot be read (check 6)", "")
	// Users still come from /etc/subgid.
	if len(rep.Users) != 2 {
		t.Errorf("users %v", rep.Users)
	}
	h.remove("/etc/subgid")
	rep = h.doctor(Options{Checks: []int{6, 8}})
	want(t, result(t, rep, 6, ""), Fail, "/etc/subgid does not exist", "you cannot use the flags -w or -W", "subid: {user: USER}")
	want(t, result(t, rep, 8, ""), Skip, "(check 6)", "")
}

func TestSubidFileMalformed(t *testing.T) {
	for _, tc := range []struct {
		line, found, symptom string
	}{
		{"carol:200000", "has 2 colon-separated fields", "cannot parse subuid/gid information: Format not correct for /etc/subuid file"},
		{"carol:2x0000:65536", `start "2x0000" is not a decimal number`, "string to int conversion failed during subuid/gid parsing of /etc/subuid"},
		{"carol:200000:65536 ", "contains whitespace", "whitespace in any row of /etc/subuid or /etc/subgid, including trailing blanks, may result in no entry failures"},
	} {
		h := newHost(t)
		h.write("/etc/subuid", "alice:100000:65536\nbob:165536:65536\n"+tc.line+"\n")
		rep := h.doctor(Options{Checks: []int{6}})
		want(t, result(t, rep, 6, ""), Fail, "/etc/subuid line 3: "+tc.found, tc.symptom, "correct or delete the bad lines of /etc/subuid by hand")
	}
	h := newHost(t)
	h.chmod("/etc/subuid", 0o600)
	rep := h.doctor(Options{Checks: []int{6}})
	want(t, result(t, rep, 6, ""), Fail, "/etc/subuid is mode 600, not readable by users", "", "run: chmod 0644 /etc/subuid")
}

func TestOverlaps(t *testing.T) {
	h := newHost(t)
	h.write("/etc/subuid", "alice:100000:65536\nbob:150000:65536\n")
	rep := h.doctor(Options{Checks: []int{8}})
	want(t, result(t, rep, 8, ""), Fail, "/etc/subuid: bob 150000:65536 (line 2) overlaps alice 100000:65536 (line 1)",
		"another user's namespace", "task: subid: {user: bob}")
	if f := result(t, rep, 8, "").Fix; len(f) != 1 {
		t.Errorf("fixes %v, want only bob's", f)
	}

	// The same owner by name and by UID is no overlap.
	h.write("/etc/subuid", "alice:100000:65536\n1000:130000:65536\nbob:200000:65536\n")
	rep = h.doctor(Options{Checks: []int{8}})
	want(t, result(t, rep, 8, ""), Pass, "5 ranges, disjoint", "")

	// A range with the owner's own UID, and one with another user's ID.
	h.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\nsvc:x:250000:250000::/srv:/bin/false\n")
	h.write("/etc/subuid", "alice:1000:65536\nbob:200000:65536\n")
	h.write("/etc/subgid", "alice:100000:65536\nbob:249000:65536\n")
	rep = h.doctor(Options{Checks: []int{8}})
	want(t, result(t, rep, 8, ""), Fail, "/etc/subuid line 1: alice 1000:65536 contains the owner's own UID 1000",
		`invalid configuration: the specified mapping 1000:65536 in "/etc/subuid" includes the user UID`,
		"subid: {user: alice}", "subid: {user: bob}")
	want(t, result(t, rep, 8, ""), Fail, "/etc/subgid line 2: bob 249000:65536 contains GID 250000 (primary group of svc)", "(silent) bob can own the files of primary group of svc")
	// 1000:65536 is also below SUB_UID_MIN: reported as well.
	want(t, result(t, rep, 8, ""), Fail, "lies outside SUB_UID_MIN..SUB_UID_MAX (100000..600100000)", "")
}

func TestOverlapsWindowAdvisory(t *testing.T) {
	h := newHost(t)
	h.write("/etc/login.defs", "SUB_UID_MIN 524288\nSUB_UID_MAX 1879048191\n")
	rep := h.doctor(Options{Checks: []int{8}})
	r := result(t, rep, 8, "")
	want(t, r, Warn, "/etc/subuid line 1: alice 100000:65536 lies outside SUB_UID_MIN..SUB_UID_MAX (524288..1879048191) of /etc/login.defs", "")
	if strings.Contains(r.Found, "/etc/subgid") {
		t.Errorf("subgid window is the default, yet reported: %s", r.Found)
	}
	if rep.ExitCode() != 2 {
		t.Errorf("exit %d, want 2", rep.ExitCode())
	}
}

func TestOverlapsNSS(t *testing.T) {
	h := newHost(t)
	h.write("/etc/nsswitch.conf", "passwd: files sss\ngroup: files sss # comment\nhosts: files dns\n")
	h.run.Reply("getent passwd", "root:x:0:0:root:/root:/bin/bash\nad.user:*:120000:120000:AD user:/home/ad.user:/bin/bash\n", 0)
	h.run.Reply("getent group", "root:x:0:\n", 0)
	rep := h.doctor(Options{Checks: []int{8}})
	want(t, result(t, rep, 8, ""), Fail, "/etc/subuid line 1: alice 100000:65536 contains UID 120000 (user ad.user (from NSS))", "")
	want(t, result(t, rep, 8, ""), Fail, "nsswitch.conf uses passwd: sss, group: sss", "")
}

func TestSubjectsFromFiles(t *testing.T) {
	h := newHost(t)
	// root's and unknown owners' ranges are not users to check; a numeric
	// owner resolves to its user.
	h.write("/etc/subuid", "root:300000:65536\nghost:400000:65536\n1001:165536:65536\n")
	h.write("/etc/subgid", "alice:100000:65536\n")
	rep := h.doctor(Options{Checks: []int{7}})
	if got := strings.Join(rep.Users, ","); got != "bob,alice" {
		t.Errorf("users %q", got)
	}
}

var newFacts = facts.New

// TestRealHost runs the host-wide file checks against this machine, whose
// newuidmap is real: they only read files (and may run getent).
func TestRealHost(t *testing.T) {
	fi, err := os.Stat("/usr/bin/newuidmap")
	if err != nil {
		testhost.Skipf(t, "no /usr/bin/newuidmap on this machine")
	}
	fx := facts.New("/")
	sys := &tasks.System{Root: "/", Runner: tasks.ExecRunner{Facts: fx}, Facts: fx}
	rep := Run(context.Background(), sys, Options{Checks: []int{3, 4, 5, 6, 8}})
	if len(rep.Results) != 5 {
		t.Fatalf("%d results", len(rep.Results))
	}
	for _, r := range rep.Results {
		switch r.Status {
		case Pass, Warn, Fail, Skip:
		default:
			t.Errorf("check %d: status %q", r.ID, r.Status)
		}
		if r.Found == "" {
			t.Errorf("check %d: nothing found", r.ID)
		}
	}
	want(t, result(t, rep, 3, ""), Pass, "/usr/bin/newuidmap", "")
	if uid, _ := tasks.FileOwner(fi); fi.Mode()&os.ModeSetuid != 0 && uid == 0 {
		r := result(t, rep, 4, "")
		if r.Status != Pass && !strings.Contains(r.Found, "nosuid") {
			t.Errorf("setuid root newuidmap: %s %s", r.Status, r.Found)
		}
		if r.Status == Pass && !strings.Contains(r.Found, "/usr/bin/newuidmap is setuid root (mode 4755)") {
			t.Errorf("found %q", r.Found)
		}
	}
}

func TestPodmanCannotRun(t *testing.T) {
	h := newHost(t)
	h.sys.Runner = failingRunner{}
	rep := h.doctor(Options{Checks: []int{1, 12}})
	want(t, result(t, rep, 1, ""), Pass, "/usr/bin/podman is installed; its version is unknown: cannot run commands here", "")
	want(t, result(t, rep, 12, "alice"), Skip, "podman info could not run: cannot run commands here", "")
}

type failingRunner struct{}

func (failingRunner) Run(context.Context, tasks.Cmd) (tasks.Result, error) {
	return tasks.Result{}, errors.New("cannot run commands here")
}
