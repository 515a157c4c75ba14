package doctor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/provision-tool/provision/tasks"
)

// Task runs doctor checks as assertions in a play. It never changes the
// host: its plan is always empty, and a check that fails (or warns, with
// fail_on: warn) fails the task with the same messages as
// `provision doctor`.
type Task struct {
	Users      []string `yaml:"users" doc:"rootless users to check; empty checks every local user that owns a range in /etc/subuid or /etc/subgid"`
	Checks     []string `yaml:"checks" doc:"checks to run, by number (1-20) or name (subid_ranges, storage_driver, ...); empty runs all but the smoke test (20), which runs only when listed"`
	FailOn     string   `yaml:"fail_on" default:"fail" doc:"fail: only failing checks fail the task (warnings are reported); warn: warnings fail it too"`
	SmokeImage string   `yaml:"smoke_image" default:"docker.io/library/alpine:latest" doc:"image the smoke test (check 20) runs as each user"`
}

func init() {
	tasks.Register(tasks.Module{
		Name:    "doctor",
		Summary: "assert that the host is ready for rootless podman, with the checks of provision doctor",
		Doc: `Runs the readiness checks of ` + "`provision doctor`" + ` (the twenty checks of
the rootless Podman checklist, in order of remediation) as assertions, for
example as the last task of a play that prepares a host: host-wide checks as
root (podman installed and not setuid, newuidmap and newgidmap present and
privileged, user namespaces, /etc/subuid and /etc/subgid parse and do not
overlap, config files parse), and per user (ranges, running namespace
current, linger and runtime dir, cgroup delegation, storage driver, overlay
mode, storage filesystem, config, short names, network backend and rootless
network tool). Per-user checks run podman as the user with a session-like
environment (XDG_RUNTIME_DIR=/run/user/UID).

**How Check decides.** The plan is always empty: doctor only reads files and
runs ` + "`podman info`" + ` and ` + "`podman unshare cat /proc/self/uid_map`" + ` (which start the
user's pause process, as any podman command does). For a user who has never
run podman it runs nothing while the first run could pick vfs or CNI for
good (no storage driver configured, netavark missing); checks 12 and 18 warn
about that instead. When a selected check
fails, Check returns an error listing every failing check with what was
found, the exact message users would otherwise see, and the fix (a task
such as ` + "`subid: {user: alice}`" + `, or a command such as ` + "`podman system reset`" + `
as the user, which doctor never runs). Warnings are reported as task
warnings, or fail the task with ` + "`fail_on: warn`" + `. Checks that cannot run (no
podman yet) are skipped and do not fail the task. When building an image
(docs/images.md) only the checks that read the image's files run (1, 2, 3,
4, 6, 7, 8, 16); the others would judge the build machine's kernel or need
a session, and a warning names them: run ` + "`provision doctor`" + ` after boot.

**Config files as podman reads them.** The registries files (the user's
~/.config/containers/registries.conf or the system one, then the system and
the user's registries.conf.d drop-ins in podman's order) are loaded with
containers/image's own loader, and storage.conf (the user's file, else
/etc/containers/storage.conf, else /usr/share/containers/storage.conf) is
decoded into containers/storage's own configuration type, both from files
read inside the host root; see docs/architecture.md. So check 15 without
podman refuses exactly the files podman refuses, with podman's message, and
checks 12, 17 and the first-run hazard use the search registries,
short-name mode, driver and graphroot podman computes (for a rootless user:
the system driver only when rootless-capable, rootless_storage_path
expanded).

**Apply** does nothing; it is never called, since the plan is empty.

The smoke test (check 20) starts a container as each user and pulls the
image when it is missing; it runs only when ` + "`checks`" + ` lists it.`,
		Example: `- name: the host is ready for rootless podman
  doctor:
    users: [alice, bob]

- name: ranges, storage and a real container; warnings fail too
  doctor:
    users: [alice]
    checks: [subid_ranges, subid_overlaps, storage_driver, 20]
    fail_on: warn
    smoke_image: docker.io/library/alpine:latest`,
		New: func() tasks.Task { return new(Task) },
	})
}

