// Package doctor tells an admin why rootless Podman will fail on a host and
// which task fixes it. It runs the twenty checks of the readiness checklist
// (domain.md §8) in their order of remediation, host-wide as root and for
// each rootless user, and reports for every check what it found, the exact
// message a user would otherwise see, and the fix: a playbook task, or a
// command where no module does it.
//
// Doctor is read-only: it reads files and runs podman (as the user, with a
// session-like environment) but never changes configuration. Commands such
// as `podman system reset` are recommended, never run. Like any podman
// command, `podman info` starts the user's pause process and, on first use,
// creates the user's storage; because that first run fixes the storage
// driver and network backend for good (vfs, CNI), doctor does not run
// podman for a user without storage while no driver is configured or
// netavark is missing, and reports that instead (checks 12 and 18). Nor
// does it run a setuid-root podman as a user: that podman runs rootful
// (check 2), so its answers would be root's, not the user's.
package doctor

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/containers/podmanconf"
)

// Status is the outcome of one check.
type Status string

// The outcomes of a check. Skip means the check could not run (podman is
// not installed, doctor is not root, ...); the result says why.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// DefaultSmokeImage is the image the smoke test runs when Options.SmokeImage
// is empty.
const DefaultSmokeImage = "docker.io/library/alpine:latest"

// Options selects what Run checks.
type Options struct {
	// Users are the rootless users to check. Empty means every local user
	// that owns a range in /etc/subuid or /etc/subgid. Root (UID 0) is
	// always covered by the host-wide checks and is dropped from the list.
	Users []string
	// Checks are the IDs (1..20) to run; empty runs all of them.
	Checks []int
	// Smoke runs check 20, which starts a container as each user.
	Smoke bool
	// SmokeImage is the image check 20 runs; DefaultSmokeImage when empty.
	SmokeImage string
}

// Result is the outcome of one check for the host or one user.
type Result struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Title string `json:"title"`
	// User is the rootless user the check ran for; "" for a host-wide
	// check (run as root).
	User   string `json:"user"`
	Status Status `json:"status"`
	// Found is what the check saw; for a skip, why it could not run.
	Found string `json:"found"`
	// Symptom is the message a user would otherwise see, quoted so that it
	// can be searched for.
	Symptom string `json:"symptom,omitempty"`
	// Fix lists what corrects the problem, in order.
	Fix []Fix `json:"fix,omitempty"`
}

// Fix is one step that corrects a problem: a playbook task (Module and
// Args, also rendered as one line of YAML in Task), or a command to run by
// hand (as AsUser when set), or only a Note when neither exists.
type Fix struct {
	Module  string         `json:"module,omitempty"`
	Args    map[string]any `json:"args,omitempty"`
	Task    string         `json:"task,omitempty"`
	Command string         `json:"command,omitempty"`
	AsUser  string         `json:"as_user,omitempty"`
	Note    string         `json:"note,omitempty"`
}

// String renders the fix on one line for humans.
func (f Fix) String() string {
	var s string
	switch {
	case f.Task != "":
		s = "task: " + f.Task
	case f.Command != "" && f.AsUser != "":
		s = "as " + f.AsUser + ": " + f.Command
	case f.Command != "":
		s = "run: " + f.Command
	}
	if f.Note != "" {
		if s != "" {
			s += " (" + f.Note + ")"
		} else {
			s = f.Note
		}
	}
	return s
}

// Report is the outcome of a doctor run.
type Report struct {
	// V is the version of this JSON shape.
	V int `json:"v"`
	// Users are the rootless users checked, in order.
	Users   []string `json:"users"`
	Results []Result `json:"results"`
}

// Counts returns how many results have each status.
func (r Report) Counts() map[Status]int {
	c := map[Status]int{Pass: 0, Warn: 0, Fail: 0, Skip: 0}
	for _, res := range r.Results {
		c[res.Status]++
	}
	return c
}

// ExitCode is the process exit status for the report: 0 when every check
// that ran passed, 1 when any failed, 2 when there are only warnings.
// Skipped checks do not count.
func (r Report) ExitCode() int {
	c := r.Counts()
	switch {
	case c[Fail] > 0:
		return 1
	case c[Warn] > 0:
		return 2
	}
	return 0
}

// Check describes one check of the checklist.
type Check struct {
	ID    int
	Name  string
	Title string
	// PerUser checks run for each rootless user; the others run once,
	// host-wide, as root.
	PerUser bool
	// AsRoot per-user checks also run once for root (user "").
	AsRoot bool
}

