package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/provision-tool/provision/tasks"
)

// commandTimeout bounds every podman command but the smoke test, so a hung
// podman (a stuck lock) cannot stall the report.
var commandTimeout = 2 * time.Minute

// runAs runs argv as s (root: no Cmd.User) from /, with a timeout. A user
// without a session first gets a runtime dir (ensureRuntimeDir).
func (e *env) runAs(ctx context.Context, s *subject, timeout time.Duration, argv ...string) (tasks.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := tasks.Cmd{Argv: argv, Dir: "/"}
	if !s.root() {
		c.User = s.name
		if err := e.ensureRuntimeDir(s); err != nil {
			return tasks.Result{}, err
		}
	}
	return e.sys.Run(ctx, c)
}

// runtimeDirOf is the runtime dir logind gives a user's sessions.
func runtimeDirOf(s *subject) string { return fmt.Sprintf("/run/user/%d", s.user.UID) }

// ensureRuntimeDir gives a user without a session the runtime dir a login
// would make, /run/user/UID (the user's, mode 0700), for the doctor's
// podman commands, so that their answers do not depend on whether a
// session of the user happens to be alive. It must be that very path:
// podman remembers the runtime dir of its first run in its database and
// refuses any other. Check 10 still reports the missing session;
// removeRuntimeDirs takes the directory away again.
func (e *env) ensureRuntimeDir(s *subject) error {
	rt := runtimeDirOf(s)
	if s.madeRuntime != nil || e.sys.Exists(rt) {
		return nil
	}
	parent, err := e.sys.Path("/run/user")
	if err != nil {
		return err
	}
	if err := os.Mkdir(parent, 0o755); err == nil {
		e.madeRunUser = true
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("a runtime dir for %s: %w", s.name, err)
	}
	hp := filepath.Join(parent, filepath.Base(rt))
	if err := os.Mkdir(hp, 0o700); err != nil {
		return fmt.Errorf("a runtime dir for %s: %w", s.name, err)
	}
	if err := os.Chown(hp, int(s.user.UID), int(s.user.GID)); err != nil && os.Geteuid() == 0 {
		os.Remove(hp)
		return fmt.Errorf("a runtime dir for %s: %w", s.name, err)
	}
	fi, err := os.Lstat(hp)
	if err != nil {
		return err
	}
	s.madeRuntime = fi
	return nil
}

// removeRuntimeDirs ends what the doctor's podman commands left in the
// runtime dirs it made: the pause process podman keeps for the user
// namespace, then the directory, both as the user, who can only touch
// what is the user's; then root removes what the user's namespace made
// (files of subordinate IDs). A directory that is no longer the one made
// (logind mounted a session's tmpfs on it meanwhile) is left alone.
func (e *env) removeRuntimeDirs(subjects []*subject) {
	for _, s := range subjects {
		if s.madeRuntime == nil {
			continue
		}
		hp, err := e.sys.Path(runtimeDirOf(s))
		if fi, lerr := os.Lstat(hp); err == nil && lerr == nil && os.SameFile(fi, s.madeRuntime) && !isMountPoint(hp) {
			const script = `pid=$(cat "$1/libpod/tmp/pause.pid" 2>/dev/null) && kill "$pid" 2>/dev/null; rm -rf -- "$1"/* "$1"/.[!.]* 2>/dev/null; true`
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			e.sys.Run(ctx, tasks.Cmd{Argv: []string{"/bin/sh", "-c", script, "sh", runtimeDirOf(s)}, Dir: "/", User: s.name})
			cancel()
			os.RemoveAll(hp) // follows no link
		}
		s.madeRuntime = nil
	}
	if e.madeRunUser {
		if hp, err := e.sys.Path("/run/user"); err == nil {
			os.Remove(hp) // only when empty
		}
		e.madeRunUser = false
	}
}

// isMountPoint reports whether a file system is mounted on dir.
func isMountPoint(dir string) bool {
	a, err1 := os.Lstat(dir)
	b, err2 := os.Lstat(filepath.Dir(dir))
	if err1 != nil || err2 != nil {
		return true
	}
	da, _ := a.Sys().(*syscall.Stat_t)
	db, _ := b.Sys().(*syscall.Stat_t)
	return da == nil || db == nil || da.Dev != db.Dev
}

