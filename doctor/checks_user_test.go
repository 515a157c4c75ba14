package doctor

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
)

func TestMissingSubuidLine(t *testing.T) {
	h := newHost(t)
	h.write("/etc/subuid", "alice:100000:65536\n")
	rep := h.doctor(Options{})
	want(t, result(t, rep, 7, "bob"), Fail, "/etc/subuid has no range for bob (uid 1001)",
		`cannot find UID/GID for user bob: no subuid ranges found for user "bob" in /etc/subuid - check rootless mode in man pages.`+
			"\nWARN Using rootless single mapping into the namespace. This might break some images.",
		"task: subid: {user: bob, count: 65536}", "task: podman_migrate: {user: bob}")
	want(t, result(t, rep, 9, "bob"), Skip, "bob has no ranges to compare with (check 7)", "")
	want(t, result(t, rep, 7, "alice"), Pass, "", "")
	for _, c := range h.run.Calls {
		if c.User == "bob" && strings.Contains(strings.Join(c.Argv, " "), "unshare") {
			t.Errorf("podman unshare ran for bob without ranges")
		}
	}
}

func TestTooFewIDs(t *testing.T) {
	h := newHost(t)
	h.write("/etc/subgid", "alice:100000:1000\nalice:100500:1000\nbob:165536:65536\n")
	rep := h.doctor(Options{Checks: []int{7}})
	want(t, result(t, rep, 7, "alice"), Warn, "/etc/subgid: alice has 1500 IDs (100000:1000, 100500:1000), fewer than 65536",
		"potentially insufficient UIDs or GIDs available in user namespace", "subid: {user: alice, count: 65536}")
}

func TestGetsubidsThroughNSS(t *testing.T) {
	h := newHost(t)
	h.write("/etc/subuid", "")
	h.write("/etc/subgid", "")
	h.write("/etc/nsswitch.conf", "passwd: files\nsubid: sss\n")
	h.exe("/usr/bin/getsubids", 0o755)
	h.run.Reply("/usr/bin/getsubids alice", "0: alice 300000 65536\n", 0)
	h.run.Reply("/usr/bin/getsubids -g alice", "0: alice 300000 65536\n", 0)
	rep := h.doctor(Options{Users: []string{"alice"}, Checks: []int{7}})
	want(t, result(t, rep, 7, "alice"), Pass, "/etc/subuid: none in the file; getsubids: 300000:65536", "")
}

func TestStaleNamespace(t *testing.T) {
	h := newHost(t)
	h.uidMap["alice"] = "         0       1000          1\n         1     200000      65536\n"
	rep := h.doctor(Options{})
	want(t, result(t, rep, 9, "alice"), Fail, `uid_map is "0 1000 1; 1 200000 65536", the files grant "0 1000 1; 1 100000 65536"`,
		"stale mapping after edits", "task: podman_migrate: {user: alice}")
	want(t, result(t, rep, 9, "bob"), Pass, "", "")

	// Several ranges map one after the other, in start order.
	h = newHost(t)
	h.write("/etc/subuid", "alice:300000:1000\nalice:100000:65536\nbob:165536:65536\n")
	h.uidMap["alice"] = "0 1000 1\n1 100000 65536\n65537 300000 1000\n"
	rep = h.doctor(Options{Checks: []int{9}})
	want(t, result(t, rep, 9, "alice"), Pass, `uid_map "0 1000 1; 1 100000 65536; 65537 300000 1000"`, "")
}

func TestNamespaceUnshareFails(t *testing.T) {
	h := newHost(t)
	h.run.On("/usr/bin/podman unshare", func(c tasks.Cmd) tasks.Result {
		return tasks.Result{ExitCode: 125, Stderr: "newuidmap: write to uid_map failed: Operation not permitted\n" +
			"Error: cannot set up namespace using \"/usr/bin/newuidmap\": should have setuid or have filecaps setuid: exit status 1\n"}
	})
	rep := h.doctor(Options{Checks: []int{9}})
	want(t, result(t, rep, 9, "alice"), Fail, "podman unshare cat /proc/self/uid_map exited 125", "should have setuid or have filecaps setuid")
	want(t, result(t, rep, 9, "alice"), Fail, "(recognised: see check 4)", "newuidmap: write to uid_map failed: Operation not permitted")
}

