//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/testhost"
)

// machineSnap is what an image build must not change on the build
// machine: its /etc, its package databases and its mounts.
type machineSnap struct {
	etc       treeSnap
	dpkg, rpm map[string]string // package: status and version
	mounts    []string
}

func snapMachine(t testing.TB) machineSnap {
	t.Helper()
	return machineSnap{
		etc:    takeSnapshot(t, "/etc", "/etc"),
		dpkg:   dpkgPackages(t, "/"),
		rpm:    rpmPackages(t),
		mounts: hostMounts(t),
	}
}

// rpmPackages lists the build machine's rpm database (Debian's rpm keeps
// one too): package -> version; nil without rpm.
func rpmPackages(t testing.TB) map[string]string {
	t.Helper()
	if _, err := exec.LookPath("rpm"); err != nil {
		return nil
	}
	out, err := exec.Command("rpm", "-qa", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\\n").Output()
	if err != nil {
		t.Fatalf("rpm -qa on the build machine: %v", err)
	}
	pkgs := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, v, ok := strings.Cut(l, " "); ok {
			pkgs[name] = v
		}
	}
	return pkgs
}

// dpkgPackages reads root's dpkg status: package -> status and version.
func dpkgPackages(t testing.TB, root string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string]string{}
	for _, para := range strings.Split(string(data), "\n\n") {
		var name, status, version string
		for _, l := range strings.Split(para, "\n") {
			switch k, v, _ := strings.Cut(l, ": "); k {
			case "Package":
				name = v
			case "Status":
				status = v
			case "Version":
				version = v
			}
		}
		if name != "" {
			pkgs[name] = status + " " + version
		}
	}
	return pkgs
}

// changedPackages lists the packages whose status or version differ.
func changedPackages(a, b map[string]string) []string {
	var out []string
	for p, v := range a {
		if b[p] != v {
			out = append(out, p+": "+v+" -> "+b[p])
		}
	}
	for p, v := range b {
		if _, ok := a[p]; !ok {
			out = append(out, p+": (absent) -> "+v)
		}
	}
	sort.Strings(out)
	return out
}

// hostMounts lists this namespace's mount points outside the harness's
// cache and nspawn's propagation directories (where parallel tests mount
// their guests).
func hostMounts(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, testhost.CacheDir()+"/") || strings.HasPrefix(mp, "/run/systemd/nspawn/") {
			continue
		}
		out = append(out, mp+" "+strings.Join(fields[5:6], ""))
	}
	return out
}

