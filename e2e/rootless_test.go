//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/provision-tool/provision/doctor"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/testhost"
)

// Names in examples/rootless-podman.yml that the tests below rely on.
const (
	rootlessBook   = "rootless-podman.yml"
	taskPackages   = "install podman and its rootless helpers"
	taskSubid      = "give each user subordinate uids and gids of their own"
	taskRegistries = "search registries for short names"
	taskStorage    = "overlay storage, fuse-overlayfs only on kernels that need it"
	handlerMigrate = "migrate podman"
	dropIn         = "/etc/containers/registries.conf.d/50-provision.conf"
	storageConf    = "/etc/containers/storage.conf"
)

// podmanKinds are the host kinds where rootless podman runs for real:
// Debian's podman from its apt repository, 4.3.1 (slirp4netns, netavark)
// on Debian 12 and 5.4.2 (pasta, netavark, cgroup v1 deprecated) on Debian
// 13; and on the RPM hosts Debian 12's binaries repackaged as RPMs with
// Fedora's names (testhost.RPMDebPackages), installed by dnf 4 (Fedora)
// or yum (Yum).
//
// DNF5 is not here: its podman is forky's 5.8.6, which applies the
// graphroot and runroot of /etc/containers/storage.conf to rootless users
// too ("rootless_storage_path is deprecated"), and the storage.conf of the
// harness's containers-common (Fedora 39's, for podman 4) sets both, which
// rootless-podman.yml leaves alone: every podman command as alice fails
// with `creating runtime static files directory
// "/var/lib/containers/storage/libpod": mkdir /var/lib/containers:
// permission denied`. Removing them is no fix for every podman: 4.3.1 as
// root then says "runroot must be set". The lifecycle of the example runs
// there in TestExamples.
var podmanKinds = []testhost.Kind{testhost.Debian, testhost.Trixie, testhost.Fedora, testhost.Yum}

// aptHost reports whether h is a Debian kind (apt and dpkg).
func aptHost(h *testhost.Host) bool { return h.Kind == testhost.Debian || h.Kind == testhost.Trixie }

// TestRootlessPodman runs examples/rootless-podman.yml on each host kind
// with the real podman: a check of the fresh host, apply, the idempotent
// re-run, then drift (a removed package, a corrupt and a deleted subuid
// line, a deleted registries drop-in, a changed storage.conf) that check
// names exactly and apply repairs alone, then rootless podman for real as
// each user.
func TestRootlessPodman(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	for _, kind := range podmanKinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			st := newStageLog(t)
			h := testhost.Boot(t, kind, testhost.Options{})
			h.InstallProvision(t)
			book := installExample(t, h, rootlessBook)
			baseImage(t, h)
			if !checkFresh(t, st, h, book) || !converge(t, st, h, book) {
				return
			}
			t.Run("result", func(t *testing.T) { verifyRootless(t, h) })
			t.Run("drift", func(t *testing.T) { testDrift(t, st, h, book) })
			t.Run("registries as podman reads them", func(t *testing.T) { testRegistriesLikePodman(t, st, h, book) })
			t.Run("rootless", func(t *testing.T) {
				for _, u := range []string{"alice", "bob"} {
					t.Run(u, func(t *testing.T) { rootlessAs(t, h, u) })
				}
			})
			t.Run("doctor", func(t *testing.T) { doctorConverged(t, h) })
		})
	}
}