func TestNoLinger(t *testing.T) {
	h := newHost(t)
	h.remove("/var/lib/systemd/linger/alice")
	rep := h.doctor(Options{})
	want(t, result(t, rep, 10, "alice"), Warn, "linger is off (/var/lib/systemd/linger/alice is missing)", "containers die at logout",
		"task: linger: {user: alice}")
	want(t, result(t, rep, 10, "bob"), Pass, "linger is enabled", "")
	if rep.ExitCode() != 2 {
		t.Errorf("exit %d, want 2", rep.ExitCode())
	}

	// A service user (a quadlet) without linger fails.
	h.write("/home/alice/.config/containers/systemd/web.container", "[Container]\nImage=docker.io/library/nginx\n")
	rep = h.doctor(Options{Checks: []int{10}})
	want(t, result(t, rep, 10, "alice"), Fail, "yet alice has user services: /home/alice/.config/containers/systemd/web.container", "", "linger: {user: alice}")
}

func TestRuntimeDir(t *testing.T) {
	h := newHost(t)
	h.chown("/run/user/1000", 0)
	rep := h.doctor(Options{Checks: []int{10}})
	want(t, result(t, rep, 10, "alice"), Fail, "/run/user/1000 is owned by uid 0, not alice (uid 1000)",
		`ERRO XDG_RUNTIME_DIR directory "/run/user/1000" is not owned by the current user`, "run: chown 1000:1000 /run/user/1000 && chmod 0700 /run/user/1000")

	h = newHost(t)
	h.chmod("/run/user/1001", 0o755)
	h.remove("/run/user/1000")
	rep = h.doctor(Options{Checks: []int{10}})
	want(t, result(t, rep, 10, "bob"), Warn, "/run/user/1001 is mode 755, not 0700", "", "chmod 0700 /run/user/1001")
	// Linger on and systemd booted, yet no runtime dir.
	want(t, result(t, rep, 10, "alice"), Fail, "/run/user/1000 does not exist (no session) although linger is on",
		"Error: creating tmpdir: mkdir /run/user/1000: permission denied", "systemctl start user@1000.service")

	h.remove("/var/lib/systemd/linger/alice")
	rep = h.doctor(Options{Checks: []int{10}})
	want(t, result(t, rep, 10, "alice"), Warn, "/run/user/1000 does not exist (no session): podman run through su or sudo has no runtime dir", "", "linger: {user: alice}")
}

// TestNoSessionRuntimeDir: a user without a session gets the runtime dir
// a login would make, /run/user/UID (the user's, mode 0700), for the
// doctor's podman commands; it is gone after the run (emptied as the user,
// pause process included, then removed); a user with a session keeps
// theirs. Check 10 still says there is no session, and two runs agree.
func TestNoSessionRuntimeDir(t *testing.T) {
	h := newHost(t)
	h.remove("/run/user/1000")
	seen := map[string]bool{}
	h.run.On("/usr/bin/podman info --format json", func(c tasks.Cmd) tasks.Result {
		if c.User == "alice" {
			fi, err := os.Stat(h.sys.MustPath("/run/user/1000"))
			if err != nil || fi.Mode().Perm() != 0o700 || !fi.IsDir() {
				t.Errorf("alice's runtime dir during podman info: %v %v", fi, err)
			} else if uid, _ := tasks.FileOwner(fi); os.Geteuid() == 0 && uid != 1000 {
				t.Errorf("alice's runtime dir is uid %d's", uid)
			}
			seen[c.User] = true
		}
		out, _ := json.Marshal(h.info[c.User])
		return tasks.Result{Stdout: string(out)}
	})
	var cleaned []string
	h.run.On("/bin/sh -c", func(c tasks.Cmd) tasks.Result {
		if c.User != "alice" || !strings.Contains(c.Argv[2], "pause.pid") {
			t.Errorf("cleanup %q as %q", c.Argv, c.User)
		}
		cleaned = append(cleaned, c.Argv[len(c.Argv)-1])
		return tasks.Result{}
	})
	first := h.doctor(Options{Checks: []int{10, 12}})
	if !seen["alice"] || !slices.Equal(cleaned, []string{"/run/user/1000"}) {
		t.Fatalf("podman info as alice with a runtime dir: %v; cleaned %q", seen["alice"], cleaned)
	}
	if h.sys.Exists("/run/user/1000") || !h.sys.Exists("/run/user/1001") {
		t.Fatalf("after the run: alice's made dir exists %v, bob's own exists %v", h.sys.Exists("/run/user/1000"), h.sys.Exists("/run/user/1001"))
	}
	want(t, result(t, first, 10, "alice"), Fail, "/run/user/1000 does not exist (no session) although linger is on", "", "systemctl start user@1000.service")
	second := h.doctor(Options{Checks: []int{10, 12}})
	if !reflect.DeepEqual(first, second) {
		t.Errorf("two runs differ:\n%+v\n%+v", first, second)
	}
}

