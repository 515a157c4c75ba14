//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/provision-tool/provision/testhost"
)

// exampleCase is one example playbook and the host kinds it applies to.
type exampleCase struct {
	file  string
	kinds []testhost.Kind
	// prepare, when set, readies a freshly booted host of a kind (before
	// the fresh-host check).
	prepare func(t *testing.T, h *testhost.Host)
	// cannot, when set, probes a booted host and returns why the example
	// cannot run there ("" when it can), after asserting what provision
	// does on such a host; the test then ends there, logging the reason.
	// Another test must apply the example for real.
	cannot func(t *testing.T, st *stageLog, h *testhost.Host, book string) string
	// verify checks the converged host.
	verify func(t *testing.T, h *testhost.Host)
}

// exampleCases lists every example playbook. rootless-podman.yml has tests
// of its own on the kinds where rootless podman runs (podmanKinds):
// TestRootlessPodman (the same lifecycle, drift and real rootless
// containers) and TestPodmanMigrate; here it runs on DNF5 (see podmanKinds
// for why not there).
var exampleCases = []exampleCase{
	{file: "rootless-podman.yml", kinds: []testhost.Kind{testhost.DNF5}, prepare: baseImage, verify: verifyRootless},
	{file: "users.yml", kinds: []testhost.Kind{testhost.Debian, testhost.Fedora}, verify: verifyUsers},
	{file: "files.yml", kinds: []testhost.Kind{testhost.Debian, testhost.Fedora}, verify: verifyFiles},
	{file: "command.yml", kinds: []testhost.Kind{testhost.Debian, testhost.Fedora}, verify: verifyCommand},
	{file: "registries.yml", kinds: []testhost.Kind{testhost.Debian, testhost.Fedora}, verify: verifyRegistries},
	{file: "storage.yml", kinds: []testhost.Kind{testhost.Debian, testhost.Fedora}, verify: verifyStorage},
	{file: "package.yml", kinds: []testhost.Kind{testhost.Debian, testhost.Trixie, testhost.Fedora, testhost.DNF5, testhost.Yum}, verify: verifyPackages},
	{file: "sysctl.yml", kinds: []testhost.Kind{testhost.Debian, testhost.Fedora}, cannot: sysctlReadOnly, verify: verifySysctl},
}

// TestExamplesCovered keeps the table honest: every examples/*.yml is in
// exampleCases.
func TestExamplesCovered(t *testing.T) {
	root, err := testhost.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "examples", "*.yml"))
	if len(files) == 0 {
		t.Fatal("no examples/*.yml")
	}
	for _, f := range files {
		name := filepath.Base(f)
		if !slices.ContainsFunc(exampleCases, func(c exampleCase) bool { return c.file == name }) {
			t.Errorf("examples/%s is not in exampleCases (e2e/examples_test.go): add it with the host kinds it applies to", name)
		}
	}
}

// TestExamples runs each example playbook on each host kind it applies to,
// with the provision binary copied onto the host and run there: check on a
// fresh host (exit 2, disk unchanged), apply (changes, exit 0), apply again
// (nothing changed, /etc unchanged), check (exit 0, disk unchanged).
func TestExamples(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	for _, c := range exampleCases {
		for _, kind := range c.kinds {
			t.Run(strings.TrimSuffix(c.file, ".yml")+"/"+string(kind), func(t *testing.T) {
				t.Parallel()
				st := newStageLog(t)
				h := testhost.Boot(t, kind, testhost.Options{})
				h.InstallProvision(t)
				book := installExample(t, h, c.file)
				if c.prepare != nil {
					c.prepare(t, h)
				}
				if c.cannot != nil {
					// The case proved what the host does instead; where the
					// example is applied for real is the case's to say.
					if why := c.cannot(t, st, h, book); why != "" {
						t.Logf("%s on %s is not applied here: %s", c.file, kind, why)
						return
					}
				}
				if !checkFresh(t, st, h, book) {
					return
				}
				if !converge(t, st, h, book) {
					return
				}
				if c.verify != nil {
					t.Run("result", func(t *testing.T) { c.verify(t, h) })
				}
			})
		}
	}
}