// baseImage readies a fresh host as its distribution's own install would
// be: on the RPM hosts shadow-utils is installed (useradd comes from it on
// Fedora; it is in every install), from the repository, so newuidmap and
// newgidmap carry the file capabilities Fedora gives them.
func baseImage(t *testing.T, h *testhost.Host) {
	t.Helper()
	if aptHost(h) {
		return
	}
	h.SSH(t, rpmTool(h)+" -y -q install shadow-utils >/dev/null")
	// rpm -V compares each file with the package, its capabilities too.
	got := h.SSH(t, "rpm -V shadow-utils && rpm -q --filecaps shadow-utils && stat -c '%n %a' /usr/bin/newuidmap /usr/bin/newgidmap")
	want := "/usr/bin/newgidmap\tcap_setgid=ep\n/usr/bin/newuidmap\tcap_setuid=ep\n/usr/bin/newuidmap 755\n/usr/bin/newgidmap 755"
	if got != want {
		t.Fatalf("shadow-utils from the repository:\n%s\nwant (file capabilities as Fedora ships them, not setuid):\n%s", got, want)
	}
}

// rpmTool is the package command of an RPM host.
func rpmTool(h *testhost.Host) string {
	switch h.Kind {
	case testhost.Yum:
		return "yum"
	case testhost.DNF5:
		return "dnf5"
	}
	return "dnf"
}

// pkgOps are a host kind's commands to remove a package and to print its
// installation state and version, for drift, and the paths under /etc that
// removing fuse-overlayfs and installing it again may touch.
type pkgOps struct {
	remove, state func(pkg string) string
	touches       []string
}

func pkgOpsOf(h *testhost.Host) pkgOps {
	if aptHost(h) {
		return pkgOps{
			remove: func(p string) string {
				return "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q " + p + " >/dev/null"
			},
			state: func(p string) string { return "dpkg-query -W -f='${Status} ${Version}' " + p },
		}
	}
	return pkgOps{
		remove: func(p string) string { return rpmTool(h) + " -y -q remove " + p + " >/dev/null" },
		state:  func(p string) string { return "rpm -q --qf '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE}' " + p },
		// dnf removes fuse3 with fuse-overlayfs (clean_requirements_on_remove:
		// nothing else needs it), and installs it again with fuse-overlayfs.
		touches: []string{"/etc", "/etc/fuse.conf"},
	}
}

// doctorConverged runs `provision doctor` (all checks, podman as each
// user) on the converged host: no failure, and only the warnings this
// test host cannot avoid (linger off for users who run no services;
// cgroup v1 on the hybrid hosts, or cgroup v2 without the controllers
// delegated).
func doctorConverged(t *testing.T, h *testhost.Host) {
	// alice's and bob's podman logins have ended; logind stops their
	// sessions and removes their runtime dirs some seconds later, and a
	// doctor run meanwhile would see podman lose its runtime dir (podman
	// info as bob printed nothing, exit 0, once).
	endSessions(t, h, "alice", "bob")
	d := runDoctor(t, h, "on the converged host")
	if fails := d.withStatus(doctor.Fail); len(fails) > 0 || d.jsonCode == 1 {
		t.Errorf("doctor on the converged %s host: exit %d, failures %q", h.Kind, d.jsonCode, fails)
	}
	allowed := map[string]bool{}
	for _, u := range []string{"alice", "bob"} {
		allowed["10 session "+u], allowed["11 cgroups "+u] = true, true
	}
	for _, w := range d.withStatus(doctor.Warn) {
		if !allowed[w] {
			t.Errorf("doctor on the converged %s host warns %s, want only linger and cgroup warnings:\n%s", h.Kind, w, d.human)
		}
	}
	if r := d.result(t, 4, ""); r.Status != doctor.Pass {
		t.Errorf("newuidmap on %s:\n%s", h.Kind, describeDoctorResult(r))
	} else {
		t.Logf("check 4 on %s: %s", h.Kind, r.Found)
	}
}

// subidRange returns the user's single START:COUNT in a subid file.
func subidRange(t *testing.T, h *testhost.Host, file, user string) string {
	t.Helper()
	lines := subidLines(t, h, file, user)
	if len(lines) != 1 {
		t.Fatalf("%s on %s: %d lines of %s: %q", file, h.Name, len(lines), user, lines)
	}
	return strings.TrimPrefix(lines[0], user+":")
}