func TestNoSystemdUserSession(t *testing.T) {
	h := newHost(t)
	h.infoWarn["alice"] = `time="2024-01-01T00:00:00Z" level=warning msg="The cgroupv2 manager is set to systemd but there is no systemd user session available"` + "\n"
	rep := h.doctor(Options{Checks: []int{10}})
	want(t, result(t, rep, 10, "alice"), Warn, "podman found no systemd user session",
		"The cgroupv2 manager is set to systemd but there is no systemd user session available", "package: {names: [dbus-user-session]}")
}

func TestCgroups(t *testing.T) {
	h := newHost(t)
	h.write("/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.controllers", "cpu memory\n")
	rep := h.doctor(Options{Checks: []int{11}})
	want(t, result(t, rep, 11, "alice"), Fail, "missing pids", "crun: the requested cgroup controller `pids` is not available",
		`task: copy: {dest: /etc/systemd/system/user@.service.d/delegate.conf, content: "[Service]\nDelegate=memory pids cpu cpuset\n"}`,
		"run: systemctl daemon-reload")
	want(t, result(t, rep, 11, "bob"), Pass, "", "")

	h.remove("/sys/fs/cgroup/user.slice/user-1001.slice")
	rep = h.doctor(Options{Checks: []int{11}})
	want(t, result(t, rep, 11, "bob"), Skip, "systemd user manager is not running", "")

	h.write("/proc/self/mountinfo", strings.Replace(mountinfoGreen, "- cgroup2 cgroup2", "- tmpfs tmpfs", 1))
	rep = h.doctor(Options{Checks: []int{11}})
	want(t, result(t, rep, 11, "alice"), Warn, "cgroup v1", "Using cgroups-v1 which is deprecated in favor of cgroups-v2 with Podman v5", "systemd.unified_cgroup_hierarchy=1")
}

func TestVFSRemembered(t *testing.T) {
	h := newHost(t)
	h.setInfo("alice", "store.graphDriverName", "vfs")
	h.mkdir("/home/alice/.local/share/containers/storage/vfs-images", 0o700)
	rep := h.doctor(Options{})
	want(t, result(t, rep, 12, "alice"), Fail,
		"driver vfs (graphroot /home/alice/.local/share/containers/storage); /home/alice/.local/share/containers/storage/vfs-images exists",
		"vfs: very slow, huge disk use, and sticky",
		"task: storage: {driver: overlay}", "as alice: podman system reset (deletes all of alice's containers")
	if f := result(t, rep, 12, "alice").Fix; len(f) != 2 {
		t.Errorf("kernel 6.1 needs no fuse-overlayfs: %v", f)
	}
	want(t, result(t, rep, 13, "alice"), Skip, `driver is "vfs", not overlay (check 12)`, "")
	want(t, result(t, rep, 12, "bob"), Pass, "driver overlay", "")
	for _, c := range h.run.Commands() {
		if strings.Contains(c, "reset") {
			t.Errorf("doctor ran %s", c)
		}
	}

	// Old kernel: fuse-overlayfs first.
	h.write("/proc/sys/kernel/osrelease", "4.18.0-553.el8.x86_64\n")
	h.sys.Facts = newFacts(h.sys.Root)
	rep = h.doctor(Options{Checks: []int{12}})
	want(t, result(t, rep, 12, "alice"), Fail, "", "", "task: package: {names: [fuse-overlayfs]}")
}