// checkFresh runs provision check on a host the playbook has not touched:
// exit 2 with changes pending, and the disk byte for byte unchanged.
func checkFresh(t *testing.T, st *stageLog, h *testhost.Host, book string, args ...string) bool {
	return t.Run("check on a fresh host", func(t *testing.T) {
		etc, disk := etcSnapshot(t, h), strictDiskSnapshot(t, h)
		r := runBook(t, st, h, 2, "check (fresh host) "+filepath.Base(book), append([]string{"check", book}, args...)...)
		pending := r.results(statusIs("changed"))
		if len(pending) == 0 {
			r.errorf(t, "check on a fresh host: exit 2 but no task has changes pending")
		}
		for _, e := range pending {
			if !e.Check {
				r.errorf(t, "%s: status changed in check mode without check:true", resultKey(e))
			}
		}
		expectSameTree(t, r, "check on a fresh host: /etc", etc, etcSnapshot(t, h))
		expectSameTree(t, r, "check on a fresh host: disk", disk, strictDiskSnapshot(t, h), rpmdbShm...)
	})
}

// converge applies the playbook twice and checks it once more: the first
// run changes things, the second and the check change nothing, and /etc
// (hashes and mtimes) and the whole disk stay exactly as the first run
// left them.
func converge(t *testing.T, st *stageLog, h *testhost.Host, book string, args ...string) bool {
	name := filepath.Base(book)
	if !t.Run("first apply", func(t *testing.T) {
		r := runBook(t, st, h, 0, "apply (first) "+name, append([]string{"apply", book}, args...)...)
		if len(r.results(statusIs("changed"))) == 0 {
			r.errorf(t, "first apply changed nothing:\n%s", describeResults(r.results()))
		}
	}) {
		return false
	}
	ok := t.Run("second apply", func(t *testing.T) {
		etc, disk := etcSnapshot(t, h), diskSnapshot(t, h)
		r := runBook(t, st, h, 0, "apply (second) "+name, append([]string{"apply", book}, args...)...)
		if ch := r.results(statusIs("changed")); len(ch) > 0 {
			r.errorf(t, "second apply changed %d task(s):\n%s", len(ch), describeResults(ch))
		}
		expectSameTree(t, r, "second apply: /etc", etc, etcSnapshot(t, h))
		expectSameTree(t, r, "second apply: disk", disk, diskSnapshot(t, h))
	})
	return t.Run("check on a converged host", func(t *testing.T) {
		etc, disk := etcSnapshot(t, h), strictDiskSnapshot(t, h)
		r := runBook(t, st, h, 0, "check (converged) "+name, append([]string{"check", book}, args...)...)
		if ch := r.results(statusIs("changed")); len(ch) > 0 {
			r.errorf(t, "check on a converged host: %d task(s) pending:\n%s", len(ch), describeResults(ch))
		}
		expectSameTree(t, r, "check on a converged host: /etc", etc, etcSnapshot(t, h))
		expectSameTree(t, r, "check on a converged host: disk", disk, strictDiskSnapshot(t, h), rpmdbShm...)
	}) && ok
}

// sysctlReadOnly says why sysctl.yml cannot run in an nspawn guest (it is
// applied for real by TestSysctlExample, in namespaces of its own):
// nspawn mounts /proc/sys read-only except /proc/sys/net, so
// user.max_user_namespaces cannot be set. It also proves that provision
// says so already in check mode (exit 1, the task failed with the reason)
// and changes nothing.
func sysctlReadOnly(t *testing.T, st *stageLog, h *testhost.Host, book string) string {
	r := h.SSHExpect(t, "root", 0, "if [ -w /proc/sys/user/max_user_namespaces ]; then echo writable; else echo read-only; fi; grep ' /proc/sys ' /proc/self/mountinfo | head -1")
	if strings.HasPrefix(r.Stdout, "writable") {
		return ""
	}
	before := strictDiskSnapshot(t, h)
	c := runBook(t, st, h, 1, "check (read-only /proc/sys) "+filepath.Base(book), "check", book)
	e := c.find(t, "user namespaces enabled (RHEL 7 ships 0)", nil)
	if e.Status != "failed" || !strings.Contains(e.Error, "cannot set the running value") {
		c.errorf(t, "check with a read-only /proc/sys/user: %s %q, want failed: cannot set the running value", e.Status, e.Error)
	}
	expectSameTree(t, c, "a failed check", before, strictDiskSnapshot(t, h), rpmdbShm...)
	return "the guest's /proc/sys is read-only outside /proc/sys/net (systemd-nspawn), so user.max_user_namespaces cannot be set (provision check says so: " + e.Error + "); mount: " + strings.TrimSpace(strings.SplitN(r.Stdout, "\n", 2)[1])
}