// testDrift breaks the converged host one way at a time, then all at once;
// each time check (exit 2) must name exactly the broken things, with the
// right before and after, and apply must repair only them: every other
// task is ok and every file under /etc that was not touched keeps its
// content and mtime.
func testDrift(t *testing.T, st *stageLog, h *testhost.Host, book string) {
	aliceRange := subidRange(t, h, "/etc/subuid", "alice")
	dropInContent := guestRead(t, h, dropIn)
	// Debian 12's default (/usr/share/containers/storage.conf) lacks what
	// the example wants, so the first apply wrote /etc/containers/storage.conf;
	// Debian 13's already says driver "overlay" without a mount program, so
	// nothing was written and the drift is an /etc file saying vfs.
	storageWritten := h.SSH(t, "test -e "+storageConf+" && echo yes || echo no") == "yes"
	storageSrc := storageConf
	if !storageWritten {
		storageSrc = "/usr/share/containers/storage.conf"
	}
	storageContent := guestRead(t, h, storageSrc)
	if !strings.Contains(storageContent, `driver = "overlay"`) {
		t.Fatalf("%s after the first apply:\n%s", storageSrc, storageContent)
	}
	ops := pkgOpsOf(h)
	pkgState := h.SSH(t, ops.state("fuse-overlayfs"))

	type drift struct {
		name    string
		break_  string   // shell commands that break the host
		changed []string // task results check and apply must report changed
		touched []string // paths under /etc that may differ after the repair
		// checkEvents inspects the check run's events in detail.
		checkEvents func(t *testing.T, r pbRun)
	}
	removePkg := ops.remove("fuse-overlayfs")
	// A typo: the letter O for the digit 0 in alice's start.
	startCount := strings.Split(aliceRange, ":")
	typo := strings.ReplaceAll(startCount[0], "0", "O") + ":" + startCount[1]
	corrupt := fmt.Sprintf(`sed -i 's/^alice:%s$/alice:%s/' /etc/subuid && grep -qx 'alice:%s' /etc/subuid`, aliceRange, typo, typo)
	deleteLine := `sed -i '/^alice:/d' /etc/subuid && ! grep -q '^alice:' /etc/subuid`
	removeDropIn := "rm " + dropIn
	vfs := `sed -i 's/^driver = "overlay"$/driver = "vfs"/' ` + storageConf + ` && grep -q '^driver = "vfs"$' ` + storageConf
	if !storageWritten {
		vfs = `sed 's/^driver = "overlay"$/driver = "vfs"/' ` + storageSrc + ` > ` + storageConf + ` && grep -q '^driver = "vfs"$' ` + storageConf
	}

	checkPkg := func(t *testing.T, r pbRun) {
		e := r.find(t, taskPackages, nil)
		before, after := changeOf(t, r, e, "package fuse-overlayfs", "")
		if after != "installed" || strings.Contains(before, "installed") {
			r.errorf(t, "package change %q -> %q, want (not installed) -> installed", before, after)
		}
		t.Logf("check names the removed package: package fuse-overlayfs: %q -> %q", before, after)
		if len(e.Changes) != 1 {
			r.errorf(t, "package task plans %d changes, want only fuse-overlayfs:\n%s", len(e.Changes), describeResults([]report.Event{e}))
		}
	}
	checkSubuid := func(wantBefore string) func(t *testing.T, r pbRun) {
		return func(t *testing.T, r pbRun) {
			e := r.find(t, taskSubid, "alice")
			before, after := changeOf(t, r, e, "subuid", "")
			if before != wantBefore || after != aliceRange {
				r.errorf(t, "alice's subuid change %q -> %q, want %q -> %q", before, after, wantBefore, aliceRange)
			}
			_, content := changeOf(t, r, e, "content", "/etc/subuid")
			if !strings.Contains(content, "\nalice:"+aliceRange+"\n") && !strings.HasPrefix(content, "alice:"+aliceRange+"\n") {
				r.errorf(t, "planned /etc/subuid lacks alice:%s:\n%s", aliceRange, content)
			}
			for _, c := range e.Changes {
				if c.Field == "subgid" || c.Path == "/etc/subgid" {
					r.errorf(t, "alice's subgid is fine but a change is planned: %+v", c)
				}
			}
		}
	}
	checkDropIn := func(t *testing.T, r pbRun) {
		e := r.find(t, taskRegistries, nil)
		before, after := changeOf(t, r, e, "content", dropIn)
		if before != "" || after != dropInContent {
			r.errorf(t, "drop-in change: before %q, after %q; want \"\" -> the content the first apply wrote (%q)", before, after, dropInContent)
		}
	}
	checkStorage := func(t *testing.T, r pbRun) {
		e := r.find(t, taskStorage, nil)
		before, after := changeOf(t, r, e, "content", storageConf)
		if want := strings.Replace(storageContent, `driver = "overlay"`, `driver = "vfs"`, 1); before != want {
			r.errorf(t, "storage.conf change: before\n%s\nwant\n%s", before, want)
		}
		if after != storageContent {
			r.errorf(t, "storage.conf change: after\n%s\nwant what the first apply wrote (or the default)\n%s", after, storageContent)
		}
	}
	subuidAlice := taskSubid + "[alice]"
	drifts := []drift{
		{"package removed", removePkg, []string{taskPackages}, ops.touches, checkPkg},
		{"subuid line corrupt", corrupt, []string{subuidAlice}, []string{"/etc", "/etc/subuid", "/etc/subuid-"},
			checkSubuid(`"alice:` + typo + `"`)},
		{"subuid line deleted", deleteLine, []string{subuidAlice}, []string{"/etc", "/etc/subuid", "/etc/subuid-"}, checkSubuid("")},
		{"registries drop-in deleted", removeDropIn, []string{taskRegistries}, []string{"/etc/containers/registries.conf.d", dropIn}, checkDropIn},
		{"storage.conf driver vfs", vfs, []string{taskStorage}, []string{"/etc/containers", storageConf}, checkStorage},
		{"all at once", strings.Join([]string{removePkg, deleteLine, removeDropIn, vfs}, " && "),
			[]string{taskPackages, subuidAlice, taskRegistries, taskStorage},
			append([]string{"/etc", "/etc/subuid", "/etc/subuid-", "/etc/containers/registries.conf.d", dropIn, "/etc/containers", storageConf}, ops.touches...),
			func(t *testing.T, r pbRun) {
				checkPkg(t, r)
				checkSubuid("")(t, r)
				checkDropIn(t, r)
				checkStorage(t, r)
			}},
	}
	for _, d := range drifts {
		ok := t.Run(d.name, func(t *testing.T) {
			clean := etcSnapshot(t, h)
			h.SSH(t, d.break_)
			broken := etcSnapshot(t, h)
			c := runBookCode(t, st, h, "check (drift: "+d.name+")", "check", book)
			if c.res.Code != 2 {
				c.errorf(t, "check after drift %q: exit %d, want 2 (changes pending)", d.name, c.res.Code)
			}
			c.expectChanged(t, d.changed...)
			d.checkEvents(t, c)
			expectSameTree(t, c, "check after drift", broken, etcSnapshot(t, h))

			a := runBook(t, st, h, 0, "apply (drift: "+d.name+")", "apply", book)
			a.expectChanged(t, d.changed...)
			if migrated := a.results(isHandler, statusIs("changed")); len(migrated) > 0 {
				a.errorf(t, "a handler changed something although no user runs podman:\n%s", describeResults(migrated))
			}
			repaired := etcSnapshot(t, h)
			// Nothing outside the touched paths moved, before or after
			// the repair.
			expectSameTree(t, a, "apply after drift (vs. before the drift)", clean, repaired, d.touched...)
			expectSameTree(t, a, "apply after drift (vs. the broken host)", broken, repaired, d.touched...)
			// Repaired means back to the same content.
			for _, p := range d.touched {
				if p == "/etc/subuid" || p == "/etc/subuid-" {
					continue // alice's line moves to the end of the file
				}
				if p == storageConf && !storageWritten {
					// The repair edits the vfs file back to the default.
					if got := guestRead(t, h, storageConf); got != storageContent {
						t.Errorf("%s after the repair:\n%s\nwant the default %s\n%s", p, got, storageSrc, storageContent)
					}
					continue
				}
				if p == "/etc/containers" && !storageWritten {
					continue // it holds a storage.conf now
				}
				if a, b := clean[p], repaired[p]; a.sha != b.sha || a.mode != b.mode || a.uid != b.uid || a.gid != b.gid {
					t.Errorf("%s after the repair: %s, before the drift: %s", p, b, a)
				}
			}
			if got := subidRange(t, h, "/etc/subuid", "alice"); got != aliceRange {
				t.Errorf("alice's subuid after the repair: %s, want %s", got, aliceRange)
			}
			if got := h.SSH(t, ops.state("fuse-overlayfs")); got != pkgState {
				t.Errorf("fuse-overlayfs after the repair: %q, want %q", got, pkgState)
			}
			runBook(t, st, h, 0, "check (after repair: "+d.name+")", "check", book).expectChanged(t)
		})
		if !ok && runBookCode(t, st, h, "check (is the host still converged?)", "check", book).res.Code != 0 {
			t.Fatalf("the host did not converge again after drift %q: stopping", d.name)
		}
	}
}