func TestDriverDatabaseMismatch(t *testing.T) {
	h := newHost(t)
	h.infoFail["alice"] = `Error: database graph driver "vfs" does not match our graph driver "overlay": database configuration mismatch` + "\n"
	rep := h.doctor(Options{Checks: []int{12, 15}})
	want(t, result(t, rep, 12, "alice"), Fail, "the storage driver changed under existing storage", "database configuration mismatch", "as alice: podman system reset")
	want(t, result(t, rep, 15, "alice"), Fail, "(recognised: see check 12)", "")
}

func TestOverlayMode(t *testing.T) {
	h := newHost(t)
	h.setInfo("alice", "store.graphStatus.Native Overlay Diff", "false")
	h.write("/home/alice/.local/share/containers/storage/overlay/.has-mount-program", "true")
	rep := h.doctor(Options{Checks: []int{13}})
	want(t, result(t, rep, 13, "alice"), Warn, "overlay/.has-mount-program = true remembers the mount program", "", "as alice: podman system reset")

	h.setInfo("alice", "store.graphOptions", map[string]any{"overlay.mount_program": map[string]any{"Executable": "/usr/bin/fuse-overlayfs"}})
	rep = h.doctor(Options{Checks: []int{13}})
	want(t, result(t, rep, 13, "alice"), Warn, "storage.conf sets mount_program /usr/bin/fuse-overlayfs", "", "storage: {driver: overlay, mount_program: auto}")

	h = newHost(t)
	h.write("/proc/sys/kernel/osrelease", "4.18.0-553.el8.x86_64\n")
	h.setInfo("alice", "store.graphStatus.Native Overlay Diff", "false")
	rep = h.doctor(Options{Checks: []int{13}})
	want(t, result(t, rep, 13, "alice"), Fail, "kernel 4.18.0-553.el8.x86_64 is older than 5.13 (no native rootless overlay) and fuse-overlayfs is not installed",
		"ApplyLayer", "package: {names: [fuse-overlayfs]}", "storage: {driver: overlay, mount_program: auto}")
	h.exe("/usr/bin/fuse-overlayfs", 0o755)
	rep = h.doctor(Options{Checks: []int{13}})
	want(t, result(t, rep, 13, "alice"), Pass, "overlay through fuse-overlayfs on kernel 4.18", "")
}

func TestStorageLocation(t *testing.T) {
	for _, tc := range []struct {
		line    string
		status  Status
		found   string
		symptom string
	}{
		{"50 22 0:50 / /home rw,relatime - nfs4 server:/home rw,vers=4.2", Fail, "(nfs4, rw,relatime): a network filesystem",
			"a network file system with user namespaces is not supported. Please use a mount_program"},
		{"50 22 8:3 / /home rw,noexec,relatime - ext4 /dev/sda3 rw", Fail, "mounted noexec", `exec user process caused "permission denied"`},
		{"50 22 8:3 / /home rw,nodev,relatime - xfs /dev/sda3 rw", Warn, "mounted nodev", ""},
		{"50 22 8:3 / /home/alice/.local rw,relatime - overlay overlay rw", Warn, "native overlay is rejected over overlay", ""},
	} {
		h := newHost(t)
		h.write("/proc/self/mountinfo", mountinfoGreen+tc.line+"\n")
		rep := h.doctor(Options{Checks: []int{14}})
		want(t, result(t, rep, 14, "alice"), tc.status, tc.found, tc.symptom,
			`task: storage: {rootless_storage_path: /var/lib/containers/users/$USER/storage}`)
	}
}

