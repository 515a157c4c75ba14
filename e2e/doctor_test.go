//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/provision-tool/provision/doctor"
	"github.com/provision-tool/provision/testhost"
)

// The users of the doctor test: alice has no subuid line, bob and carol
// overlap, dave's storage remembers vfs, svc is a service user (a Quadlet
// file) without linger.
var doctorUsers = []string{"alice", "bob", "carol", "dave", "svc"}

// Broken files of the doctor test.
const (
	brokenSubuid = "bob:200000:65536\ncarol:230000:65536\ndave:300000:65536\nsvc:400000:65536\n"
	brokenSubgid = "alice:100000:65536\n" + brokenSubuid
	// A v2 key before a v1 table: podman refuses the file.
	brokenRegistries = `unqualified-search-registries = ["quay.io"]

[registries.search]
registries = ["docker.io"]
`
	svcQuadlet = "/home/svc/.config/containers/systemd/app.container"
)

// doctorFixBook does what the doctor names as fixes that the example
// playbook does not: podman not setuid, newuidmap setuid root again,
// registries.conf without its v1 table (before the example's registries
// task, which refuses a main file that mixes v1 and v2; that task's
// drop-in then holds the v1 table's docker.io, as the doctor's second fix
// says), and linger for the service user.
const doctorFixBook = `- name: what the doctor names beyond the example playbook
  hosts: all
  tasks:
    - name: podman is not setuid
      file:
        path: /usr/bin/podman
        mode: "0755"
    - name: newuidmap is setuid root
      file:
        path: /usr/bin/newuidmap
        mode: "4755"
    - name: registries.conf without its v1 table
      copy:
        dest: /etc/containers/registries.conf
        content: |
          unqualified-search-registries = ["quay.io"]
        mode: "0644"
    - name: the service user's containers outlive its sessions
      linger:
        user: svc
`

// doctorRun is one `provision doctor` run as root over SSH, in both
// output formats.
type doctorRun struct {
	rep       doctor.Report
	human     string
	jsonCode  int
	humanCode int
}

