// Package pkg implements the package module: it installs, removes or
// upgrades distribution packages with the host's own package manager (apt,
// dnf, dnf5 or yum), asking about all names with one query and changing
// them in one transaction.
package pkg

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/provision-tool/provision/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name:    "package",
		Summary: "install, remove or upgrade packages with apt, dnf, dnf5 or yum",
		Doc:     moduleDoc,
		Example: moduleExample,
		New:     func() tasks.Task { return new(Package) },
	})
}

const moduleDoc = `
Makes sure the named packages are installed (` + "`present`" + `, the default),
installed at the newest version the repositories offer (` + "`latest`" + `) or
not installed (` + "`absent`" + `). The package manager is taken from the
` + "`package_manager`" + ` fact: dnf5, dnf, yum or apt.

**How Check decides.** One command asks about every name at once:
` + "`rpm -q`" + ` on RPM hosts, ` + "`dpkg-query -W`" + ` on Debian and Ubuntu. A
Debian package counts as installed when dpkg reports it ` + "`installed`" + ` (or
with triggers pending); a removed package that left its configuration files
behind counts as absent. Each missing name (and each upgradable one with
` + "`latest`" + `) is one change, ` + "`package NAME`" + `. When something is missing,
Check also asks the repositories, in one more command, whether the missing
names exist (` + "`apt-cache policy`" + `, ` + "`dnf repoquery`" + `, ` + "`yum list available`" + `),
so that a misspelt name fails already in check mode:
` + "`unknown package \"foo\" (not in any enabled repository)`" + `. With
` + "`latest`" + `, upgrades are found with ` + "`apt-cache policy`" + ` (Installed differs from
Candidate) or ` + "`repoquery --upgrades`" + ` (the same command on DNF 4 and DNF 5,
with a tab-separated ` + "`--queryformat`" + `, so no table or progress output is
parsed; ` + "`yum list updates`" + ` on yum 3). Check never refreshes metadata:
it judges against the package lists the host already has (during apply,
dnf refreshes its own when they are older than ` + "`metadata_expire`" + `;
in check mode it does not, see below).

**provision check writes nothing.** In check mode the repository queries
leave the host exactly as it was: the RPM tools get a temp directory
(removed afterwards) as ` + "`logdir`" + ` and ` + "`cachedir`" + `, the latter holding links
to the repodata of the host's own cache (` + "`/var/cache/dnf`" + `,
` + "`/var/cache/libdnf5`" + `), which they read with ` + "`-C`" + ` and
` + "`skip_if_unavailable=False`" + `: the lists the host has, even expired,
never refreshed, as apt's check reads its lists. When that fails (a
repository with no cache yet), the query runs again with the temp cache
alone and downloads fresh metadata into it, so the answer is still the
repositories' own. Only ` + "`rpm -q`" + ` touches ` + "`/var/lib/rpm/rpmdb.sqlite-shm`" + `
(and creates an empty ` + "`-wal`" + `): SQLite's index for every reader of the
rpmdb; the database is unchanged. yum 3 (RHEL 7), whose cache has
another layout, always downloads into the temp cache; its options and
DNF 5's are taken from their documentation, not run here.

**What Apply runs.** One transaction for all missing names:
` + "`apt-get install -y`" + ` (with ` + "`DEBIAN_FRONTEND=noninteractive`" + `, keeping the
old configuration files on conflicts, and installing Recommends as apt does
by default: Debian's podman needs them; apt waits up to five minutes for a
dpkg lock held by another run, such as unattended-upgrades), ` + "`dnf -y install`" + `, ` + "`dnf5 -y install`" + `
or ` + "`yum -y install`" + `. With ` + "`latest`" + `, apt upgrades in the same
` + "`apt-get install`" + `; the RPM tools run ` + "`upgrade`" + ` for the installed names,
since ` + "`dnf install`" + ` leaves an installed package alone. ` + "`absent`" + ` runs
` + "`apt-get remove -y`" + ` (configuration files stay; dpkg calls the package
removed) or ` + "`dnf -y remove`" + `. The exit code decides success; a failure
reports the command and the end of its error output, and names the unknown
packages when the tool said so.

**update_cache.** On apt, ` + "`apt-get update`" + ` runs before the transaction,
and only when something must be installed or upgraded; on dnf and dnf5 the
transaction gets ` + "`--refresh`" + `; on yum, ` + "`yum clean expire-cache`" + ` runs
first. Because Check does not refresh, a name the stale lists do not know is
a warning rather than an error when update_cache is set (a fresh container
image has no apt lists at all), and the transaction reports it if it really
does not exist. With ` + "`latest`" + ` and update_cache, the transaction covers every
installed name, so that upgrades that only the refreshed lists show are
applied too.

**Caveats.** Names are package names: ` + "`name`" + `, ` + "`name:arch`" + ` on Debian,
` + "`name.arch`" + ` or ` + "`name-version`" + ` on RPM hosts. Versions pinned with
` + "`=`" + `, globs, file paths, groups (` + "`@core`" + `) and capabilities
(` + "`pkgconfig(foo)`" + `) are refused, because the installed-package query
could not see them and the task would never converge. A Debian name without
an architecture counts as installed when any architecture of it is.
`