// mountsUnder lists mount points strictly below root in this namespace.
func mountsUnder(t testing.TB, root string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(unescapeMount(f[4]), root+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// expectSame compares two snapshots of the build machine. built are the
// packages the build installed or changed in the image: none of them may
// change in the build machine's dpkg or rpm database. Other changes there
// are logged, not failed: on a shared machine another process may run apt
// meanwhile (the build's package manager runs only in the image, and a
// leak would show up under its own packages).
func (a machineSnap) expectSame(t testing.TB, b machineSnap, built map[string]bool) {
	t.Helper()
	if d := a.etc.diff(b.etc); len(d) > 0 {
		t.Errorf("the build machine's /etc changed:\n%s", strings.Join(d, "\n"))
	}
	for db, pair := range map[string][2]map[string]string{"dpkg": {a.dpkg, b.dpkg}, "rpm": {a.rpm, b.rpm}} {
		for _, c := range changedPackages(pair[0], pair[1]) {
			if name, _, _ := strings.Cut(c, ":"); built[name] {
				t.Errorf("the build machine's %s database changed for a package the image build installed: %s", db, c)
			} else {
				t.Logf("the build machine's %s database changed meanwhile (not a package of this build): %s", db, c)
			}
		}
	}
	if strings.Join(a.mounts, "\n") != strings.Join(b.mounts, "\n") {
		t.Errorf("the build machine's mounts changed:\nbefore:\n%s\nafter:\n%s", strings.Join(a.mounts, "\n"), strings.Join(b.mounts, "\n"))
	}
}

// chrootApply runs provision apply --chroot on the build machine and
// returns its events, exit code and stderr.
func chrootApply(t testing.TB, root, book string, args ...string) ([]report.Event, int, string) {
	t.Helper()
	bin := testhost.BuildProvision(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	argv := append([]string{"apply", "--chroot", root, "--output", "json"}, args...)
	cmd := exec.CommandContext(ctx, bin, append(argv, book)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("provision %s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
	}
	evs, perr := testhost.ParseEvents(string(out))
	if perr != nil {
		t.Fatalf("provision %s: bad JSON events: %v\n%s", strings.Join(argv, " "), perr, out)
	}
	t.Logf("stage: provision %s %s: %.2fs, exit %d", strings.Join(argv, " "), filepath.Base(book), time.Since(start).Seconds(), code)
	return evs, code, stderr.String()
}

// builtPackages are the packages a build changed in the image; it fails
// the test when there are none (the comparison would prove nothing).
func builtPackages(t testing.TB, before, after map[string]string) map[string]bool {
	t.Helper()
	built := map[string]bool{}
	for _, c := range changedPackages(before, after) {
		name, _, _ := strings.Cut(c, ":")
		built[name] = true
	}
	if !built["podman"] {
		t.Errorf("the build did not install podman in the image (changed: %v)", built)
	}
	return built
}

// expectNoTrace fails when the agent's directory is left in the tree or a
// mount of the run is visible below it.
func expectNoTrace(t testing.TB, root string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(root, ".provision-agent-*"))
	for _, l := range left {
		if st, err := os.Lstat(l); err == nil && st.IsDir() {
			t.Errorf("agent left in the image: %s", l)
		}
	}
	if m := mountsUnder(t, root); len(m) > 0 {
		t.Errorf("mounts of the run visible on the build machine: %v", m)
	}
}

// TestImageChrootDebian builds the Debian image from outside with
// examples/rootless-podman.yml (apply --chroot, the image's own apt from
// the offline repository), checks that the build machine is unchanged,
// then boots the image: alice runs a rootless container with overlay
// storage and provision check reports no drift, with no further apply.
func TestImageChrootDebian(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	mod, err := testhost.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	book := filepath.Join(mod, "examples", "rootless-podman.yml")
	repo := testhost.DebRepo(t)
	build := func(h *testhost.Host) error {
		guestRepo := filepath.Join(h.Root(), testhost.GuestDebRepo)
		if err := exec.Command("cp", "-a", repo+"/.", guestRepo+"/").Run(); err != nil {
			return err
		}
		before, imageBefore := snapMachine(t), dpkgPackages(t, h.Root())
		evs, code, stderr := chrootApply(t, h.Root(), book)
		pull := exec.Command(testhost.BuildProvision(t), "pull", "--root", h.Root(), "--playbook", book, "--every", "1h")
		if out, err := pull.CombinedOutput(); err != nil {
			t.Errorf("pull --root: %v\n%s", err, out)
		}
		after := snapMachine(t)
		before.expectSame(t, after, builtPackages(t, imageBefore, dpkgPackages(t, h.Root())))
		expectNoTrace(t, h.Root())
		if code != 0 || len(testhost.TaskResults(evs, report.StatusFailed)) > 0 {
			t.Errorf("apply --chroot: exit %d\n%s\n%s", code, describeResults(testhost.TaskResults(evs, report.StatusFailed)), stderr)
		}
		if len(evs) == 0 || evs[0].Type != report.PlayStart || !evs[0].Image {
			t.Errorf("play_start does not say image: %+v", evs[:min(1, len(evs))])
		}
		// The repository is the guest's bind at boot, not part of the image.
		if err := os.RemoveAll(guestRepo); err != nil {
			return err
		}
		return os.Mkdir(guestRepo, 0o755)
	}
	h := testhost.Boot(t, testhost.Debian, testhost.Options{Prepare: build, HomeFromImage: true})
	if t.Failed() {
		t.FailNow()
	}

	h.AuthorizeUser(t, "alice")
	if got := h.SSHAs(t, "alice", "podman info --format '{{.Store.GraphDriverName}}'"); got != "overlay" {
		t.Errorf("alice's podman storage driver: %q, want overlay", got)
	}
	if err := h.CopyIn(testhost.BusyboxRootfs(t), "/home/alice/bb.tar"); err != nil {
		t.Fatal(err)
	}
	h.SSH(t, "chown alice: /home/alice/bb.tar")
	h.SSHAs(t, "alice", `podman import -q --change 'CMD ["/bin/sh"]' ~/bb.tar localhost/bb:latest`)
	if out := h.SSHAs(t, "alice", `podman run --rm --network=none localhost/bb:latest sh -c 'echo uid=$(id -u)'`); out != "uid=0" {
		t.Errorf("alice's rootless container: %q, want uid=0", out)
	}

	// Pull mode came with the image: its own binary and playbook, the
	// timer scheduled from boot, and a run of it converges at once.
	if got := h.SSH(t, "systemctl is-active provision-pull.timer"); got != "active" {
		t.Errorf("provision-pull.timer after boot: %q, want active", got)
	}
	if got := h.SSH(t, "systemctl show -P ExecStart provision-pull.service"); !strings.Contains(got, "path=/usr/local/bin/provision ") || !strings.Contains(got, "/etc/provision/pull/rootless-podman.yml") {
		t.Errorf("provision-pull.service ExecStart: %s", got)
	}
	h.SSH(t, "systemctl start provision-pull.service")
	if got := h.SSH(t, "provision status -n 1"); !strings.Contains(got, "in sync") {
		t.Errorf("the image's first pull run is not in sync:\n%s", got)
	}

	// The image's own /usr/local/bin/provision (testhost.GuestProvisionPath).
	guestBook := installExample(t, h, "rootless-podman.yml")
	r := runBook(t, newStageLog(t), h, 0, "check on the booted image", "check", guestBook)
	if pending := r.results(statusIs(report.StatusChanged)); len(pending) > 0 {
		t.Errorf("drift on the booted image:\n%s", describeResults(pending))
	}
}

// hostileBook writes files at the paths the example writes, with no
// packages (the hostile tree needs no apt run).
const hostileBook = `- hosts: all
  tasks:
    - user: {name: alice, shell: /bin/bash}
    - subid: {user: alice, count: 65536}
    - registries: {unqualified_search_registries: [docker.io], short_name_mode: permissive}
    - storage: {driver: overlay, mount_program: auto}
`

// TestImageChrootHostile builds an image whose links lead out of the tree
// (absolute and relative, at paths the example writes; /var/run -> /run;
// a fake stale agent directory linked outside): whatever is written lands
// inside the tree, and nothing outside it changes. A tree whose /run is a
// link out is refused before anything runs.
func TestImageChrootHostile(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	root := testhost.ImageTree(t, testhost.Debian)
	out := t.TempDir()
	for _, d := range []string{"registries.conf.d", "agent", "run"} {
		must(t, os.MkdirAll(filepath.Join(out, d), 0o755))
		must(t, os.WriteFile(filepath.Join(out, d, "marker"), []byte("outside\n"), 0o644))
	}
	must(t, os.WriteFile(filepath.Join(out, "storage.conf"), []byte("# outside\n"), 0o644))
	links := map[string]string{
		"etc/containers/registries.conf.d": filepath.Join(out, "registries.conf.d"),
		"etc/containers/storage.conf":      strings.Repeat("../", 12) + strings.TrimPrefix(out, "/") + "/storage.conf",
		".provision-agent-1-0123456789ab":  filepath.Join(out, "agent"),
		"var/run":                          "/run",
	}
	for l, target := range links {
		p := filepath.Join(root, l)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		os.RemoveAll(p)
		must(t, os.Symlink(target, p))
	}
	book := filepath.Join(t.TempDir(), "hostile.yml")
	must(t, os.WriteFile(book, []byte(hostileBook), 0o644))
	outside := takeSnapshot(t, out, out)

	before := snapMachine(t)
	evs, code, stderr := chrootApply(t, root, book)
	before.expectSame(t, snapMachine(t), nil)
	expectNoTrace(t, root)
	if d := outside.diff(takeSnapshot(t, out, out)); len(d) > 0 {
		t.Errorf("files outside the image changed:\n%s", strings.Join(d, "\n"))
	}
	t.Logf("hostile tree: exit %d; results:\n%s%s", code, describeResults(testhost.TaskResults(evs)), stderr)
	// Written inside: the links resolve in the tree, as they will at boot.
	for _, p := range []string{filepath.Join(out, "registries.conf.d"), filepath.Join(out, "storage.conf")} {
		inside := filepath.Join(root, p)
		if _, err := os.Lstat(inside); err != nil && code == 0 {
			t.Errorf("%s: the run succeeded but wrote nothing inside the tree at %s: %v", p, inside, err)
		}
	}

	// /run a link out of the tree: refused, nothing mounted over it.
	must(t, os.RemoveAll(filepath.Join(root, "run")))
	must(t, os.Symlink(filepath.Join(out, "run"), filepath.Join(root, "run")))
	evs, code, stderr = chrootApply(t, root, book)
	if code != 1 || !strings.Contains(stderrOrErr(evs, stderr), "is a link to "+filepath.Join(out, "run")) {
		t.Errorf("tree with /run linked out: exit %d, want 1 and a refusal naming the link:\n%s", code, stderr)
	}
	expectNoTrace(t, root)
	if d := outside.diff(takeSnapshot(t, out, out)); len(d) > 0 {
		t.Errorf("files outside the image changed:\n%s", strings.Join(d, "\n"))
	}
}

// stderrOrErr is the run's stderr and its host errors together.
func stderrOrErr(evs []report.Event, stderr string) string {
	var b strings.Builder
	b.WriteString(stderr)
	for _, e := range evs {
		b.WriteString(e.Error)
	}
	return b.String()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rpmPrep is the step a real Fedora base image has already taken:
// shadow-utils installed (newuidmap and newgidmap with their file
// capabilities, from the repository).
const rpmPrep = `- hosts: all
  tasks:
    - package: {names: [shadow-utils]}
`

// TestImageChrootRPM builds the RPM (Fedora-like) image from outside with
// examples/rootless-podman.yml: dnf, useradd and the rest from the image,
// the build machine unchanged, and a check of the image right after
// reports no drift.
func TestImageChrootRPM(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	root := testhost.ImageTree(t, testhost.Fedora)
	repo, err := testhost.RPMRepoDir(t)
	must(t, err)
	must(t, exec.Command("cp", "-a", repo+"/.", filepath.Join(root, testhost.GuestRPMRepo)+"/").Run())
	mod, err := testhost.ModuleRoot()
	must(t, err)
	prep := filepath.Join(t.TempDir(), "prep.yml")
	must(t, os.WriteFile(prep, []byte(rpmPrep), 0o644))

	before := snapMachine(t)
	for _, book := range []string{prep, filepath.Join(mod, "examples", "rootless-podman.yml")} {
		evs, code, stderr := chrootApply(t, root, book)
		if failed := testhost.TaskResults(evs, report.StatusFailed); code != 0 || len(failed) > 0 {
			t.Fatalf("apply --chroot %s: exit %d\n%s\n%s", filepath.Base(book), code, describeResults(failed), stderr)
		}
	}
	evs, code, stderr := chrootApply(t, root, filepath.Join(mod, "examples", "rootless-podman.yml"), "--check")
	if pending := testhost.TaskResults(evs, report.StatusChanged); code != 0 || len(pending) > 0 {
		t.Errorf("check --chroot after the build: exit %d\n%s\n%s", code, describeResults(pending), stderr)
	}
	before.expectSame(t, snapMachine(t), map[string]bool{"podman": true, "shadow-utils": true, "fuse-overlayfs": true})
	expectNoTrace(t, root)
	if passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); !strings.Contains(string(passwd), "\nalice:") {
		t.Errorf("alice is not in the image's /etc/passwd")
	}
}

// TestImageNspawnInside builds the Debian image from inside: provision
// apply run by `systemd-nspawn -D ROOT` without boot detects the build
// (container=systemd-nspawn, no systemd running), says so, and applies the
// example with the image's apt; a second run from inside changes nothing.
func TestImageNspawnInside(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	root := testhost.ImageTree(t, testhost.Debian)
	mod, err := testhost.ModuleRoot()
	must(t, err)
	nspawn := func(args ...string) ([]report.Event, int) {
		argv := []string{"-q", "--pipe", "-D", root, "--register=no", "--keep-unit",
			"--bind-ro=" + testhost.BuildProvision(t) + ":/usr/local/bin/provision",
			"--bind-ro=" + filepath.Join(mod, "examples") + ":/srv/site",
			"--bind-ro=" + testhost.DebRepo(t) + ":" + testhost.GuestDebRepo,
			"/usr/local/bin/provision"}
		cmd := exec.Command("systemd-nspawn", append(argv, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		start := time.Now()
		out, _ := cmd.Output()
		t.Logf("stage: systemd-nspawn -D ROOT provision %s: %.2fs, exit %d", strings.Join(args, " "), time.Since(start).Seconds(), cmd.ProcessState.ExitCode())
		evs, err := testhost.ParseEvents(string(out))
		if err != nil {
			t.Fatalf("bad JSON events: %v\n%s\n%s", err, out, stderr.String())
		}
		if !strings.Contains(stderr.String(), "image mode: container=systemd-nspawn") {
			t.Errorf("stderr does not say why this is an image build:\n%s", stderr.String())
		}
		return evs, cmd.ProcessState.ExitCode()
	}
	before, imageBefore := snapMachine(t), dpkgPackages(t, root)
	evs, code := nspawn("apply", "--output", "json", "/srv/site/rootless-podman.yml")
	if failed := testhost.TaskResults(evs, report.StatusFailed); code != 0 || len(failed) > 0 {
		t.Fatalf("apply from inside: exit %d\n%s", code, describeResults(failed))
	}
	if len(evs) == 0 || !evs[0].Image {
		t.Errorf("play_start does not say image: %+v", evs[:min(1, len(evs))])
	}
	evs, code = nspawn("apply", "--output", "json", "/srv/site/rootless-podman.yml")
	if changed := testhost.TaskResults(evs, report.StatusChanged); code != 0 || len(changed) > 0 {
		t.Errorf("second apply from inside: exit %d\n%s", code, describeResults(changed))
	}
	before.expectSame(t, snapMachine(t), builtPackages(t, imageBefore, dpkgPackages(t, root)))
}