// podmanVersion runs `podman --version` as root once.
func (e *env) podmanVersion(ctx context.Context) (string, string) {
	if !e.versionOnce {
		e.versionOnce = true
		r, err := e.sys.Run(ctx, tasks.Cmd{Argv: []string{e.podman(), "--version"}, Dir: "/"})
		switch {
		case err != nil:
			e.versionErr, e.versionRunErr = err.Error(), true
		case r.ExitCode != 0:
			e.versionErr = fmt.Sprintf("exit status %d: %s", r.ExitCode, quoteLines(r.Stderr+r.Stdout, 3))
		default:
			// "podman version 4.3.1"
			f := strings.Fields(r.Stdout)
			if len(f) > 0 {
				e.version = f[len(f)-1]
			}
		}
	}
	return e.version, e.versionErr
}

// versionAtLeast compares a "4.3.1"-style version with major.minor.
func versionAtLeast(v string, major, minor int) bool {
	maj, min := splitVersion(v)
	return maj > major || maj == major && min >= minor
}

func splitVersion(v string) (int, int) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	maj, _ := strconv.Atoi(parts[0])
	min := 0
	if len(parts) > 1 {
		digits := parts[1]
		if i := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
			digits = digits[:i]
		}
		min, _ = strconv.Atoi(digits)
	}
	return maj, min
}

// podmanInfo is the part of `podman info --format json` the checks read
// (libpod/define/info.go).
type podmanInfo struct {
	Host struct {
		CgroupsVersion     string `json:"cgroupVersion"`
		NetworkBackend     string `json:"networkBackend"`
		RootlessNetworkCmd string `json:"rootlessNetworkCmd"`
		Pasta              struct {
			Executable string `json:"executable"`
		} `json:"pasta"`
		Slirp4NetNS struct {
			Executable string `json:"executable"`
		} `json:"slirp4netns"`
	} `json:"host"`
	Store struct {
		ConfigFile      string            `json:"configFile"`
		GraphDriverName string            `json:"graphDriverName"`
		GraphOptions    map[string]any    `json:"graphOptions"`
		GraphRoot       string            `json:"graphRoot"`
		GraphStatus     map[string]string `json:"graphStatus"`
	} `json:"store"`
	Registries map[string]any `json:"registries"`
	Version    struct {
		Version string `json:"Version"`
	} `json:"version"`
}