const mixedRegistries = `unqualified-search-registries = ["docker.io"]

[registries.search]
registries = ['registry.example.com', 'quay.io']

[registries.insecure]
registries = ['registry.lab:5000']

[registries.block]
registries = []
`

func TestRegistriesMixingV1V2(t *testing.T) {
	h := newHost(t)
	h.write("/etc/containers/registries.conf", mixedRegistries)
	msg := `Error: getting registries: loading registries configuration "/etc/containers/registries.conf": mixing sysregistry v1/v2 is not supported` + "\n"
	for _, u := range []string{"", "alice", "bob"} {
		h.infoFail[u] = msg
	}
	rep := h.doctor(Options{})
	for _, u := range []string{"", "alice", "bob"} {
		want(t, result(t, rep, 15, u), Fail, "exited 125: Error: getting registries", "mixing sysregistry v1/v2 is not supported",
			"delete the v1 tables [registries.search], [registries.insecure] and [registries.block] from /etc/containers/registries.conf",
			"task: registries: {unqualified_search_registries: [registry.example.com, quay.io], registries: [{location: 'registry.lab:5000', insecure: true}]}")
	}
	want(t, result(t, rep, 12, "alice"), Skip, "podman info as alice exited 125", "")
	want(t, result(t, rep, 17, "alice"), Skip, "(check 15)", "")
	want(t, result(t, rep, 18, "bob"), Skip, "see check 15", "")
	if rep.ExitCode() != 1 {
		t.Errorf("exit %d", rep.ExitCode())
	}
}

func TestRegistriesFilesWithoutPodman(t *testing.T) {
	h := newHost(t)
	h.remove("/usr/bin/podman")
	h.write("/etc/containers/registries.conf.d/10-old.conf", "[registries.search]\nregistries = ['docker.io']\n")
	rep := h.doctor(Options{Checks: []int{15}})
	want(t, result(t, rep, 15, ""), Fail,
		`podman is not installed; checked the registries and storage files only: loading drop-in registries configuration "/etc/containers/registries.conf.d/10-old.conf": registry must be in v2 format but is in v1`,
		"registry must be in v2 format but is in v1",
		"delete /etc/containers/registries.conf.d/10-old.conf (a v1 drop-in)", "registries: {unqualified_search_registries: [docker.io]}")

	// A v1-only main file is deprecated but loads; bad TOML does not.
	h.remove("/etc/containers/registries.conf.d/10-old.conf")
	h.write("/etc/containers/registries.conf", "[registries.search]\nregistries = ['docker.io']\n")
	rep = h.doctor(Options{Checks: []int{15, 17}})
	want(t, result(t, rep, 15, ""), Skip, "podman is not installed (check 1); the registries and storage files load", "")
	want(t, result(t, rep, 17, "alice"), Pass, "unqualified-search registries: docker.io (the registries files)", "")
	h.write("/home/alice/.config/containers/registries.conf", "unqualified-search-registries = [\n")
	rep = h.doctor(Options{Checks: []int{15}})
	want(t, result(t, rep, 15, "alice"), Fail, `loading registries configuration "/home/alice/.config/containers/registries.conf": toml:`, "", "correct the TOML syntax")
	want(t, result(t, rep, 15, "bob"), Skip, "", "")
}

func TestStorageConfWarning(t *testing.T) {
	h := newHost(t)
	h.infoWarn["alice"] = `time="2024-01-01T00:00:00Z" level=warning msg="Failed to decode the keys [\"storage.options.foo\"] from \"/home/alice/.config/containers/storage.conf\""` + "\n"
	rep := h.doctor(Options{Checks: []int{15}})
	want(t, result(t, rep, 15, "alice"), Warn, "succeeded with warnings", "Failed to decode the keys", "remove or rename the unknown keys")
}