// Checks is the checklist, in order of remediation.
var Checks = []Check{
	{1, "podman_installed", "podman is installed", false, false},
	{2, "podman_not_setuid", "podman is not setuid", false, false},
	{3, "newuidmap_present", "newuidmap and newgidmap are installed", false, false},
	{4, "newuidmap_privileged", "newuidmap and newgidmap are privileged", false, false},
	{5, "user_namespaces", "user namespaces are enabled", false, false},
	{6, "subid_files", "/etc/subuid and /etc/subgid exist and parse", false, false},
	{7, "subid_ranges", "the user has subordinate ID ranges", true, false},
	{8, "subid_overlaps", "subordinate ID ranges do not overlap", false, false},
	{9, "namespace_current", "the running user namespace matches the files", true, false},
	{10, "session", "session, runtime dir and linger", true, false},
	{11, "cgroups", "cgroup v2 and delegated controllers", true, false},
	{12, "storage_driver", "storage driver is overlay", true, false},
	{13, "overlay_mode", "overlay mode fits the kernel", true, false},
	{14, "storage_location", "storage is on a usable filesystem", true, false},
	{15, "config_parse", "container config files parse", true, true},
	{16, "user_overrides", "per-user config overrides", true, false},
	{17, "short_names", "short image names resolve", true, true},
	{18, "network_backend", "network backend is netavark", true, false},
	{19, "rootless_network", "rootless network tool is installed", true, false},
	{20, "smoke_test", "a container runs", true, false},
}

// CheckByName finds a check by its name or its number ("7").
func CheckByName(s string) (Check, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		if n >= 1 && n <= len(Checks) {
			return Checks[n-1], true
		}
		return Check{}, false
	}
	for _, c := range Checks {
		if c.Name == s {
			return c, true
		}
	}
	return Check{}, false
}

type hostFunc func(ctx context.Context, e *env) outcome
type userFunc func(ctx context.Context, e *env, s *subject) outcome

// outcome is a check's verdict before Run fills in ID, name and user.
type outcome struct {
	status  Status
	found   string
	symptom string
	fix     []Fix
}

func pass(found string) outcome { return outcome{status: Pass, found: found} }
func skip(why string) outcome   { return outcome{status: Skip, found: why} }

var hostChecks = map[int]hostFunc{
	1: checkPodmanInstalled,
	2: checkPodmanSetuid,
	3: checkIDMapPresent,
	4: checkIDMapPrivileged,
	5: checkUserNamespaces,
	6: checkSubidFiles,
	8: checkOverlaps,
}

var userChecks = map[int]userFunc{
	7:  checkUserRanges,
	9:  checkNamespace,
	10: checkSession,
	11: checkCgroups,
	12: checkStorageDriver,
	13: checkOverlayMode,
	14: checkStorageLocation,
	15: checkConfigParse,
	16: checkOverrides,
	17: checkShortNames,
	18: checkNetworkBackend,
	19: checkRootlessNetwork,
	20: checkSmoke,
}

// Run runs the selected checks in order, host-wide checks once and
// per-user checks for each user, and returns the report. It never changes
// the host.
func Run(ctx context.Context, sys *tasks.System, opts Options) Report {
	if opts.SmokeImage == "" {
		opts.SmokeImage = DefaultSmokeImage
	}
	e := newEnv(sys, opts)
	subjects := e.subjects()
	rep := Report{V: 1, Users: []string{}}
	for _, s := range subjects {
		rep.Users = append(rep.Users, s.name)
	}
	root := e.rootSubject()
	defer e.removeRuntimeDirs(subjects)
	for _, c := range Checks {
		if len(opts.Checks) > 0 && !slices.Contains(opts.Checks, c.ID) {
			continue
		}
		add := func(user string, o outcome) {
			rep.Results = append(rep.Results, Result{ID: c.ID, Name: c.Name, Title: c.Title, User: user,
				Status: o.status, Found: o.found, Symptom: o.symptom, Fix: o.fix})
		}
		if !c.PerUser {
			add("", hostChecks[c.ID](ctx, e))
			continue
		}
		if c.AsRoot {
			add("", userChecks[c.ID](ctx, e, root))
		}
		for _, s := range subjects {
			if !s.exists && c.ID != 7 {
				add(s.name, skip(fmt.Sprintf("no user %q in /etc/passwd (check 7)", s.name)))
				continue
			}
			add(s.name, userChecks[c.ID](ctx, e, s))
		}
	}
	return rep
}