// Validate checks the arguments without touching the host.
func (t *Task) Validate() error {
	for _, c := range t.Checks {
		if _, ok := CheckByName(c); !ok {
			return tasks.BadArg("checks", fmt.Sprintf("unknown check %q (use 1-%d or a name such as subid_ranges)", c, len(Checks)))
		}
	}
	switch t.FailOn {
	case "", "fail", "warn":
	default:
		return tasks.BadArg("fail_on", fmt.Sprintf("must be fail or warn, not %q", t.FailOn))
	}
	for _, u := range t.Users {
		if u == "" || strings.HasPrefix(u, "-") || strings.ContainsAny(u, ":/ \t\n") {
			return tasks.BadArg("users", fmt.Sprintf("%q is not a valid user name", u))
		}
	}
	return nil
}

// Options turns the arguments into doctor options.
func (t *Task) Options() Options {
	opts := Options{Users: t.Users, SmokeImage: t.SmokeImage}
	for _, name := range t.Checks {
		if c, ok := CheckByName(name); ok && !containsInt(opts.Checks, c.ID) {
			opts.Checks = append(opts.Checks, c.ID)
			if c.ID == 20 {
				opts.Smoke = true
			}
		}
	}
	if len(opts.Checks) == 0 {
		for _, c := range Checks {
			if c.ID != 20 {
				opts.Checks = append(opts.Checks, c.ID)
			}
		}
	}
	return opts
}

// Check runs the checks. The plan is always empty; failing checks make an
// error with the same text as `provision doctor`.
func (t *Task) Check(ctx context.Context, sys *tasks.System) (tasks.Plan, error) {
	if err := t.Validate(); err != nil {
		return tasks.Plan{}, err
	}
	opts := t.Options()
	var plan tasks.Plan
	if sys.Image {
		if imageChecks(&opts, &plan); len(opts.Checks) == 0 {
			return plan, nil
		}
	}
	rep := Run(ctx, sys, opts)
	bad := Report{V: rep.V, Users: rep.Users}
	for _, r := range rep.Results {
		switch {
		case r.Status == Fail, r.Status == Warn && t.FailOn == "warn":
			bad.Results = append(bad.Results, r)
		case r.Status == Warn:
			plan.Warn(warningText(r))
		}
	}
	if len(bad.Results) == 0 {
		return plan, nil
	}
	var b strings.Builder
	if err := Render(&b, bad, false); err != nil {
		return plan, err
	}
	c := bad.Counts()
	head := fmt.Sprintf("%d %s failed", c[Fail], plural(c[Fail], "check", "checks"))
	if c[Warn] > 0 {
		head = fmt.Sprintf("%d failed and %d warned (fail_on: warn)", c[Fail], c[Warn])
	}
	// Drop Render's summary line: the head says it.
	body := strings.TrimSpace(b.String())
	if i := strings.LastIndex(body, "\n\n"); i >= 0 {
		body = body[:i]
	}
	return plan, errors.New(head + "\n" + body)
}

// imageFileChecks are the checks that read only the image's files; the
// others need the booted host: its kernel, a user session, podman running.
var imageFileChecks = map[int]bool{1: true, 2: true, 3: true, 4: true, 6: true, 7: true, 8: true, 16: true}

// imageChecks keeps the checks an image being built can answer, and notes
// the others: they would judge the build machine, not the image.
func imageChecks(opts *Options, plan *tasks.Plan) {
	var kept []int
	var skipped []string
	for _, id := range opts.Checks {
		if imageFileChecks[id] {
			kept = append(kept, id)
		} else {
			skipped = append(skipped, strconv.Itoa(id))
		}
	}
	opts.Checks, opts.Smoke = kept, false
	if len(skipped) > 0 {
		plan.Warn("image build: doctor checks " + strings.Join(skipped, ", ") + " need the booted host (its kernel, a user session, podman running) and are skipped; run provision doctor after boot")
	}
}

// warningText renders a warning result on one line, with its first fix.
func warningText(r Result) string {
	who := ""
	if r.User != "" {
		who = " (" + r.User + ")"
	}
	s := fmt.Sprintf("doctor check %d %s%s: %s", r.ID, r.Name, who, strings.ReplaceAll(r.Found, "\n", "; "))
	if len(r.Fix) > 0 {
		s += "; fix: " + r.Fix[0].String()
	}
	return s
}

// Apply does nothing: the plan of a doctor task is always empty.
func (t *Task) Apply(context.Context, *tasks.System, tasks.Plan) error { return nil }

func containsInt(l []int, x int) bool {
	for _, y := range l {
		if y == x {
			return true
		}
	}
	return false
}

var _ tasks.Task = (*Task)(nil)