// rootlessAs logs in as user over SSH (a real logind session, so
// XDG_RUNTIME_DIR is set) and proves rootless podman: native overlay
// storage, the user namespace exactly as /etc/subuid and /etc/subgid say,
// and a container run from a local image.
func rootlessAs(t *testing.T, h *testhost.Host, user string) {
	h.AuthorizeUser(t, user)
	uid, gid := h.SSH(t, "id -u "+user), h.SSH(t, "id -g "+user)
	subuid := strings.Split(subidRange(t, h, "/etc/subuid", user), ":")
	subgid := strings.Split(subidRange(t, h, "/etc/subgid", user), ":")
	if got := h.SSHAs(t, user, "echo $XDG_RUNTIME_DIR"); got != "/run/user/"+uid {
		t.Errorf("XDG_RUNTIME_DIR of %s: %q", user, got)
	}
	if got := h.SSHAs(t, user, "podman info --format '{{.Store.GraphDriverName}}'"); got != "overlay" {
		t.Errorf("podman info as %s: graph driver %q, want overlay", user, got)
	}
	expectMap(t, h.SSHAs(t, user, "podman unshare cat /proc/self/uid_map"), "uid_map of "+user, uid, subuid)
	expectMap(t, h.SSHAs(t, user, "podman unshare cat /proc/self/gid_map"), "gid_map of "+user, gid, subgid)

	if err := h.CopyIn(testhost.BusyboxRootfs(t), "/home/"+user+"/busybox-rootfs.tar"); err != nil {
		t.Fatal(err)
	}
	h.SSH(t, "chown "+user+": /home/"+user+"/busybox-rootfs.tar")
	h.SSHAs(t, user, `podman import -q --change 'CMD ["/bin/sh"]' ~/busybox-rootfs.tar localhost/bb:latest`)
	if got := h.SSHAs(t, user, `podman run --rm localhost/bb:latest sh -c 'echo in-container uid=$(id -u)'`); got != "in-container uid=0" {
		t.Errorf("podman run as %s: %q, want in-container uid=0", user, got)
	}
	// Files made in a container by its root and by its UID 1 belong on the
	// host to the user and to the first subordinate ID.
	h.SSHAs(t, user, `mkdir -p ~/vol && podman run --rm --network=none -v ~/vol:/vol localhost/bb:latest sh -c 'touch /vol/by-root /vol/by-1 && chown 1:1 /vol/by-1'`)
	got := h.SSH(t, "stat -c '%u:%g' /home/"+user+"/vol/by-root /home/"+user+"/vol/by-1")
	if want := uid + ":" + gid + "\n" + subuid[0] + ":" + subgid[0]; got != want {
		t.Errorf("owners of files a container made as 0 and as 1:\n%s\nwant\n%s", got, want)
	}
}