// runDoctor runs `provision doctor --output json` and `provision doctor`
// on h as root and decodes the report.
func runDoctor(t *testing.T, h *testhost.Host, label string) doctorRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var d doctorRun
	start := time.Now()
	r, err := h.Exec(ctx, "root", testhost.GuestProvisionPath+" doctor --output json", nil)
	if err != nil {
		t.Fatalf("%s", h.Failure(r, "doctor --output json", err))
	}
	t.Logf("doctor %s: --output json exit %d in %.2fs", label, r.Code, time.Since(start).Seconds())
	d.jsonCode = r.Code
	if err := json.Unmarshal([]byte(r.Stdout), &d.rep); err != nil {
		t.Fatalf("%s", h.Failure(r, "doctor JSON does not decode", err))
	}
	var exit struct {
		Exit    int                   `json:"exit"`
		Summary map[doctor.Status]int `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &exit); err != nil || exit.Exit != r.Code || fmt.Sprint(exit.Summary) != fmt.Sprint(d.rep.Counts()) {
		t.Errorf("doctor %s: JSON exit %d and summary %v (%v); process exit %d, counts %v", label, exit.Exit, exit.Summary, err, r.Code, d.rep.Counts())
	}
	start = time.Now()
	hr, err := h.Exec(ctx, "root", testhost.GuestProvisionPath+" doctor", nil)
	if err != nil {
		t.Fatalf("%s", h.Failure(hr, "doctor", err))
	}
	t.Logf("doctor %s: human output, exit %d in %.2fs:\n%s%s", label, hr.Code, time.Since(start).Seconds(), hr.Stdout, hr.Stderr)
	d.human, d.humanCode = hr.Stdout, hr.Code
	c := d.rep.Counts()
	summary := fmt.Sprintf("\n%d checks: %d pass, %d warn, %d fail, %d skip\n", len(d.rep.Results), c[doctor.Pass], c[doctor.Warn], c[doctor.Fail], c[doctor.Skip])
	if !strings.HasSuffix(d.human, summary) {
		t.Errorf("doctor %s: the human output does not end with the JSON run's counts %q", label, summary)
	}
	if strings.Contains(d.human, "\x1b[") {
		t.Errorf("doctor %s: colour codes in output that is not a terminal", label)
	}
	return d
}

// doctorResultName names a result: "12 storage_driver dave" or "2 podman_not_setuid (host)".
func doctorResultName(r doctor.Result) string {
	who := r.User
	if who == "" {
		who = "(host)"
	}
	return fmt.Sprintf("%d %s %s", r.ID, r.Name, who)
}

// withStatus lists the results with status s, by doctorResultName, sorted.
func (d doctorRun) withStatus(s doctor.Status) []string {
	var out []string
	for _, r := range d.rep.Results {
		if r.Status == s {
			out = append(out, doctorResultName(r))
		}
	}
	sort.Strings(out)
	return out
}

// result returns the result of check id for user ("" = host), failing the
// test when there is none.
func (d doctorRun) result(t *testing.T, id int, user string) doctor.Result {
	t.Helper()
	for _, r := range d.rep.Results {
		if r.ID == id && r.User == user {
			return r
		}
	}
	t.Fatalf("doctor report has no result of check %d for %q", id, user)
	return doctor.Result{}
}

// describeDoctorResult renders a result for a failure message.
func describeDoctorResult(r doctor.Result) string {
	b, _ := json.MarshalIndent(r, "    ", "  ")
	return "    " + string(b)
}

// hasDoctorFix reports whether r names a fix that matches.
func hasDoctorFix(r doctor.Result, match func(f doctor.Fix) bool) bool {
	return slices.ContainsFunc(r.Fix, match)
}

// doctorTaskFix matches a task fix of module with (at least) args.
func doctorTaskFix(module string, args map[string]any) func(f doctor.Fix) bool {
	return func(f doctor.Fix) bool {
		if f.Module != module {
			return false
		}
		for k, v := range args {
			if fmt.Sprint(f.Args[k]) != fmt.Sprint(v) {
				return false
			}
		}
		return true
	}
}

// doctorCommandFix matches a command fix run as user ("" = root).
func doctorCommandFix(cmd, user string) func(f doctor.Fix) bool {
	return func(f doctor.Fix) bool { return f.Command == cmd && f.AsUser == user }
}

// keepDoctorOutput writes a doctor output to path when PROVISION_E2E_KEEP_OUTPUT=1.
func keepDoctorOutput(t *testing.T, path, out string) {
	if os.Getenv("PROVISION_E2E_KEEP_OUTPUT") != "1" {
		return
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Errorf("keep doctor output: %v", err)
		return
	}
	t.Logf("doctor output written to %s", path)
}

// doctorBreakHost installs the real podman and then builds, by hand, each
// problem the doctor must name.
func doctorBreakHost(t *testing.T, h *testhost.Host) {
	h.SSH(t, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman uidmap fuse-overlayfs >/dev/null")
	for _, u := range doctorUsers {
		h.SSH(t, "useradd -m -s /bin/bash "+u)
	}
	if err := h.WriteFile("/etc/subuid", []byte(brokenSubuid), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.WriteFile("/etc/subgid", []byte(brokenSubgid), 0o644); err != nil {
		t.Fatal(err)
	}

	// dave's first run picks vfs (as a run before fuse-overlayfs or a
	// storage.conf would), and podman keeps it afterwards.
	h.AuthorizeUser(t, "dave")
	h.SSHAs(t, "dave", "podman --storage-driver vfs info --format '{{.Store.GraphDriverName}}'")
	if got := h.SSHAs(t, "dave", "podman info --format '{{.Store.GraphDriverName}}' 2>/dev/null"); got != "vfs" {
		t.Fatalf("dave's podman after a vfs run reports driver %q, want vfs (remembered)", got)
	}
	h.SSH(t, "test -d /home/dave/.local/share/containers/storage/vfs-images")

	// svc runs a container from a Quadlet file: a service user.
	h.SSH(t, "install -d -o svc -g svc /home/svc/.config /home/svc/.config/containers /home/svc/.config/containers/systemd")
	if err := h.WriteFile(svcQuadlet, []byte("[Container]\nImage=localhost/app\n[Install]\nWantedBy=default.target\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.SSH(t, "chown svc:svc "+svcQuadlet+" && test ! -e /var/lib/systemd/linger/svc")

	if err := h.WriteFile("/etc/containers/registries.conf", []byte(brokenRegistries), 0o644); err != nil {
		t.Fatal(err)
	}
	h.SSH(t, "chmod u+s /usr/bin/podman && chmod u-s /usr/bin/newuidmap")
	t.Logf("broken host:\n%s", h.SSH(t, "stat -c '%a %U %n' /usr/bin/podman /usr/bin/newuidmap /usr/bin/newgidmap; head -50 /etc/subuid /etc/subgid /etc/containers/registries.conf; ls /var/lib/systemd/linger 2>&1; ls /etc/containers /usr/share/containers 2>&1; dpkg-query -W -f='${Package} ${Version}\\n' podman netavark containernetworking-plugins containers-storage slirp4netns 2>&1"))
}

// TestDoctorBrokenHostThenFixed: on a booted Debian host with the real
// podman, a host broken by hand in the ways of issue 5 (no subuid line,
// overlapping ranges, a setuid podman, vfs remembered, a v1/v2 registries
// mix, no linger for a service user, newuidmap without privilege) is
// reported by `provision doctor` with each problem under its check, the
// symptom users would see and the fix; doctor changes nothing. Applying
// what it names (a small playbook for the modes, registries.conf and
// linger, then examples/rootless-podman.yml for all the users) and the
// `podman system reset` it recommends leaves no failure, only the
// warnings this test host cannot avoid.
//
// It runs on each Debian kind with the real podman (podmanKinds); on
// Debian 13 (podman 5) the fixed host is then broken in the network ways of
// checks 18 and 19 (testPodman5Network).
func TestDoctorBrokenHostThenFixed(t *testing.T) {
	testhost.Require(t)
	for _, kind := range podmanKinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			testDoctorBrokenHostThenFixed(t, kind)
		})
	}
}

func testDoctorBrokenHostThenFixed(t *testing.T, kind testhost.Kind) {
	st := newStageLog(t)
	h := testhost.Boot(t, kind, testhost.Options{})
	h.InstallProvision(t)
	doctorBreakHost(t, h)

	before := runDoctor(t, h, "on the broken host")
	keepDoctorOutput(t, "/tmp/doctor-before.txt", before.human)
	t.Logf("doctor before: fail %q; warn %q; skip %q", before.withStatus(doctor.Fail), before.withStatus(doctor.Warn), before.withStatus(doctor.Skip))
	if before.jsonCode != 1 || before.humanCode != 1 {
		t.Errorf("doctor on the broken host: exit %d (json) and %d (human), want 1", before.jsonCode, before.humanCode)
	}
	got := slices.Clone(before.rep.Users)
	sort.Strings(got)
	if !slices.Equal(got, doctorUsers) {
		t.Errorf("doctor checked users %q, want every owner of a subordinate range: %q", before.rep.Users, doctorUsers)
	}

	// Each problem under its check, with the fix the doctor names.
	type want struct {
		id      int
		user    string
		status  doctor.Status
		found   []string
		symptom []string
		fix     func(doctor.Fix) bool
	}
	wants := []want{
		{2, "", doctor.Fail, []string{"/usr/bin/podman is setuid"}, []string{"every user can act as root"},
			doctorCommandFix("chmod u-s /usr/bin/podman", "")},
		{4, "", doctor.Fail, []string{"/usr/bin/newuidmap is neither setuid root"},
			[]string{`cannot set up namespace using "/usr/bin/newuidmap": should have setuid or have filecaps setuid`},
			doctorCommandFix("setcap cap_setuid=ep /usr/bin/newuidmap", "")},
		{7, "alice", doctor.Fail, []string{"/etc/subuid has no range for alice"},
			[]string{`no subuid ranges found for user "alice" in /etc/subuid`},
			doctorTaskFix("subid", map[string]any{"user": "alice"})},
		{8, "", doctor.Fail, []string{"carol 230000:65536", "overlaps bob 200000:65536"}, nil,
			doctorTaskFix("subid", map[string]any{"user": "carol"})},
		{10, "svc", doctor.Fail, []string{"linger is off", svcQuadlet}, []string{"containers die at logout"},
			doctorTaskFix("linger", map[string]any{"user": "svc"})},
		// podman is setuid: doctor does not run it as dave (it would be
		// rootful) and finds vfs on disk.
		{12, "dave", doctor.Fail, []string{"/usr/bin/podman is setuid root (check 2)",
			"/home/dave/.local/share/containers/storage/vfs-images exists: vfs is remembered"},
			[]string{"vfs: very slow"}, doctorCommandFix("podman system reset", "dave")},
		{15, "", doctor.Fail, []string{`podman info as root exited 125: Error: getting registries: loading registries configuration "/etc/containers/registries.conf": mixing sysregistry v1/v2 is not supported`},
			[]string{"mixing sysregistry v1/v2 is not supported"},
			func(f doctor.Fix) bool { return strings.HasPrefix(f.Note, "delete the v1 tables") }},
		{15, "", doctor.Fail, nil, nil, doctorTaskFix("registries", map[string]any{"unqualified_search_registries": []string{"docker.io"}})},
	}
	for _, u := range doctorUsers {
		wants = append(wants, want{15, u, doctor.Fail, []string{"checked the registries and storage files only", "mixing sysregistry v1/v2 is not supported"}, nil, nil})
	}
	for _, w := range wants {
		r := before.result(t, w.id, w.user)
		ok := r.Status == w.status
		for _, s := range w.found {
			ok = ok && strings.Contains(r.Found, s)
		}
		for _, s := range w.symptom {
			ok = ok && strings.Contains(r.Symptom, s)
		}
		ok = ok && (w.fix == nil || hasDoctorFix(r, w.fix))
		if !ok {
			t.Errorf("check %d (%s) for %q: want %s, found containing %q, symptom containing %q and the right fix; got\n%s",
				w.id, r.Name, w.user, w.status, w.found, w.symptom, describeDoctorResult(r))
		}
	}
	// The exact symptom texts of domain.md §8, in the human output.
	for _, s := range []string{
		`no subuid ranges found for user "alice" in /etc/subuid`,
		"/usr/bin/podman is setuid",
		`should have setuid or have filecaps setuid`,
		`mixing sysregistry v1/v2 is not supported`,
		"vfs-images exists: vfs is remembered from an earlier run",
		"as dave: podman system reset",
	} {
		if !strings.Contains(before.human, s) {
			t.Errorf("doctor's human output lacks %q", s)
		}
	}
	// Nothing else fails: every failure is one of the problems above.
	wantFails := []string{"2 podman_not_setuid (host)", "4 newuidmap_privileged (host)", "7 subid_ranges alice",
		"8 subid_overlaps (host)", "10 session svc", "12 storage_driver dave", "15 config_parse (host)"}
	for _, u := range doctorUsers {
		wantFails = append(wantFails, "15 config_parse "+u)
	}
	sort.Strings(wantFails)
	if got := before.withStatus(doctor.Fail); !slices.Equal(got, wantFails) {
		t.Errorf("doctor on the broken host fails\n  %q\nwant exactly\n  %q", got, wantFails)
	}
	// Doctor recommends the reset and never runs it, and it does not run
	// podman for the first time as a user while the first run could pick
	// vfs: no storage appeared.
	h.SSH(t, "test -d /home/dave/.local/share/containers/storage/vfs-images")
	h.SSH(t, "for u in alice bob carol svc; do test ! -e /home/$u/.local/share/containers || { echo $u; exit 1; }; done")

	// Fix what the doctor named.
	if err := h.WriteFile("/root/doctor-fix.yml", []byte(doctorFixBook), 0o644); err != nil {
		t.Fatal(err)
	}
	runBook(t, st, h, 0, "apply doctor-fix.yml", "apply", "/root/doctor-fix.yml")
	book := installExample(t, h, rootlessBook)
	users, _ := json.Marshal(map[string]any{"podman_users": doctorUsers})
	runBook(t, st, h, 0, "apply rootless-podman.yml (all users)", "apply", book, "-e", string(users))
	h.SSHAs(t, "dave", "podman system reset -f")
	// The host is unchanged from here on: dave's login has ended, and so
	// has his session (logind stops it, and removes /run/user/1003, some
	// seconds after the logout; a doctor run meanwhile would see it go).
	endSessions(t, h, "dave")
	t.Logf("fixed host:\n%s", h.SSH(t, "stat -c '%a %U %n' /usr/bin/podman /usr/bin/newuidmap /usr/bin/newgidmap; head -50 /etc/subuid /etc/subgid /etc/containers/registries.conf /etc/containers/storage.conf; ls /var/lib/systemd/linger"))

	after := runDoctor(t, h, "after the fixes")
	keepDoctorOutput(t, "/tmp/doctor-after.txt", after.human)
	t.Logf("doctor after: fail %q; warn %q; skip %q", after.withStatus(doctor.Fail), after.withStatus(doctor.Warn), after.withStatus(doctor.Skip))
	if fails := after.withStatus(doctor.Fail); len(fails) > 0 {
		t.Errorf("doctor after the fixes: %d failures: %q", len(fails), fails)
	}
	if after.jsonCode != 0 && after.jsonCode != 2 || after.humanCode != after.jsonCode {
		t.Errorf("doctor after the fixes: exit %d (json) and %d (human), want 0 or 2", after.jsonCode, after.humanCode)
	}
	// Back to back on an unchanged host, the doctor says the same thing:
	// users without a session (dave logged in earlier, the others never)
	// get a runtime dir of the doctor's, gone again afterwards.
	again := runDoctor(t, h, "once more")
	for _, st := range []doctor.Status{doctor.Pass, doctor.Warn, doctor.Fail, doctor.Skip} {
		if a, b := after.withStatus(st), again.withStatus(st); !slices.Equal(a, b) {
			t.Errorf("two doctor runs back to back differ in %s:\n  %q\n  %q", st, a, b)
		}
	}
	if left := h.SSH(t, "ls -d /tmp/provision-doctor-* 2>/dev/null || true"); left != "" {
		t.Errorf("the doctor left its runtime dirs behind: %s", left)
	}
	// What this test host cannot avoid: its cgroup hierarchy is v1
	// (hybrid; systemd-nspawn on a host without the unified hierarchy),
	// and users who run no services and are not logged in have no linger
	// (a warning by design: only service users need it). The smoke test
	// runs only with --smoke. Everything else passes.
	var wantWarns, wantSkips []string
	for _, u := range doctorUsers {
		if u != "svc" {
			wantWarns = append(wantWarns, "10 session "+u)
		}
		wantWarns = append(wantWarns, "11 cgroups "+u)
		wantSkips = append(wantSkips, "20 smoke_test "+u)
	}
	sort.Strings(wantWarns)
	sort.Strings(wantSkips)
	if got := after.withStatus(doctor.Warn); !slices.Equal(got, wantWarns) {
		t.Errorf("doctor after the fixes warns\n  %q\nwant exactly\n  %q", got, wantWarns)
	}
	if got := after.withStatus(doctor.Skip); !slices.Equal(got, wantSkips) {
		t.Errorf("doctor after the fixes skips\n  %q\nwant exactly\n  %q", got, wantSkips)
	}
	for _, u := range doctorUsers {
		if r := after.result(t, 10, u); u != "svc" && !strings.HasPrefix(r.Found, "linger is off (/var/lib/systemd/linger/"+u+" is missing): containers die at logout") {
			t.Errorf("check 10 for %s after the fixes warns for another reason:\n%s", u, describeDoctorResult(r))
		}
		if r := after.result(t, 11, u); !strings.HasPrefix(r.Found, "cgroup v1 (hybrid or legacy hierarchy)") {
			t.Errorf("check 11 for %s after the fixes warns for another reason:\n%s", u, describeDoctorResult(r))
		}
	}
	if r := after.result(t, 12, "dave"); r.Status != doctor.Pass || r.Found != "driver overlay (graphroot /home/dave/.local/share/containers/storage)" {
		t.Errorf("dave's storage after the fixes and the reset:\n%s", describeDoctorResult(r))
	}
	if r := after.result(t, 10, "svc"); r.Status != doctor.Pass || !strings.HasPrefix(r.Found, "linger is enabled") {
		t.Errorf("svc's session after the fixes:\n%s", describeDoctorResult(r))
	}
	if kind == testhost.Trixie {
		t.Run("podman 5 network", func(t *testing.T) { testPodman5Network(t, st, h) })
	}
}

// doctorChecks runs `provision doctor --checks CHECKS --output json` as
// root and decodes the report.
func doctorChecks(t *testing.T, h *testhost.Host, checks string) doctor.Report {
	t.Helper()
	r := h.SSHExpect(t, "root", 1, testhost.GuestProvisionPath+" doctor --checks "+checks+" --output json")
	var rep doctor.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("%s", h.Failure(r, "doctor JSON does not decode", err))
	}
	return rep
}

// findResult returns the result of check id for user in rep.
func findResult(t *testing.T, rep doctor.Report, id int, user string) doctor.Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.ID == id && r.User == user {
			return r
		}
	}
	t.Fatalf("no result of check %d for %q", id, user)
	return doctor.Result{}
}

// testPodman5Network breaks the converged Debian 13 host (podman 5.4.2)
// in the ways of checks 18 and 19, one at a time: the rootless network
// tool (passt, for pasta) removed, netavark removed, and a user's
// containers.conf asking for CNI. Each time the doctor fails the check
// with the text podman itself prints at that moment (asserted against
// podman's own stderr), and the fix it names repairs the host.
func testPodman5Network(t *testing.T, st *stageLog, h *testhost.Host) {
	// No root-owned files in the users' homes: check 18 of podman 5 once
	// ran podman info as each user while podman was setuid root, which
	// made root's ~/.config (0700) in alice's, bob's and carol's homes and
	// broke their podman ("path \"/home/alice/.config\" exists and it is
	// not owned by the current user").
	if got := h.SSH(t, "find /home -mindepth 2 -maxdepth 3 -user root -printf '%u:%g %m %p\\n' | sort"); got != "" {
		t.Errorf("root's files in the users' homes after the doctor test:\n%s", got)
	}
	// A fresh user of its own keeps this test about the network.
	const u = "erin"
	h.SSH(t, "useradd -m -s /bin/bash "+u+" && grep -q '^"+u+":' /etc/subuid")
	if err := h.CopyIn(testhost.BusyboxRootfs(t), "/home/"+u+"/busybox-rootfs.tar"); err != nil {
		t.Fatal(err)
	}
	h.SSH(t, "chown "+u+": /home/"+u+"/busybox-rootfs.tar")
	h.AuthorizeUser(t, u)
	h.SSHAs(t, u, `podman import -q --change 'CMD ["/bin/sh"]' ~/busybox-rootfs.tar localhost/bb:latest`)
	fixBook := func(name, pkgs string) {
		book := "/root/fix-" + name + ".yml"
		if err := h.WriteFile(book, []byte("- hosts: all\n  tasks:\n    - name: "+name+"\n      package:\n        names: ["+pkgs+"]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		runBook(t, st, h, 0, "apply "+name, "apply", book).expectChanged(t, name)
	}
	// expectText fails unless podman's own output has the doctor's symptom.
	expectText := func(podmanOut, symptom string) {
		t.Helper()
		if symptom == "" || !strings.Contains(podmanOut, symptom) {
			t.Errorf("the doctor's symptom\n  %q\nis not what podman printed:\n%s", symptom, podmanOut)
		}
	}

	t.Run("no passt", func(t *testing.T) {
		h.SSH(t, "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q passt >/dev/null")
		rep := doctorChecks(t, h, "19 --user "+u)
		r := findResult(t, rep, 19, u)
		if r.Status != doctor.Fail || !strings.HasPrefix(r.Found, "pasta (podman info rootlessNetworkCmd) is not installed") || !hasDoctorFix(r, doctorTaskFix("package", map[string]any{"names": []string{"passt"}})) {
			t.Errorf("check 19 without passt:\n%s", describeDoctorResult(r))
		}
		run := h.SSHExpect(t, u, 127, "podman run --rm localhost/bb:latest true")
		t.Logf("podman 5.4.2 without passt: %s", run.Stderr)
		expectText(run.Stderr, r.Symptom)
		fixBook("pasta for podman 5", "passt")
		if r := findResult(t, doctorChecksOK(t, h, "19 --user "+u), 19, u); r.Status != doctor.Pass {
			t.Errorf("check 19 after installing passt:\n%s", describeDoctorResult(r))
		}
		h.SSHAs(t, u, "podman run --rm localhost/bb:latest true")
	})
	t.Run("no netavark", func(t *testing.T) {
		h.SSH(t, "dpkg --force-depends -r netavark >/dev/null 2>&1 && test ! -e /usr/lib/podman/netavark")
		rep := doctorChecks(t, h, "15,18 --user "+u)
		r := findResult(t, rep, 18, u)
		if r.Status != doctor.Fail || !strings.Contains(r.Found, "netavark is not installed: podman 5 has no other network backend") || !hasDoctorFix(r, doctorTaskFix("package", map[string]any{"names": []string{"netavark", "aardvark-dns"}})) {
			t.Errorf("check 18 without netavark:\n%s", describeDoctorResult(r))
		}
		if r15 := findResult(t, rep, 15, u); r15.Status != doctor.Fail || !strings.Contains(r15.Found, "(recognised: see check 18)") {
			t.Errorf("check 15 without netavark:\n%s", describeDoctorResult(r15))
		}
		info := h.SSHExpect(t, u, 125, "podman info")
		t.Logf("podman 5.4.2 without netavark: %s", info.Stderr)
		expectText(info.Stderr, r.Symptom)
		fixBook("netavark for podman 5", "netavark, aardvark-dns")
		h.SSHAs(t, u, "podman info >/dev/null")
		if r := findResult(t, doctorChecksOK(t, h, "18 --user "+u), 18, u); r.Status != doctor.Pass {
			t.Errorf("check 18 after installing netavark:\n%s", describeDoctorResult(r))
		}
	})
	t.Run("cni configured", func(t *testing.T) {
		conf := "/home/" + u + "/.config/containers/containers.conf"
		h.SSHAs(t, u, `mkdir -p ~/.config/containers && printf '[network]\nnetwork_backend = "cni"\n' > `+conf)
		rep := doctorChecks(t, h, "18 --user "+u)
		r := findResult(t, rep, 18, u)
		if r.Status != doctor.Fail || !strings.Contains(r.Found, "configured for CNI") {
			t.Errorf("check 18 with cni in the user's containers.conf:\n%s", describeDoctorResult(r))
		}
		info := h.SSHExpect(t, u, 125, "podman info")
		t.Logf("podman 5.4.2 configured for cni: %s", info.Stderr)
		expectText(info.Stderr, r.Symptom)
		h.SSH(t, "rm "+conf)
		if r := findResult(t, doctorChecksOK(t, h, "18 --user "+u), 18, u); r.Status != doctor.Pass {
			t.Errorf("check 18 after removing the cni setting:\n%s", describeDoctorResult(r))
		}
	})
}

// doctorChecksOK is doctorChecks on a host where the checks pass (exit 0).
func doctorChecksOK(t *testing.T, h *testhost.Host, checks string) doctor.Report {
	t.Helper()
	r := h.SSHExpect(t, "root", 0, testhost.GuestProvisionPath+" doctor --checks "+checks+" --output json")
	var rep doctor.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("%s", h.Failure(r, "doctor JSON does not decode", err))
	}
	return rep
}