const moduleExample = `
- name: install rootless podman (Debian, Ubuntu)
  package:
    names: [podman, uidmap, slirp4netns, fuse-overlayfs, dbus-user-session]
    update_cache: true
  when: facts.os.family == "debian"
- name: install rootless podman (Fedora, RHEL, CentOS Stream)
  package:
    names: [podman, shadow-utils, fuse-overlayfs, slirp4netns]
  when: facts.os.family == "redhat"
- name: keep podman current
  package:
    names: podman
    state: latest
- name: no docker
  package:
    names: [docker.io, docker-ce]
    state: absent
`

// Package is the package module: the named packages present, absent or at
// their latest version.
type Package struct {
	Names       []string `yaml:"names" required:"true" doc:"package names (a single name may be a string): name, name:arch (apt) or name.arch (RPM); no versions, globs, paths or groups"`
	State       string   `yaml:"state" default:"present" enum:"present,latest,absent" doc:"present (installed), latest (installed and upgraded to the repositories' newest version) or absent (removed)"`
	UpdateCache bool     `yaml:"update_cache" doc:"refresh package metadata before a transaction that installs or upgrades: apt-get update on apt, --refresh on dnf and dnf5"`

	done result
}

// The states the module knows.
const (
	statePresent = "present"
	stateAbsent  = "absent"
	stateLatest  = "latest"
)

// result is what Apply did, for Output.
type result struct {
	installed, upgraded, removed []string
}

// planData is what Check hands Apply: the names for each operation.
type planData struct {
	install []string // missing names
	upgrade []string // installed names with an upgrade (latest)
	remove  []string // installed names (absent)
	// also lists the other installed names of a latest task with
	// update_cache: the refreshed metadata may offer upgrades for them
	// that Check could not see.
	also []string
}

func (p *Package) state() string {
	if p.State == "" {
		return statePresent
	}
	return p.State
}

// Validate checks the arguments without touching the host.
func (p *Package) Validate() error {
	if len(p.Names) == 0 {
		return tasks.BadArg("names", "at least one package name is required")
	}
	for _, n := range p.Names {
		if err := checkName(n); err != nil {
			return tasks.BadArg("names", err.Error())
		}
	}
	switch p.state() {
	case statePresent, stateAbsent, stateLatest:
	default:
		return tasks.BadArg("state", fmt.Sprintf("must be present, latest or absent, not %q", p.State))
	}
	return nil
}