// search returns the unqualified-search registries podman reported.
func (i *podmanInfo) search() []string {
	var out []string
	if l, ok := i.Registries["search"].([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// podmanInfoResult is one `podman info` run: the parsed info when it
// succeeded, else why not.
type podmanInfoResult struct {
	info   *podmanInfo
	res    tasks.Result
	err    error  // could not run
	failed string // ran and failed, or unparsable output: a description
}

// ok reports whether podman info gave usable output.
func (r *podmanInfoResult) ok() bool { return r.info != nil }

// why describes a failed run for a skip or a finding.
func (r *podmanInfoResult) why() string {
	if r.err != nil {
		return "podman info could not run: " + r.err.Error()
	}
	return r.failed
}

// podmanInfo runs `podman info --format json` as s once per run. The
// caller must have checked needPodman.
func (e *env) podmanInfo(ctx context.Context, s *subject) *podmanInfoResult {
	if s.info != nil {
		return s.info
	}
	r := &podmanInfoResult{}
	s.info = r
	r.res, r.err = e.runAs(ctx, s, commandTimeout, e.podman(), "info", "--format", "json")
	switch {
	case r.err != nil:
	case r.res.ExitCode != 0:
		r.failed = fmt.Sprintf("podman info as %s exited %d: %s", s.who(), r.res.ExitCode, quoteLines(withoutNoise(r.res.Stderr), 6))
	default:
		var info podmanInfo
		if err := json.Unmarshal([]byte(r.res.Stdout), &info); err != nil {
			r.failed = fmt.Sprintf("podman info as %s printed no usable JSON: %v", s.who(), err)
		} else {
			r.info = &info
		}
	}
	return r
}

// needInfo returns podman info for s, or a skip outcome.
func (e *env) needInfo(ctx context.Context, s *subject) (*podmanInfo, outcome, bool) {
	if o, ok := e.needPodman(ctx, s); !ok {
		return nil, o, false
	}
	r := e.podmanInfo(ctx, s)
	if !r.ok() {
		return nil, skip(r.why() + " (see check 15)"), false
	}
	return r.info, outcome{}, true
}

// known is a message from podman, newuidmap or the runtime that doctor
// recognises, with the check that explains it.
type known struct {
	text  string // a distinctive part of the message
	check int
}

// knownMessages are the messages of domain.md (and libpod's database
// mismatch) that point at a check.
var knownMessages = []known{
	{`no subuid ranges found for user`, 7},
	{`no subgid ranges found for user`, 7},
	{`Using rootless single mapping into the namespace`, 7},
	{`potentially insufficient UIDs or GIDs available in user namespace`, 7},
	{`there might not be enough IDs available in the namespace`, 7},
	{`cannot parse subuid/gid information`, 6},
	{`string to int conversion failed during subuid/gid parsing`, 6},
	{`includes the user UID`, 8},
	{`newuidmap: uid range`, 7}, // "... [A-B) -> [C-D) not allowed": not delegated
	{`newgidmap: gid range`, 7},
	{`command required for rootless mode with multiple IDs`, 3},
	{`should have setuid or have filecaps setuid`, 4},
	{`write to uid_map failed: Operation not permitted`, 4},
	{`write to gid_map failed: Operation not permitted`, 4},
	{`user namespaces are not enabled in /proc/sys/user/max_user_namespaces`, 5},
	{`cannot clone: Invalid argument`, 5},
	{`could not get runtime: cannot re-exec process`, 5},
	{`is not owned by the current user`, 10},
	{`creating tmpdir: mkdir /run/user/`, 10},
	{`The cgroupv2 manager is set to systemd but there is no systemd user session available`, 10},
	{`the requested cgroup controller`, 11},
	{`database configuration mismatch`, 12},
	{`kernel too old to provide multiple lowers feature for overlay`, 13},
	{`a network file system with user namespaces is not supported`, 14},
	{`exec user process caused "permission denied"`, 14},
	{`mixing sysregistry v1/v2 is not supported`, 15},
	{`registry must be in v2 format but is in v1`, 15},
	{`loading registries configuration`, 15},
	{`loading drop-in registries configuration`, 15},
	{`Failed to decode the keys`, 15},
	{`did not resolve to an alias and no unqualified-search registries are defined`, 17},
	{`short-name resolution enforced but cannot prompt without a TTY`, 17},
	{`could not find pasta`, 19},
	{`could not find slirp4netns`, 19},
	{`could not find "netavark" in one of`, 18},
	{`cni support is not enabled in this build`, 18},
}

// recognise returns the lines of out that carry a known message, and the
// checks they point at (in order, without repeats).
func recognise(out string) (lines []string, checks []int) {
	seen := map[int]bool{}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		for _, k := range knownMessages {
			if strings.Contains(line, k.text) {
				lines = append(lines, line)
				if !seen[k.check] {
					seen[k.check] = true
					checks = append(checks, k.check)
				}
				break
			}
		}
	}
	return lines, checks
}

// noise marks lines podman prints before any error on some hosts, which
// another check reports (podman 5 on cgroup v1: check 11): a failure
// quotes the lines after them.
var noise = []string{"Using cgroups-v1 which is deprecated in favor of cgroups-v2"}

// withoutNoise drops the noise lines from out, unless nothing else is left.
func withoutNoise(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		noisy := false
		for _, n := range noise {
			noisy = noisy || strings.Contains(l, n)
		}
		if !noisy {
			keep = append(keep, l)
		}
	}
	if strings.TrimSpace(strings.Join(keep, "")) == "" {
		return out
	}
	return strings.Join(keep, "\n")
}

// explainFailure turns a failed podman command into found and symptom,
// naming the checks that explain the recognised messages.
func explainFailure(what string, r tasks.Result, self int) (found, symptom string) {
	out := r.Stderr
	if strings.TrimSpace(out) == "" {
		out = r.Stdout
	}
	found = fmt.Sprintf("%s exited %d: %s", what, r.ExitCode, quoteLines(withoutNoise(out), 6))
	lines, checks := recognise(out)
	if len(lines) > 0 {
		symptom = strings.Join(lines, "\n")
	}
	var others []string
	for _, c := range checks {
		if c != self {
			others = append(others, strconv.Itoa(c))
		}
	}
	if len(others) > 0 {
		found += "\n(recognised: see check " + strings.Join(others, ", ") + ")"
	}
	return found, symptom
}