// expectMap checks /proc/self/uid_map (or gid_map) inside podman unshare:
// the user's own ID as 0, then exactly the subordinate range at 1.
func expectMap(t *testing.T, got, what, id string, sub []string) {
	t.Helper()
	want := []string{"0 " + id + " 1", "1 " + sub[0] + " " + sub[1]}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	var norm []string
	for _, l := range lines {
		norm = append(norm, strings.Join(strings.Fields(l), " "))
	}
	if strings.Join(norm, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n%s\nwant\n%s", what, got, strings.Join(want, "\n"))
	}
}

// testRegistriesLikePodman puts drop-ins beside the example's on a host
// with the real podman: one that sorts after it and overrides its search
// registries and short-name mode (the registries task warns, naming the
// file and the values podman then uses, and podman info shows those), and
// one with a value podman refuses (check fails with the message podman
// info fails with).
func testRegistriesLikePodman(t *testing.T, st *stageLog, h *testhost.Host, book string) {
	const later, bad = "/etc/containers/registries.conf.d/99-local.conf", "/etc/containers/registries.conf.d/98-bad.conf"
	defer h.SSH(t, "rm -f "+later+" "+bad)
	if err := h.WriteFile(later, []byte("unqualified-search-registries = [\"registry.example.com\"]\nshort-name-mode = \"enforcing\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := runBook(t, st, h, 0, "check (a later drop-in overrides ours)", "check", book)
	c.expectChanged(t)
	var warnings []string
	for _, e := range c.results() {
		if e.Task == taskRegistries {
			warnings = e.Warnings
		}
	}
	for _, want := range []string{
		dropIn + `: unqualified-search-registries is overridden by ` + later + `; podman uses ["registry.example.com"] (from ` + later + `)`,
		dropIn + `: short-name-mode is overridden by ` + later + `; podman uses "enforcing"`,
	} {
		if !slices.ContainsFunc(warnings, func(w string) bool { return strings.HasPrefix(w, want) }) {
			c.errorf(t, "the registries task's warnings %q lack %q", warnings, want)
		}
	}
	var info struct {
		Registries struct {
			Search []string `json:"search"`
		} `json:"registries"`
	}
	if err := json.Unmarshal([]byte(h.SSH(t, "podman info --format json")), &info); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(info.Registries.Search, ","); got != "registry.example.com" {
		t.Errorf("podman info: search registries %q, want registry.example.com as the warning says", got)
	}

	if err := h.WriteFile(bad, []byte("short-name-mode = \"strict\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := h.SSHExpect(t, "root", 125, "podman info")
	podmanMsg := strings.TrimSpace(r.Stderr)
	t.Logf("podman info with %s: %s", bad, podmanMsg)
	f := runBookCode(t, st, h, "check (a drop-in podman refuses)", "check", book)
	if f.res.Code != 1 {
		f.errorf(t, "check with %s: exit %d, want 1", bad, f.res.Code)
	}
	var taskErr string
	for _, e := range f.results() {
		if e.Task == taskRegistries {
			taskErr = e.Error
		}
	}
	msg := `loading drop-in registries configuration "` + bad + `": invalid short-name mode`
	if !strings.Contains(podmanMsg, msg) || !strings.Contains(taskErr, msg) || !strings.Contains(taskErr, "strict") {
		f.errorf(t, "podman says %q; the registries task says %q; both should say %q", podmanMsg, taskErr, msg)
	}
}