// checkName accepts a plain package name, optionally qualified by an
// architecture or (RPM) a version. Anything else (a version constraint,
// a glob, a path, a group, a capability) would be installed by the package
// manager but never found by rpm -q or dpkg-query, so the task could not
// converge.
func checkName(n string) error {
	switch {
	case n == "":
		return errors.New("empty package name")
	case strings.HasPrefix(n, "-"):
		return fmt.Errorf("package name %q starts with '-'", n)
	case strings.IndexFunc(n, unicode.IsSpace) >= 0:
		return fmt.Errorf("package name %q contains whitespace", n)
	}
	for _, r := range n {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._+-:~^", r)
		if !ok {
			return fmt.Errorf("%q is not a package name: %q is not allowed (versions with =, globs, paths, groups and capabilities are not supported)", n, r)
		}
	}
	return nil
}

// Check asks the package database about every name in one command and, when
// something is to be installed or upgraded, the repositories in one more.
func (p *Package) Check(ctx context.Context, sys *tasks.System) (tasks.Plan, error) {
	var plan tasks.Plan
	if err := p.Validate(); err != nil {
		return plan, err
	}
	b, err := backendFor(sys)
	if err != nil {
		return plan, err
	}
	return p.check(ctx, sys, b)
}

// check is Check with the backend chosen.
func (p *Package) check(ctx context.Context, sys *tasks.System, b backend) (tasks.Plan, error) {
	var plan tasks.Plan
	names := dedupe(p.Names)
	inst, err := b.installed(ctx, sys, names)
	if err != nil {
		return plan, err
	}
	d := &planData{}
	state := p.state()
	if state == stateAbsent {
		for _, n := range names {
			if s := inst[n]; s.removable {
				plan.Add("package "+n, s.version, "absent")
				d.remove = append(d.remove, n)
			}
		}
		return withData(plan, d), nil
	}

	var missing, have []string
	for _, n := range names {
		if inst[n].installed {
			have = append(have, n)
		} else {
			missing = append(missing, n)
		}
	}
	var upgradable []string
	if state == stateLatest {
		upgradable = have
	}
	repo, err := b.repo(ctx, sys, missing, upgradable)
	if err != nil {
		return plan, err
	}
	var unknown []string
	for _, n := range missing {
		if !repo.known[n] {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		if !p.UpdateCache {
			return plan, unknownError(unknown, b.hint(sys))
		}
		verb, pron := "are", "they exist"
		if len(unknown) == 1 {
			verb, pron = "is", "it exists"
		}
		plan.Warn(fmt.Sprintf("%s %s not in the current package lists; whether %s is known only after update_cache refreshes them",
			quoteNames(unknown), verb, pron))
	}
	for _, n := range names {
		s := inst[n]
		switch {
		case !s.installed:
			plan.Add("package "+n, s.before(), "installed")
			d.install = append(d.install, n)
		case state == stateLatest && repo.upgrades[n] != "":
			plan.Add("package "+n, s.version, repo.upgrades[n])
			d.upgrade = append(d.upgrade, n)
		case state == stateLatest && p.UpdateCache:
			d.also = append(d.also, n)
		}
	}
	return withData(plan, d), nil
}

func withData(plan tasks.Plan, d *planData) tasks.Plan {
	if !plan.Empty() {
		plan.Data = d
	}
	return plan
}

// Apply runs the transaction Check planned.
func (p *Package) Apply(ctx context.Context, sys *tasks.System, plan tasks.Plan) error {
	b, err := backendFor(sys)
	if err != nil {
		return err
	}
	return p.apply(ctx, sys, plan, b)
}

// apply is Apply with the backend chosen.
func (p *Package) apply(ctx context.Context, sys *tasks.System, plan tasks.Plan, b backend) error {
	d, ok := plan.Data.(*planData)
	if !ok {
		return errors.New("apply: the plan carries no package data (a bug in the package module)")
	}
	if err := b.apply(ctx, sys, d, p.UpdateCache); err != nil {
		return err
	}
	p.done = result{installed: d.install, upgraded: d.upgrade, removed: d.remove}
	return nil
}

// Output lists the package names Apply installed, upgraded and removed.
func (p *Package) Output() map[string]any {
	list := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return map[string]any{
		"installed": list(p.done.installed),
		"upgraded":  list(p.done.upgraded),
		"removed":   list(p.done.removed),
	}
}

// pkgState is what the package database says about one requested name.
type pkgState struct {
	installed bool   // usable: installed and configured
	removable bool   // something of it is on the host (installed or half-way)
	version   string // installed version(s), for Before
	status    string // dpkg's state word when the package is half-way
}

// before renders a missing package for Change.Before: "" (absent) or the
// half-way state dpkg left it in.
func (s pkgState) before() string {
	if s.status == "" {
		return ""
	}
	if s.version != "" {
		return s.status + " " + s.version
	}
	return s.status
}

// repoState is what the repositories say about the names.
type repoState struct {
	known    map[string]bool   // missing names the repositories offer
	upgrades map[string]string // installed name -> newer version
}

// A backend speaks to one package manager.
type backend interface {
	// installed asks the package database about all names with one command.
	installed(ctx context.Context, sys *tasks.System, names []string) (map[string]pkgState, error)
	// repo asks the repositories whether the missing names exist and
	// which of the installed names have upgrades.
	repo(ctx context.Context, sys *tasks.System, missing, installed []string) (repoState, error)
	// apply runs the transactions for d.
	apply(ctx context.Context, sys *tasks.System, d *planData, refresh bool) error
	// hint explains an unknown package further, or returns "".
	hint(sys *tasks.System) string
}

func backendFor(sys *tasks.System) (backend, error) {
	pm := ""
	if sys.Facts != nil {
		pm = sys.Facts.PackageManager()
	}
	switch pm {
	case "apt":
		return aptBackend{}, nil
	case "dnf", "dnf5", "yum":
		return rpmBackend{tool: pm}, nil
	}
	return nil, errors.New("no supported package manager on this host (looked for dnf5, dnf, yum and apt-get)")
}

func dedupe(names []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// quoteNames renders `package "a"` or `packages "a", "b"`.
func quoteNames(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(names) == 1 {
		return "package " + q[0]
	}
	return "packages " + strings.Join(q, ", ")
}

// unknownError names the packages no repository offers.
func unknownError(names []string, hint string) error {
	msg := "unknown " + quoteNames(names) + " (not in any enabled repository)"
	if hint != "" {
		msg += "; " + hint
	}
	return errors.New(msg)
}

// transactionError wraps a failed transaction, naming the packages the tool
// said it could not find. The messages are read only to word the error; the
// exit code alone decides failure.
func transactionError(err error) error {
	var ee *tasks.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	unknown := unknownInOutput(ee.Result.Stdout + "\n" + ee.Result.Stderr)
	if len(unknown) == 0 {
		return err
	}
	return fmt.Errorf("%w: %w", unknownError(unknown, ""), err)
}

// unknownInOutput finds the well-known "no such package" lines of dnf 4,
// dnf 5, yum 3 and apt.
func unknownInOutput(out string) []string {
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		n = strings.Trim(strings.TrimSpace(n), `'"`)
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "No match for argument: "): // dnf 4, dnf 5
			add(strings.TrimPrefix(line, "No match for argument: "))
		case strings.HasPrefix(line, "E: Unable to locate package "): // apt
			add(strings.TrimPrefix(line, "E: Unable to locate package "))
		case strings.HasPrefix(line, "E: Package '") && strings.HasSuffix(line, "' has no installation candidate"): // apt, virtual
			add(strings.TrimSuffix(strings.TrimPrefix(line, "E: Package '"), "' has no installation candidate"))
		case strings.HasPrefix(line, "No package ") && strings.HasSuffix(line, " available."): // yum 3
			add(strings.TrimSuffix(strings.TrimPrefix(line, "No package "), " available."))
		}
	}
	return names
}

var _ tasks.Task = (*Package)(nil)
var _ tasks.Validator = (*Package)(nil)
var _ tasks.Outputter = (*Package)(nil)
