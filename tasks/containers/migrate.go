package containers

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/users"
)

// PodmanMigrate runs `podman system migrate` for a user whose running user
// namespace no longer matches /etc/subuid and /etc/subgid.
type PodmanMigrate struct {
	User  string `yaml:"user" required:"true" doc:"the rootless podman user (name or UID)"`
	Force bool   `yaml:"force" doc:"run migrate even when the running namespace looks current (the task then always reports changed)"`
}

func init() {
	tasks.Register(tasks.Module{
		Name:    "podman_migrate",
		Summary: "refresh a rootless podman user's namespace after subuid or subgid changes",
		Doc: `Rootless podman keeps a pause process that holds the user namespace; its
ID mappings are fixed when it starts, so new or changed ranges in /etc/subuid
and /etc/subgid only take effect once it is gone. ` + "`podman system migrate`" + `,
run as the user, stops the user's containers and kills the pause process, so
the next podman command builds a fresh namespace from the files.

When building an image (docs/images.md) the task plans nothing and says
why: no user session has run podman in an image, so there is no pause
process and no namespace to be stale; the first podman after boot builds
its namespace from the ranges the image was given.

Check is exact rather than a blind command. It reads the pause process ID
from /run/user/UID/libpod/tmp/pause.pid, checks the process is alive and
belongs to the user (/proc/PID/status), and compares /proc/PID/uid_map and
gid_map with what the files grant: ` + "`0 UID 1`" + ` (or the primary GID) and then
` + "`1 START COUNT`" + ` for the first range, with the inside IDs continuing
cumulatively for further ranges (podman orders ranges by start). Entries are
matched by user name or numeric UID in both files, as containers/storage
does. The task plans "migrate" only when the running namespace is stale; with
no live pause process there is nothing to migrate, since the next podman
command starts from the files anyway.

Apply runs ` + "`podman system migrate`" + ` as the user with a session-like
environment (HOME, XDG_RUNTIME_DIR=/run/user/UID), from /.

Migrate **stops all of the user's running containers** and does not restart
them: use it as a handler notified by the subid task, and restart the user's
services (for example Quadlet units) after it. ` + "`force: true`" + ` always runs it.`,
		Example: `# A handler, notified by the subid task that changes alice's ranges:
#   handlers:
- name: migrate alice
  podman_migrate:
    user: alice`,
		New: func() tasks.Task { return new(PodmanMigrate) },
	})
}

// Validate checks the arguments without touching the host.
func (m *PodmanMigrate) Validate() error {
	switch {
	case m.User == "":
		return tasks.BadArg("user", "is required")
	case strings.HasPrefix(m.User, "-"):
		return tasks.BadArg("user", "must not start with '-'")
	case strings.ContainsAny(m.User, ":/ \t\n"):
		return tasks.BadArg("user", "is not a valid user name")
	}
	return nil
}

// Imperative reports whether the plan is an action rather than a state:
// with force it runs every time.
func (m *PodmanMigrate) Imperative() bool { return m.Force }

// idMapLine is one line of /proc/PID/uid_map: inside, outside, count.
type idMapLine struct{ inside, outside, count int64 }

type idMap []idMapLine

func (mp idMap) String() string {
	parts := make([]string, len(mp))
	for i, l := range mp {
		parts[i] = fmt.Sprintf("%d %d %d", l.inside, l.outside, l.count)
	}
	return strings.Join(parts, ", ")
}

func (mp idMap) sorted() idMap {
	out := append(idMap(nil), mp...)
	sort.Slice(out, func(i, j int) bool { return out[i].inside < out[j].inside })
	return out
}