func TestUserOverrides(t *testing.T) {
	h := newHost(t)
	h.write("/home/bob/.config/containers/storage.conf", "[storage]\ndriver = \"vfs\"\n")
	h.write("/home/bob/.config/containers/containers.conf", "")
	rep := h.doctor(Options{Checks: []int{16}})
	want(t, result(t, rep, 16, "bob"), Warn, "/home/bob/.config/containers/storage.conf: replaces the system file entirely for bob; merged: /home/bob/.config/containers/containers.conf",
		"a user file replaces the system registries.conf / storage.conf", "as bob: rm /home/bob/.config/containers/storage.conf")
	want(t, result(t, rep, 16, "alice"), Pass, "no per-user registries.conf or storage.conf", "")
}

func TestShortNames(t *testing.T) {
	h := newHost(t)
	h.setInfo("alice", "registries", map[string]any{})
	h.setInfo("", "registries", map[string]any{"search": []any{}})
	rep := h.doctor(Options{Checks: []int{17}})
	want(t, result(t, rep, 17, "alice"), Warn, "no unqualified-search registries (podman info",
		`short-name "X" did not resolve to an alias and no unqualified-search registries are defined in "/etc/containers/registries.conf"`,
		"task: registries: {unqualified_search_registries: [docker.io]} (or use fully-qualified image names everywhere)")
	want(t, result(t, rep, 17, ""), Warn, "no unqualified-search registries", "")

	h = newHost(t)
	h.setInfo("alice", "registries", map[string]any{"search": []any{"registry.fedoraproject.org", "docker.io"}})
	h.write("/etc/containers/registries.conf.d/50-provision.conf", "unqualified-search-registries = [\"registry.fedoraproject.org\", \"docker.io\"]\nshort-name-mode = \"enforcing\"\n")
	rep = h.doctor(Options{Checks: []int{17}})
	want(t, result(t, rep, 17, "alice"), Warn, "short-name-mode is enforcing", "short-name resolution enforced but cannot prompt without a TTY",
		"registries: {short_name_mode: permissive}")
}

func TestNetworkBackend(t *testing.T) {
	h := newHost(t)
	h.setInfo("alice", "host.networkBackend", "cni")
	h.write("/home/alice/.local/share/containers/storage/defaultNetworkBackend", "cni")
	h.remove("/usr/lib/podman/netavark")
	rep := h.doctor(Options{Checks: []int{18}})
	want(t, result(t, rep, 18, "alice"), Warn, `network backend "cni"; netavark is not installed; /home/alice/.local/share/containers/storage/defaultNetworkBackend says "cni"`,
		"cni stuck because first use preceded the netavark install",
		"task: package: {names: [netavark, aardvark-dns]}", "as alice: podman system reset")

	h.setInfo("bob", "host.networkBackend", "")
	rep = h.doctor(Options{Checks: []int{18}})
	want(t, result(t, rep, 18, "bob"), Warn, "podman 3.x: CNI only", "", "podman 4.0 or later")
}

// podman5Stderr is what podman 5.4.2 printed on stderr on the e2e suite's
// Debian 13 host (cgroup v1) before each of its errors.
const podman5Stderr = `time="2026-12-05T16:43:35Z" level=warning msg="Using cgroups-v1 which is deprecated in favor of cgroups-v2 with Podman v5 and will be removed in a future version. Set environment variable ` + "`PODMAN_IGNORE_CGROUPSV1_WARNING`" + ` to hide this warning."` + "\n"