func verifySysctl(t *testing.T, h *testhost.Host) {
	if got := h.SSH(t, "sysctl -n user.max_user_namespaces net.ipv4.ip_unprivileged_port_start"); got != "28633\n80" {
		t.Errorf("sysctl values: %q", got)
	}
	if got := guestRead(t, h, "/etc/sysctl.d/90-provision.conf"); !strings.Contains(got, "net.ipv4.ping_group_range") {
		t.Errorf("/etc/sysctl.d/90-provision.conf:\n%s", got)
	}
}

// subidLines returns the user's lines in a subid file.
func subidLines(t *testing.T, h *testhost.Host, file, user string) []string {
	var out []string
	for _, l := range strings.Split(guestRead(t, h, file), "\n") {
		if strings.HasPrefix(l, user+":") {
			out = append(out, l)
		}
	}
	return out
}

// verifyUsersAndRanges checks that each user exists with /bin/bash and
// has one range of 65536 IDs in each file, and that the ranges are
// disjoint.
func verifyUsersAndRanges(t *testing.T, h *testhost.Host, users ...string) {
	for _, u := range users {
		if got := h.SSH(t, "getent passwd "+u+" | cut -d: -f7"); got != "/bin/bash" {
			t.Errorf("%s's shell: %q", u, got)
		}
	}
	for _, file := range []string{"/etc/subuid", "/etc/subgid"} {
		type rng struct{ start, count int64 }
		var rs []rng
		for _, u := range users {
			lines := subidLines(t, h, file, u)
			if len(lines) != 1 {
				t.Errorf("%s: %s has %d lines, want 1: %q", file, u, len(lines), lines)
				continue
			}
			var r rng
			if _, err := fmt.Sscanf(strings.TrimPrefix(lines[0], u+":"), "%d:%d", &r.start, &r.count); err != nil || r.count != 65536 {
				t.Errorf("%s: %q (%v), want %s:START:65536", file, lines[0], err, u)
			}
			rs = append(rs, r)
		}
		for i := range rs {
			for j := i + 1; j < len(rs); j++ {
				if rs[i].start < rs[j].start+rs[j].count && rs[j].start < rs[i].start+rs[i].count {
					t.Errorf("%s: ranges of %s and %s overlap: %v %v", file, users[i], users[j], rs[i], rs[j])
				}
			}
		}
	}
}

func verifyUsers(t *testing.T, h *testhost.Host) { verifyUsersAndRanges(t, h, "alice", "bob") }

func verifyFiles(t *testing.T, h *testhost.Host) {
	got := h.SSH(t, "cd /srv/provision-demo && stat -c '%n %a %U %F' releases/1 private releases/1/index.html site.conf private/token && readlink current && cat releases/1/index.html && test ! -e old.conf && echo no-old-conf")
	want := strings.Join([]string{
		"releases/1 755 root directory",
		"private 700 root directory",
		"releases/1/index.html 644 root regular file",
		"site.conf 640 root regular file",
		"private/token 600 root regular file",
		"releases/1",
		"<h1>hello from demo</h1>",
		"no-old-conf",
	}, "\n")
	if got != want {
		t.Errorf("the demo site:\n%s\nwant:\n%s", got, want)
	}
	if got := guestRead(t, h, "/srv/provision-demo/site.conf"); got != "# managed by provision\nsite = \"demo\"\nlisten = \":8080\"\n" {
		t.Errorf("site.conf: %q", got)
	}
}