// subject is root (for the host-wide variants of per-user checks) or one
// rootless user.
type subject struct {
	name   string // "" for root
	user   facts.User
	exists bool
	info   *podmanInfoResult
	// madeRuntime is the runtime dir the doctor made for a user without a
	// session (ensureRuntimeDir), nil when none.
	madeRuntime fs.FileInfo

	hazardDone bool
	hazard     *hazard
}

func (s *subject) root() bool { return s.name == "" }

// files reads the files of s's own configuration and storage with s's
// rights (tasks.UserFiles): a user's link to a file only root may read is
// refused, never shown. Root's are read as root.
func (e *env) files(s *subject) podmanconf.Reader {
	if s.root() {
		return e.sys
	}
	return e.sys.AsUser(s.user)
}

// who names the subject in messages.
func (s *subject) who() string {
	if s.root() {
		return "root"
	}
	return s.name
}

func (e *env) rootSubject() *subject {
	u, ok := e.sys.Facts.LookupUser("0")
	if !ok {
		u = facts.User{Name: "root", UID: 0, GID: 0, Home: "/root", Shell: "/bin/sh"}
	}
	return &subject{user: u, exists: true}
}

// subjects resolves Options.Users, or the owners of subordinate ranges.
func (e *env) subjects() []*subject {
	names := e.opts.Users
	if len(names) == 0 {
		for _, f := range []*idFile{e.subuid(), e.subgid()} {
			for _, r := range f.ranges {
				if u, ok := e.sys.Facts.LookupUser(r.Owner); ok {
					names = append(names, u.Name)
				}
			}
		}
	}
	var out []*subject
	seen := map[string]bool{}
	for _, n := range names {
		u, ok := e.sys.Facts.LookupUser(n)
		if ok {
			if u.UID == 0 {
				continue
			}
			n = u.Name
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, &subject{name: n, user: u, exists: ok})
	}
	return out
}

// env holds what several checks need, gathered once per run.
type env struct {
	sys  *tasks.System
	opts Options

	podmanOnce    bool
	podmanPath    string
	versionOnce   bool
	version       string
	versionErr    string
	versionRunErr bool // podman --version could not be started at all
	subuidFile    *idFile
	subgidFile    *idFile
	mountsOnce    bool
	mounts        []mount
	mountsErr     error
	privilegedVal bool
	madeRunUser   bool // the doctor made /run/user (removeRuntimeDirs)
}

func newEnv(sys *tasks.System, opts Options) *env {
	return &env{sys: sys, opts: opts, privilegedVal: canSwitchUser(sys)}
}

// canSwitchUser reports whether commands can run as other users: on the
// live host ("/") only when doctor is root. Under another root (a test's
// temp dir, an image) the runner decides. Tests replace it to simulate a
// non-root doctor.
var canSwitchUser = func(sys *tasks.System) bool {
	if sys.Root == "" || sys.Root == "/" {
		return os.Geteuid() == 0
	}
	return true
}

// needPodman returns a skip outcome when podman cannot run for s.
func (e *env) needPodman(ctx context.Context, s *subject) (outcome, bool) {
	if e.podman() == "" {
		return skip("podman is not installed (check 1)"), false
	}
	if !e.privilegedVal {
		return skip("doctor is not running as root, so it cannot run podman as " + s.who()), false
	}
	if !s.root() && e.podmanSetuidRoot() {
		return skip(e.podman() + " is setuid root (check 2): run as " + s.who() + " it runs rootful, so it cannot show " + s.who() + "'s view"), false
	}
	if h := e.firstRunHazard(ctx, s); h != nil {
		return skip("not run: " + h.String()), false
	}
	return outcome{}, true
}

// fixes builds a slice of fixes, for readability.
func fixes(f ...Fix) []Fix { return f }

// family is the host's distribution family: debian, redhat or another ID.
func (e *env) family() string { return e.sys.Facts.OS().Family }

// pkgName picks the package that provides something on this host's
// family: deb on Debian/Ubuntu, rpm on Fedora/RHEL.
func (e *env) pkgName(deb, rpm string) string {
	if e.family() == "redhat" {
		return rpm
	}
	return deb
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func quoteLines(s string, max int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > max {
		lines = append(lines[:max], fmt.Sprintf("... (%d more lines)", len(lines)-max))
	}
	return strings.Join(lines, "\n")
}