// TestNetworkBackendPodman5 uses the texts podman 5.4.2 printed on the
// trixie test host: without netavark every command fails, and a
// containers.conf naming cni is refused.
func TestNetworkBackendPodman5(t *testing.T) {
	h := newHost(t)
	h.version = "5.4.2"
	for _, u := range []string{"", "alice", "bob"} {
		h.setInfo(u, "version.Version", "5.4.2")
		h.setInfo(u, "host.rootlessNetworkCmd", "pasta")
	}
	h.remove("/usr/lib/podman/netavark")
	noNetavark := podman5Stderr + podman5Stderr + `Error: could not find "netavark" in one of [/usr/local/libexec/podman /usr/local/lib/podman /usr/libexec/podman /usr/lib/podman].  To resolve this error, set the helper_binaries_dir key in the ` + "`[engine]`" + ` section of containers.conf to the directory containing your helper binaries.` + "\n"
	h.infoFail["alice"] = noNetavark
	h.remove("/home/bob/.local/share/containers")
	rep := h.doctor(Options{Checks: []int{15, 18}})
	want(t, result(t, rep, 18, "alice"), Fail, "podman 5.4.2 and netavark is not installed: podman 5 has no other network backend",
		`Error: could not find "netavark" in one of [/usr/local/libexec/podman`, "task: package: {names: [netavark, aardvark-dns]}")
	// No first-run hazard on podman 5: it never picks and caches CNI.
	want(t, result(t, rep, 18, "bob"), Fail, "netavark is not installed", "could not find \"netavark\"")
	if r := result(t, rep, 15, "alice"); r.Status != Fail || !strings.Contains(r.Found, "(recognised: see check 18)") ||
		!strings.HasPrefix(r.Found, `podman info as alice exited 125: Error: could not find "netavark"`) {
		t.Errorf("check 15 with podman info failing for want of netavark:\n%+v", r)
	}

	h = newHost(t)
	h.version = "5.4.2"
	h.infoFail["alice"] = podman5Stderr + `Error: cni support is not enabled in this build, only netavark. Got unsupported network backend "cni"` + "\n"
	rep = h.doctor(Options{Checks: []int{18}})
	want(t, result(t, rep, 18, "alice"), Fail, "configured for CNI, which this build does not have",
		`Error: cni support is not enabled in this build, only netavark. Got unsupported network backend "cni"`,
		`delete network_backend = "cni"`, "as alice: podman system reset")
	want(t, result(t, rep, 18, "bob"), Pass, "netavark", "")
}

func TestRootlessNetwork(t *testing.T) {
	h := newHost(t)
	h.remove("/usr/bin/slirp4netns")
	h.setInfo("alice", "host.slirp4netns.executable", "")
	rep := h.doctor(Options{Checks: []int{19}})
	want(t, result(t, rep, 19, "alice"), Fail, "slirp4netns (default of podman 4.3.1) is not installed", "could not find slirp4netns",
		"task: package: {names: [slirp4netns]}")

	h = newHost(t)
	h.setInfo("alice", "version.Version", "5.2.2")
	h.setInfo("alice", "host.rootlessNetworkCmd", "pasta")
	rep = h.doctor(Options{Checks: []int{19}})
	want(t, result(t, rep, 19, "alice"), Fail, "pasta (podman info rootlessNetworkCmd) is not installed",
		`Error: could not find pasta, the network namespace can't be configured: exec: "pasta": executable file not found in $PATH`, "package: {names: [passt]}")
	h.exe("/usr/bin/pasta", 0o755)
	rep = h.doctor(Options{Checks: []int{19}})
	want(t, result(t, rep, 19, "alice"), Pass, "pasta (podman info rootlessNetworkCmd) at /usr/bin/pasta", "")
}

func TestSmoke(t *testing.T) {
	h := newHost(t)
	h.run.On("/usr/bin/podman run --rm docker.io/library/alpine:latest id", func(c tasks.Cmd) tasks.Result {
		if c.User == "bob" {
			return tasks.Result{ExitCode: 125, Stderr: `Error: short-name resolution enforced but cannot prompt without a TTY` + "\n"}
		}
		return tasks.Result{Stdout: "uid=0(root) gid=0(root) groups=0(root)\n"}
	})
	rep := h.doctor(Options{Smoke: true, Checks: []int{20}})
	want(t, result(t, rep, 20, "alice"), Pass, "uid=0(root)", "")
	want(t, result(t, rep, 20, "bob"), Fail, "(recognised: see check 17)", "short-name resolution enforced but cannot prompt without a TTY")

	h.run.Reply("/usr/bin/podman run --rm localhost/bb id", "uid=0(root) gid=0(root)\n", 0)
	rep = h.doctor(Options{Smoke: true, SmokeImage: "localhost/bb", Checks: []int{20}})
	want(t, result(t, rep, 20, "bob"), Pass, "podman run --rm localhost/bb id: uid=0(root)", "")
	for _, c := range h.run.Calls {
		if c.Argv[1] == "run" && c.User == "" {
			t.Errorf("smoke test ran as root")
		}
	}
}