func verifyCommand(t *testing.T, h *testhost.Host) {
	dir := "/var/tmp/provision-command-demo"
	if got, want := guestRead(t, h, dir+"/os-release"), guestRead(t, h, "/etc/os-release"); got != want {
		t.Errorf("%s/os-release differs from /etc/os-release", dir)
	}
	if got := guestRead(t, h, dir+"/settings"); got != "greeting=hello\n" {
		t.Errorf("%s/settings after two applies: %q, want one greeting line", dir, got)
	}
	if got := strings.TrimSpace(guestRead(t, h, dir+"/inventory-count")); got == "" || got == "0" {
		t.Errorf("%s/inventory-count: %q", dir, got)
	}
}

func verifyRegistries(t *testing.T, h *testhost.Host) {
	got := guestRead(t, h, "/etc/containers/registries.conf.d/50-provision.conf")
	for _, s := range []string{`unqualified-search-registries = ["docker.io", "quay.io"]`, `short-name-mode = "permissive"`, "mirror.gcr.io", "registry.internal.example.com:5000", `"*.untrusted.example.com"`, "docker.io/library/alpine"} {
		if !strings.Contains(got, s) {
			t.Errorf("the registries drop-in lacks %s:\n%s", s, got)
		}
	}
}

func verifyStorage(t *testing.T, h *testhost.Host) {
	got := guestRead(t, h, "/etc/containers/storage.conf")
	for _, s := range []string{`driver = "overlay"`, `mountopt = "nodev"`} {
		if !strings.Contains(got, s) {
			t.Errorf("storage.conf lacks %s:\n%s", s, got)
		}
	}
}

func verifyPackages(t *testing.T, h *testhost.Host) {
	if h.Kind == testhost.Debian || h.Kind == testhost.Trixie {
		got := h.SSH(t, "dpkg-query -W -f='${Package} ${Status}\\n' podman uidmap slirp4netns dbus-user-session containers-storage")
		for _, l := range strings.Split(got, "\n") {
			if !strings.HasSuffix(l, "install ok installed") {
				t.Errorf("dpkg-query: %q", l)
			}
		}
		return
	}
	if got := h.SSH(t, "rpm -q --qf '%{NAME}\\n' podman shadow-utils fuse-overlayfs"); got != "podman\nshadow-utils\nfuse-overlayfs" {
		t.Errorf("rpm -q: %q", got)
	}
	if got := h.SSH(t, "rpm -q docker-ce moby-engine || true"); got != "package docker-ce is not installed\npackage moby-engine is not installed" {
		t.Errorf("rpm -q docker-ce moby-engine: %q", got)
	}
}

// verifyRootless checks a host rootless-podman.yml converged: packages
// (on the RPM hosts: the example's Debian list is not package.yml's),
// users and disjoint ranges, the registries drop-in and overlay storage.
func verifyRootless(t *testing.T, h *testhost.Host) {
	if !aptHost(h) {
		verifyPackages(t, h)
	}
	verifyUsersAndRanges(t, h, "alice", "bob")
	verifyRegistriesShort(t, h)
	// Debian 13's default (/usr/share/containers/storage.conf) already
	// says overlay, so the example writes no /etc/containers/storage.conf.
	conf := "/etc/containers/storage.conf"
	if h.SSH(t, "test -e "+conf+" && echo yes || echo no") == "no" {
		conf = "/usr/share/containers/storage.conf"
	}
	if got := guestRead(t, h, conf); !strings.Contains(got, `driver = "overlay"`) {
		t.Errorf("%s:\n%s", conf, got)
	}
}

func verifyRegistriesShort(t *testing.T, h *testhost.Host) {
	got := guestRead(t, h, "/etc/containers/registries.conf.d/50-provision.conf")
	if !strings.Contains(got, `unqualified-search-registries = ["docker.io", "quay.io"]`) || !strings.Contains(got, `short-name-mode = "permissive"`) {
		t.Errorf("the registries drop-in:\n%s", got)
	}
}
