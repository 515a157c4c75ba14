package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

// host is a temp-dir host that passes every check: Debian 12, podman
// 4.3.1, users alice (1000) and bob (1001) with disjoint ranges, setuid
// newuidmap, linger, runtime dirs, cgroup v2 with delegation, overlay
// storage and netavark. Tests break one thing and look at the report.
type host struct {
	t   *testing.T
	sys *tasks.System
	run *taskstest.FakeRunner
	// info is the podman info document per user ("" = root); tests edit it
	// before Run.
	info map[string]map[string]any
	// infoFail, when set for a user, is what podman info prints to stderr
	// with exit status 125.
	infoFail map[string]string
	infoWarn map[string]string
	// maps are the uid_map and gid_map podman unshare prints per user.
	uidMap, gidMap map[string]string
	version        string
	owners         map[string]int
}

const mountinfoGreen = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
30 22 0:25 / /run rw,nosuid,nodev,noexec,relatime shared:12 - tmpfs tmpfs rw,size=1000k,mode=755
`

var hostUsers = []struct {
	name string
	uid  int
}{{"alice", 1000}, {"bob", 1001}}

func newHost(t *testing.T) *host {
	t.Helper()
	sys, run := taskstest.New(t)
	h := &host{t: t, sys: sys, run: run, version: "4.3.1",
		info: map[string]map[string]any{}, infoFail: map[string]string{}, infoWarn: map[string]string{},
		uidMap: map[string]string{}, gidMap: map[string]string{}, owners: map[string]int{}}
	if os.Geteuid() != 0 {
		ownerHook = func(hp string) (int, bool) { uid, ok := h.owners[hp]; return uid, ok }
		t.Cleanup(func() { ownerHook = nil })
	}
	h.write("/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")
	h.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n")
	h.write("/etc/group", "root:x:0:\nalice:x:1000:\nbob:x:1001:\n")
	h.write("/etc/subuid", "alice:100000:65536\nbob:165536:65536\n")
	h.write("/etc/subgid", "alice:100000:65536\nbob:165536:65536\n")
	h.exe("/usr/bin/podman", 0o755)
	h.write("/etc/containers/storage.conf", "[storage]\ndriver = \"overlay\"\n")
	h.exe("/usr/bin/newuidmap", 0o4755)
	h.exe("/usr/bin/newgidmap", 0o4755)
	h.chown("/usr/bin/newuidmap", 0)
	h.chown("/usr/bin/newgidmap", 0)
	h.exe("/usr/bin/slirp4netns", 0o755)
	h.exe("/usr/lib/podman/netavark", 0o755)
	h.write("/proc/sys/user/max_user_namespaces", "15000\n")
	h.write("/proc/sys/kernel/unprivileged_userns_clone", "1\n")
	h.write("/proc/sys/kernel/osrelease", "6.1.0-25-amd64\n")
	h.write("/proc/self/mountinfo", mountinfoGreen)
	h.mkdir("/run/systemd/system", 0o755)
	h.mkdir("/tmp", 0o1777)
	for _, u := range hostUsers {
		id := fmt.Sprint(u.uid)
		h.write("/sys/fs/cgroup/user.slice/user-"+id+".slice/user@"+id+".service/cgroup.controllers", "cpuset cpu io memory pids\n")
		h.write("/var/lib/systemd/linger/"+u.name, "")
		h.mkdir("/run/user/"+id, 0o700)
		h.chown("/run/user/"+id, u.uid)
		h.mkdir("/home/"+u.name+"/.local/share/containers/storage/overlay", 0o700)
		for d := "/home/" + u.name + "/.local/share/containers/storage/overlay"; d != "/home"; d = path.Dir(d) {
			h.chown(d, u.uid) // the user's own: doctor reads them with the user's rights
		}
		h.info[u.name] = greenInfo("/home/" + u.name + "/.local/share/containers/storage")
		start := map[string]int{"alice": 100000, "bob": 165536}[u.name]
		h.uidMap[u.name] = fmt.Sprintf("         0       %d          1\n         1     %d      65536\n", u.uid, start)
		h.gidMap[u.name] = fmt.Sprintf("         0       %d          1\n         1     %d      65536\n", u.uid, start)
	}
	h.info[""] = greenInfo("/var/lib/containers/storage")

	run.On("/usr/bin/podman --version", func(tasks.Cmd) tasks.Result {
		return tasks.Result{Stdout: "podman version " + h.version + "\n"}
	})
	run.On("/usr/bin/podman info --format json", func(c tasks.Cmd) tasks.Result {
		if msg, ok := h.infoFail[c.User]; ok {
			return tasks.Result{Stderr: msg, ExitCode: 125}
		}
		out, err := json.Marshal(h.info[c.User])
		if err != nil {
			t.Fatal(err)
		}
		return tasks.Result{Stdout: string(out), Stderr: h.infoWarn[c.User]}
	})
	run.On("/usr/bin/podman unshare cat /proc/self/uid_map", func(c tasks.Cmd) tasks.Result {
		return tasks.Result{Stdout: h.uidMap[c.User]}
	})
	run.On("/usr/bin/podman unshare cat /proc/self/gid_map", func(c tasks.Cmd) tasks.Result {
		return tasks.Result{Stdout: h.gidMap[c.User]}
	})
	// The doctor's cleanup of the runtime dirs it made (podman.go).
	run.On("/bin/sh -c", func(c tasks.Cmd) tasks.Result {
		os.RemoveAll(sys.MustPath(c.Argv[len(c.Argv)-1]))
		return tasks.Result{}
	})
	return h
}

// greenInfo is `podman info --format json` of a healthy podman 4.3.1.
func greenInfo(graphRoot string) map[string]any {
	return map[string]any{
		"host": map[string]any{
			"cgroupVersion":  "v2",
			"networkBackend": "netavark",
			"slirp4netns":    map[string]any{"executable": "/usr/bin/slirp4netns", "package": "slirp4netns", "version": "1.2.0"},
			"pasta":          map[string]any{"executable": "", "package": "", "version": ""},
			"security":       map[string]any{"rootless": graphRoot != "/var/lib/containers/storage"},
		},
		"store": map[string]any{
			"configFile":      "/usr/share/containers/storage.conf",
			"graphDriverName": "overlay",
			"graphOptions":    map[string]any{},
			"graphRoot":       graphRoot,
			"graphStatus":     map[string]any{"Backing Filesystem": "extfs", "Native Overlay Diff": "true", "Supports d_type": "true"},
		},
		"registries": map[string]any{"search": []any{"docker.io"}},
		"version":    map[string]any{"APIVersion": "4.3.1", "Version": "4.3.1"},
	}
}

func (h *host) write(p, content string) {
	h.t.Helper()
	taskstest.WriteFile(h.t, h.sys, p, content)
}

func (h *host) remove(p string) {
	h.t.Helper()
	if err := os.RemoveAll(h.sys.MustPath(p)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *host) exe(p string, mode os.FileMode) {
	h.t.Helper()
	h.write(p, "#!/bin/sh\nexit 0\n")
	h.chmod(p, mode)
}

func (h *host) chmod(p string, mode os.FileMode) {
	h.t.Helper()
	m := mode.Perm()
	if mode&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if err := os.Chmod(h.sys.MustPath(p), m); err != nil {
		h.t.Fatal(err)
	}
}

func (h *host) mkdir(p string, mode os.FileMode) {
	h.t.Helper()
	hp := h.sys.MustPath(p)
	if err := os.MkdirAll(hp, 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Chmod(hp, mode); err != nil {
		h.t.Fatal(err)
	}
}

// chown gives a path to uid: for real as root, through ownerHook
// otherwise.
func (h *host) chown(p string, uid int) {
	h.t.Helper()
	hp := h.sys.MustPath(p)
	if os.Geteuid() == 0 {
		fi, err := os.Lstat(hp)
		if err != nil {
			h.t.Fatal(err)
		}
		mode := fi.Mode()
		if err := os.Lchown(hp, uid, uid); err != nil {
			h.t.Fatal(err)
		}
		// chown clears the setuid bit; put it back.
		if err := os.Chmod(hp, mode); err != nil {
			h.t.Fatal(err)
		}
		return
	}
	h.owners[hp] = uid
}

// setInfo sets a value in a user's podman info document by a dotted path.
func (h *host) setInfo(user, dotted string, v any) {
	h.t.Helper()
	m := h.info[user]
	keys := strings.Split(dotted, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

func (h *host) doctor(opts Options) Report {
	h.t.Helper()
	return Run(context.Background(), h.sys, opts)
}

// result finds the result of check id for user ("" = host-wide).
func result(t *testing.T, rep Report, id int, user string) Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.ID == id && r.User == user {
			return r
		}
	}
	t.Fatalf("no result for check %d user %q in %+v", id, user, rep.Results)
	return Result{}
}

// want asserts status, and that found, symptom and the fixes contain the
// given substrings ("" skips a field).
func want(t *testing.T, r Result, status Status, found, symptom string, fixes ...string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("check %d (%s) user %q: status %s, want %s; found %q", r.ID, r.Name, r.User, r.Status, status, r.Found)
	}
	if !strings.Contains(r.Found, found) {
		t.Errorf("check %d user %q: found %q does not contain %q", r.ID, r.User, r.Found, found)
	}
	if !strings.Contains(r.Symptom, symptom) {
		t.Errorf("check %d user %q: symptom %q does not contain %q", r.ID, r.User, r.Symptom, symptom)
	}
	var got []string
	for _, f := range r.Fix {
		got = append(got, f.String())
	}
	all := strings.Join(got, "\n")
	for _, f := range fixes {
		if !strings.Contains(all, f) {
			t.Errorf("check %d user %q: fixes %q do not contain %q", r.ID, r.User, got, f)
		}
	}
}

func statuses(rep Report) map[string]Status {
	out := map[string]Status{}
	for _, r := range rep.Results {
		out[fmt.Sprintf("%d/%s", r.ID, r.User)] = r.Status
	}
	return out
}

// only asserts that every result passes or is skipped, except the listed
// "id/user" keys, which must have the given status.
func only(t *testing.T, rep Report, except map[string]Status) {
	t.Helper()
	for k, s := range statuses(rep) {
		if w, ok := except[k]; ok {
			if s != w {
				t.Errorf("%s: %s, want %s", k, s, w)
			}
			continue
		}
		if s == Warn || s == Fail {
			r := resultByKey(rep, k)
			t.Errorf("%s: unexpected %s: %s", k, s, r.Found)
		}
	}
	for k := range except {
		if _, ok := statuses(rep)[k]; !ok {
			t.Errorf("%s: no such result", k)
		}
	}
}

func resultByKey(rep Report, k string) Result {
	for _, r := range rep.Results {
		if fmt.Sprintf("%d/%s", r.ID, r.User) == k {
			return r
		}
	}
	return Result{}
}