func TestRecognise(t *testing.T) {
	out := `time="x" level=warning msg="Using rootless single mapping into the namespace. This might break some images. Check /etc/subuid and /etc/subgid for adding sub*ids if not using a network user"
Error: cannot find UID/GID for user carol: no subuid ranges found for user "carol" in /etc/subuid - check rootless mode in man pages.
Error: command required for rootless mode with multiple IDs: exec: "newuidmap": executable file not found in $PATH
unrelated line`
	lines, checks := recognise(out)
	if len(lines) != 3 || len(checks) != 2 || checks[0] != 7 || checks[1] != 3 {
		t.Errorf("lines %q checks %v", lines, checks)
	}
}

func TestFirstRunHazard(t *testing.T) {
	h := newHost(t)
	h.remove("/etc/containers/storage.conf")
	h.remove("/home/alice/.local/share/containers")
	h.remove("/usr/lib/podman/netavark")
	rep := h.doctor(Options{})
	want(t, result(t, rep, 12, "alice"), Warn,
		"podman has never run as alice (/home/alice/.local/share/containers/storage does not exist) and no storage.conf sets [storage] driver: the first run may pick vfs",
		"sticky", "task: storage: {driver: overlay}")
	want(t, result(t, rep, 18, "alice"), Warn, "netavark is not installed: the first run may pick CNI", "", "package: {names: [netavark, aardvark-dns]}")
	for _, id := range []int{9, 13, 15, 19} {
		want(t, result(t, rep, id, "alice"), Skip, "not run: podman has never run here (/home/alice/.local/share/containers/storage does not exist)", "")
	}
	want(t, result(t, rep, 17, "alice"), Warn, "(the registries files;", "")
	// bob has used podman before: his checks run (and report his real state).
	want(t, result(t, rep, 12, "bob"), Pass, "driver overlay", "")
	// root has no storage yet either; its message names no per-user check.
	r := result(t, rep, 15, "")
	want(t, r, Skip, "/var/lib/containers/storage does not exist", "")
	if strings.Contains(r.Found, "see check") {
		t.Errorf("root's skip points at a per-user check: %s", r.Found)
	}
	for _, c := range h.run.Calls {
		if c.User != "bob" && c.Argv[1] != "--version" {
			t.Errorf("ran %q as %q", c.Argv, c.User)
		}
	}

	// With a driver configured and netavark installed, the first run makes
	// the right choices, so doctor runs podman.
	h.write("/usr/share/containers/storage.conf", "[storage]\ndriver = \"overlay\"\n")
	h.exe("/usr/libexec/podman/netavark", 0o755)
	rep = h.doctor(Options{Checks: []int{12, 18}})
	want(t, result(t, rep, 12, "alice"), Pass, "driver overlay", "")
	want(t, result(t, rep, 18, "alice"), Pass, "netavark", "")
}

func TestGraphRootFromStorageConf(t *testing.T) {
	h := newHost(t)
	h.write("/etc/containers/storage.conf", "[storage]\ndriver = \"overlay\"\nrootless_storage_path = \"/srv/containers/$USER/storage\"\n")
	h.write("/proc/self/mountinfo", mountinfoGreen+"70 22 0:70 / /srv/containers rw,relatime - nfs srv:/c rw\n")
	h.remove("/home/alice/.local/share/containers")
	h.mkdir("/srv/containers/alice/storage", 0o700)
	h.infoFail["alice"] = "Error: something else\n"
	rep := h.doctor(Options{Checks: []int{14}})
	want(t, result(t, rep, 14, "alice"), Fail, "/srv/containers/alice/storage is on /srv/containers (nfs", "a network file system")
}