func (mp idMap) equal(o idMap) bool {
	a, b := mp.sorted(), o.sorted()
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// parseIDMap parses the whitespace-separated columns of
// /proc/PID/uid_map or gid_map.
func parseIDMap(data []byte) (idMap, error) {
	var out idMap
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want 3 columns, have %d", n, len(f))
		}
		var l idMapLine
		for i, p := range []*int64{&l.inside, &l.outside, &l.count} {
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
			*p = v
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

// subRange is one subordinate ID range.
type subRange struct{ start, count int64 }

// readSubIDs returns the ranges /etc/subuid or /etc/subgid grant a user,
// matched by name or numeric UID, in file order, read with the subid
// module's strict parser. Malformed lines are ignored with a warning. A
// missing file grants nothing.
func readSubIDs(sys *tasks.System, p *tasks.Plan, path, name string, uid int64) ([]subRange, error) {
	data, exists, err := sys.ReadFileIfExists(path)
	if err != nil || !exists {
		return nil, err
	}
	uidStr := strconv.FormatInt(uid, 10)
	ranges, problems := users.Ranges(data)
	for _, pr := range problems {
		// A malformed line is subid's to repair (it runs before this
		// handler); here it can only be ignored, as libsubid ignores it.
		p.Warn(fmt.Sprintf("%s:%d: malformed line ignored: %s", path, pr.Line, pr.Msg))
	}
	var out []subRange
	for _, r := range ranges {
		if r.Owner == name || r.Owner == uidStr {
			out = append(out, subRange{r.Start, r.Count})
		}
	}
	return out, nil
}

// expectedMap is the mapping podman sets up for an ID and its ranges:
// the ID itself as 0, then the ranges, lowest start first, at cumulative
// inside IDs from 1 (containers/storage idtools createIDMap).
func expectedMap(id int64, ranges []subRange) idMap {
	rs := append([]subRange(nil), ranges...)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
	out := idMap{{0, id, 1}}
	next := int64(1)
	for _, r := range rs {
		out = append(out, idMapLine{next, r.start, r.count})
		next += r.count
	}
	return out
}

// pausePID returns the user's live pause process, or 0 when there is none.
func pausePID(sys *tasks.System, u facts.User) (int, error) {
	pidFile := fmt.Sprintf("/run/user/%d/libpod/tmp/pause.pid", u.UID)
	data, exists, err := sys.ReadFileIfExists(pidFile)
	if err != nil || !exists {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		sys.Logf().Debugf("podman_migrate: %s holds no process ID: %q", pidFile, data)
		return 0, nil
	}
	status, exists, err := sys.ReadFileIfExists(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return 0, err
		}
		return 0, nil // the process went away while we looked
	}
	if !exists {
		return 0, nil
	}
	owner, ok := statusUID(status)
	if !ok || owner != u.UID {
		sys.Logf().Debugf("podman_migrate: process %d from %s is not %s's (uid %d)", pid, pidFile, u.Name, owner)
		return 0, nil
	}
	return pid, nil
}

// statusUID returns the real UID from /proc/PID/status.
func statusUID(status []byte) (int64, bool) {
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0, false
			}
			v, err := strconv.ParseInt(f[0], 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// Check compares the user's running namespace with the subid files.
func (m *PodmanMigrate) Check(_ context.Context, sys *tasks.System) (tasks.Plan, error) {
	var p tasks.Plan
	if err := m.Validate(); err != nil {
		return p, err
	}
	if sys.Image {
		// No user session has run podman in an image being built, so no
		// user namespace exists to be stale: the first podman after boot
		// creates it from the subid files.
		p.Warn(fmt.Sprintf("image build: no podman session of %s runs here; its first podman after boot reads the new ranges, nothing to migrate", m.User))
		return p, nil
	}
	u, ok := sys.Facts.LookupUser(m.User)
	if !ok {
		// A user that does not exist runs no podman: nothing is stale. In
		// check mode an earlier task may only have planned to create them.
		p.Warn(fmt.Sprintf("user %s does not exist (yet): no user namespace to migrate", m.User))
		return p, nil
	}
	uids, err := readSubIDs(sys, &p, "/etc/subuid", u.Name, u.UID)
	if err != nil {
		return p, err
	}
	gids, err := readSubIDs(sys, &p, "/etc/subgid", u.Name, u.UID)
	if err != nil {
		return p, err
	}
	wantUID, wantGID := expectedMap(u.UID, uids), expectedMap(u.GID, gids)
	after := "uid_map " + wantUID.String() + "; gid_map " + wantGID.String()
	pid, err := pausePID(sys, u)
	if err != nil {
		return p, err
	}
	if pid == 0 {
		if m.Force {
			p.Add("user namespace", "", after)
		}
		return p, nil
	}
	var cur [2]idMap
	for i, name := range []string{"uid_map", "gid_map"} {
		path := fmt.Sprintf("/proc/%d/%s", pid, name)
		data, exists, err := sys.ReadFileIfExists(path)
		if err != nil {
			return p, err
		}
		if !exists { // exited between reads
			if m.Force {
				p.Add("user namespace", "", after)
			}
			return p, nil
		}
		if cur[i], err = parseIDMap(data); err != nil {
			return p, fmt.Errorf("parse %s: %w", path, err)
		}
	}
	if m.Force || !cur[0].equal(wantUID) || !cur[1].equal(wantGID) {
		p.Add("user namespace", "uid_map "+cur[0].String()+"; gid_map "+cur[1].String(), after)
	}
	return p, nil
}

// Apply runs podman system migrate as the user.
func (m *PodmanMigrate) Apply(ctx context.Context, sys *tasks.System, p tasks.Plan) error {
	u, ok := sys.Facts.LookupUser(m.User)
	if !ok {
		return fmt.Errorf("no such user %q", m.User)
	}
	if _, err := sys.RunOK(ctx, tasks.Cmd{Argv: []string{"podman", "system", "migrate"}, User: u.Name, Dir: "/"}); err != nil {
		return fmt.Errorf("user %s: %w", u.Name, err)
	}
	return nil
}

var _ tasks.Task = (*PodmanMigrate)(nil)
var _ tasks.Validator = (*PodmanMigrate)(nil)
var _ tasks.Imperative = (*PodmanMigrate)(nil)
