package doctor

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/users"
)

// 1. podman is installed, and its version.
func checkPodmanInstalled(ctx context.Context, e *env) outcome {
	p := e.podman()
	if p == "" {
		return outcome{status: Fail,
			found:   "podman is not in PATH (" + tasks.BasePath + ")",
			symptom: "podman: command not found",
			fix:     fixes(task("package", arg{"names", []string{"podman"}}))}
	}
	v, verr := e.podmanVersion(ctx)
	if e.versionRunErr {
		return pass(fmt.Sprintf("%s is installed; its version is unknown: %s", p, verr))
	}
	if verr != "" {
		return outcome{status: Warn, found: fmt.Sprintf("%s is installed but `podman --version` failed: %s", p, verr),
			fix: fixes(task("package", arg{"names", []string{"podman"}}, arg{"state", "latest"}))}
	}
	found := fmt.Sprintf("podman version %s at %s", v, p)
	switch {
	case !versionAtLeast(v, 4, 0):
		return outcome{status: Warn,
			found: found + ": podman 3.x uses CNI only (no netavark, no .Host.NetworkBackend), has no pasta and no quadlet",
			fix: fixes(task("package", arg{"names", []string{"podman"}}, arg{"state", "latest"}),
				note("4.4 or later is recommended; the distribution release may have to change"))}
	case !versionAtLeast(v, 4, 4):
		return pass(found + " (4.4 or later is recommended for pasta and quadlet)")
	}
	return pass(found)
}

// 2. podman is not setuid: a setuid-root podman hands every user root.
func checkPodmanSetuid(_ context.Context, e *env) outcome {
	p := e.podman()
	if p == "" {
		return skip("podman is not installed (check 1)")
	}
	fi, err := e.sys.Stat(p)
	if err != nil {
		return skip("cannot stat " + p + ": " + err.Error())
	}
	if fi.Mode()&fs.ModeSetuid == 0 {
		return pass(fmt.Sprintf("%s has mode %s, no setuid bit", p, octalMode(fi.Mode())))
	}
	return outcome{status: Fail,
		found: fmt.Sprintf("%s is setuid: mode %s, owner uid %d; it runs rootful for every caller (CRITICAL)",
			p, octalMode(fi.Mode()), e.ownerOf(p, fi)),
		symptom: "(silent) every user can act as root",
		fix:     fixes(command("chmod u-s "+p, "", "never make podman setuid; only newuidmap and newgidmap need privilege"))}
}

// octalMode renders permissions with the setuid, setgid and sticky bits as
// stat -c %a does (4755).
func octalMode(m fs.FileMode) string {
	v := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return strconv.FormatUint(uint64(v), 8)
}

var idMapTools = []struct {
	name string
	cap  int
	capN string
}{{"newuidmap", capSetuid, "cap_setuid"}, {"newgidmap", capSetgid, "cap_setgid"}}

// 3. newuidmap and newgidmap are installed.
func checkIDMapPresent(_ context.Context, e *env) outcome {
	var found, missing []string
	for _, t := range idMapTools {
		if p := e.lookPath(t.name); p != "" {
			found = append(found, p)
		} else {
			missing = append(missing, t.name)
		}
	}
	if len(missing) == 0 {
		return pass(strings.Join(found, ", "))
	}
	var symptoms []string
	for _, m := range missing {
		symptoms = append(symptoms, fmt.Sprintf(`command required for rootless mode with multiple IDs: exec: "%s": executable file not found in $PATH`, m))
	}
	return outcome{status: Fail,
		found:   strings.Join(missing, " and ") + " not found in PATH (" + tasks.BasePath + ")",
		symptom: strings.Join(symptoms, "\n"),
		fix:     fixes(task("package", arg{"names", []string{e.pkgName("uidmap", "shadow-utils")}}))}
}

// 4. newuidmap and newgidmap are setuid root (on a mount without nosuid)
// or carry cap_setuid / cap_setgid as file capabilities.
func checkIDMapPrivileged(_ context.Context, e *env) outcome {
	var good, bad []string
	var fx []Fix
	checked := 0
	for _, t := range idMapTools {
		p := e.lookPath(t.name)
		if p == "" {
			continue
		}
		checked++
		fi, err := e.sys.Stat(p)
		if err != nil {
			bad = append(bad, fmt.Sprintf("cannot stat %s: %v", p, err))
			continue
		}
		setuid := fi.Mode()&fs.ModeSetuid != 0 && e.ownerOf(p, fi) == 0
		if setuid {
			if ms, err := e.readMounts(); err == nil {
				if m, ok := mountFor(ms, p); ok && m.has("nosuid") {
					bad = append(bad, fmt.Sprintf("%s is setuid root but %s is mounted nosuid", p, m.point))
					fx = append(fx, command(fmt.Sprintf("setcap %s=ep %s", t.capN, p), "", "file capabilities work on a nosuid mount"))
					continue
				}
			}
			good = append(good, fmt.Sprintf("%s is setuid root (mode %s)", p, octalMode(fi.Mode())))
			continue
		}
		perm, eff, has, err := fileCaps(e.sys.MustPath(p))
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: cannot read file capabilities: %v", p, err))
			continue
		}
		if has && eff && perm&(1<<t.cap) != 0 {
			good = append(good, fmt.Sprintf("%s has %s=ep", p, t.capN))
			continue
		}
		capDesc := "no file capabilities"
		if has {
			capDesc = fmt.Sprintf("file capabilities without %s=ep (permitted %#x, effective %v)", t.capN, perm, eff)
		}
		bad = append(bad, fmt.Sprintf("%s is neither setuid root (mode %s, owner uid %d) nor has %s=ep: %s",
			p, octalMode(fi.Mode()), e.ownerOf(p, fi), t.capN, capDesc))
		fx = append(fx, command(fmt.Sprintf("setcap %s=ep %s", t.capN, p), "", ""))
	}
	if checked == 0 {
		return skip("newuidmap and newgidmap are not installed (check 3)")
	}
	if len(bad) == 0 {
		return pass(strings.Join(good, "; "))
	}
	fx = append(fx, command(e.pkgName("apt-get install --reinstall uidmap", "dnf reinstall shadow-utils"), "",
		"or reinstall the package, which restores setuid or file capabilities"))
	return outcome{status: Fail, found: strings.Join(append(bad, good...), "\n"),
		symptom: "newuidmap: write to uid_map failed: Operation not permitted\n" +
			`cannot set up namespace using "/usr/bin/newuidmap": should have setuid or have filecaps setuid`,
		fix: fx}
}

// 5. user namespaces are enabled.
func checkUserNamespaces(_ context.Context, e *env) outcome {
	symptom := "cannot clone: Invalid argument\n" +
		"user namespaces are not enabled in /proc/sys/user/max_user_namespaces\n" +
		"Error: could not get runtime: cannot re-exec process"
	read := func(p string) (int64, bool, error) {
		data, ok, err := e.sys.ReadFileIfExists(p)
		if err != nil || !ok {
			return 0, ok, err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		return n, true, err
	}
	max, ok, err := read("/proc/sys/user/max_user_namespaces")
	if err != nil || !ok {
		why := "missing"
		if err != nil {
			why = err.Error()
		}
		return skip("cannot read /proc/sys/user/max_user_namespaces: " + why)
	}
	if max <= 0 {
		return outcome{status: Fail, found: fmt.Sprintf("user.max_user_namespaces = %d", max), symptom: symptom,
			fix: fixes(task("sysctl", arg{"name", "user.max_user_namespaces"}, arg{"value", "15000"}))}
	}
	found := fmt.Sprintf("user.max_user_namespaces = %d", max)
	if clone, ok, err := read("/proc/sys/kernel/unprivileged_userns_clone"); err == nil && ok {
		if clone != 1 {
			return outcome{status: Fail, found: found + fmt.Sprintf("; kernel.unprivileged_userns_clone = %d", clone), symptom: symptom,
				fix: fixes(task("sysctl", arg{"name", "kernel.unprivileged_userns_clone"}, arg{"value", "1"}))}
		}
		found += "; kernel.unprivileged_userns_clone = 1"
	}
	if aa, ok, err := read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); err == nil && ok && aa == 1 {
		p := e.podman()
		if p != "" && p != "/usr/bin/podman" {
			return outcome{status: Warn,
				found:   found + "; kernel.apparmor_restrict_unprivileged_userns = 1 and podman is " + p + ", not the distribution's /usr/bin/podman that AppArmor allows",
				symptom: symptom,
				fix: fixes(note("give "+p+" an AppArmor profile with a `userns,` rule, or use the distribution's podman"),
					task("sysctl", arg{"name", "kernel.apparmor_restrict_unprivileged_userns"}, arg{"value", "0"}))}
		}
		found += "; kernel.apparmor_restrict_unprivileged_userns = 1 (the distribution's podman is allowed)"
	}
	return pass(found)
}

// 6. /etc/subuid and /etc/subgid exist, are readable and every line
// parses.
func checkSubidFiles(_ context.Context, e *env) outcome {
	var bad, good, symptoms []string
	var fx []Fix
	missing := false
	for _, f := range []*idFile{e.subuid(), e.subgid()} {
		switch {
		case f.err != nil:
			bad = append(bad, fmt.Sprintf("cannot read %s: %v", f.path, f.err))
			continue
		case !f.exists:
			missing = true
			bad = append(bad, f.path+" does not exist")
			symptoms = append(symptoms, fmt.Sprintf("usermod: %s does not exist, you cannot use the flags %s", f.path, map[bool]string{true: "-v or -V", false: "-w or -W"}[f.path == "/etc/subuid"]))
			continue
		}
		for _, p := range f.problems {
			bad = append(bad, fmt.Sprintf("%s line %d: %s: %q", f.path, p.Line, p.Msg, p.Text))
			symptoms = append(symptoms, parseSymptom(f.path, p.Text))
		}
		if len(f.problems) > 0 {
			fx = append(fx, note(fmt.Sprintf("correct or delete the bad lines of %s by hand (no module rewrites other owners' lines); one bad line breaks rootless podman for every user", f.path)))
		}
		if f.mode.Perm()&0o004 == 0 {
			bad = append(bad, fmt.Sprintf("%s is mode %s, not readable by users", f.path, octalMode(f.mode)))
			symptoms = append(symptoms, "(inferred) podman built without libsubid reads "+f.path+" as the user and cannot see any range")
			fx = append(fx, command("chmod 0644 "+f.path, "", "podman without libsubid reads the file as the user"))
		}
		good = append(good, fmt.Sprintf("%s: %d %s", f.path, len(f.ranges), plural(len(f.ranges), "range", "ranges")))
	}
	if len(bad) == 0 {
		return pass(strings.Join(good, "; "))
	}
	if missing {
		names := []string{}
		for _, s := range e.subjects() {
			if s.exists {
				names = append(names, s.name)
			}
		}
		if len(names) == 0 {
			names = []string{"USER"}
		}
		var sub []Fix
		for _, n := range names {
			sub = append(sub, task("subid", arg{"user", n}))
		}
		sub[0].Note = "the subid task creates missing files (0644 root:root)"
		fx = append(sub, fx...)
	}
	return outcome{status: Fail, found: strings.Join(bad, "\n"), symptom: strings.Join(uniq(symptoms), "\n"), fix: fx}
}

// parseSymptom names the error containers/storage's own parser gives for a
// bad line (podman without libsubid, as on Debian): a line that does not
// split into 3 fields fails the whole file, a non-number fails the
// conversion; anything else (whitespace, leading zeros) shadow rejects.
func parseSymptom(path, text string) string {
	f := strings.Split(strings.TrimSpace(text), ":")
	if len(f) != 3 {
		return "cannot parse subuid/gid information: Format not correct for " + path + " file"
	}
	for _, n := range f[1:] {
		if _, err := strconv.ParseUint(n, 10, 32); err != nil {
			return "string to int conversion failed during subuid/gid parsing of " + path
		}
	}
	return "whitespace in any row of /etc/subuid or /etc/subgid, including trailing blanks, may result in no entry failures (podman(1))"
}

func uniq(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// 8. subordinate ranges are pairwise disjoint across owners, contain no
// owner's own ID and no ID in use, and lie within SUB_UID_MIN..SUB_UID_MAX
// (advisory).
func checkOverlaps(ctx context.Context, e *env) outcome {
	uf, gf := e.subuid(), e.subgid()
	if !uf.usable() && !gf.usable() {
		return skip("neither /etc/subuid nor /etc/subgid can be read (check 6)")
	}
	all, err := e.sys.Facts.Users()
	if err != nil {
		return skip("cannot read /etc/passwd: " + err.Error())
	}
	groups, err := e.sys.Facts.Groups()
	if err != nil {
		return skip("cannot read /etc/group: " + err.Error())
	}
	key := users.OwnerKey(all)
	ld := e.sys.Facts.LoginDefs()

	// IDs in use: UIDs for subuid; GIDs of groups and primary GIDs for subgid.
	uidNames, gidNames := map[int64]string{}, map[int64]string{}
	for _, u := range all {
		if _, ok := uidNames[u.UID]; !ok {
			uidNames[u.UID] = "user " + u.Name
		}
		if _, ok := gidNames[u.GID]; !ok {
			gidNames[u.GID] = "primary group of " + u.Name
		}
	}
	for _, g := range groups {
		gidNames[g.GID] = "group " + g.Name
	}
	nssNote := e.addNSSIDs(ctx, uidNames, gidNames)

	var fails, warns, symptoms []string
	var fx []Fix
	addFix := func(owner string, line int, path string) {
		if u, ok := e.sys.Facts.LookupUser(owner); ok {
			fx = append(fx, task("subid", arg{"user", u.Name}))
			return
		}
		fx = append(fx, note(fmt.Sprintf("%s line %d belongs to %q, who is not a local user: remove or move it by hand", path, line, owner)))
	}
	files := []struct {
		f        *idFile
		ids      map[int64]string
		what     string
		min, max int64
		window   string
	}{
		{uf, uidNames, "UID", ld.SubUIDMin, ld.SubUIDMax, "SUB_UID_MIN..SUB_UID_MAX"},
		{gf, gidNames, "GID", ld.SubGIDMin, ld.SubGIDMax, "SUB_GID_MIN..SUB_GID_MAX"},
	}
	for _, x := range files {
		if !x.f.usable() {
			continue
		}
		for _, o := range users.Overlaps(x.f.ranges, key) {
			fails = append(fails, fmt.Sprintf("%s: %s %s (line %d) overlaps %s %s (line %d)",
				x.f.path, o.B.Owner, o.B, o.B.Line, o.A.Owner, o.A, o.A.Line))
			symptoms = append(symptoms, "(silent) \"If there is overlap, there is a potential for a user to use another user's namespace and they could corrupt it.\"")
			addFix(o.B.Owner, o.B.Line, x.f.path)
		}
		ids := make([]int64, 0, len(x.ids))
		for id := range x.ids {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, r := range x.f.ranges {
			own, ownKnown := ownerID(e, r.Owner, x.what)
			if ownKnown && r.Contains(own) {
				fails = append(fails, fmt.Sprintf("%s line %d: %s %s contains the owner's own %s %d", x.f.path, r.Line, r.Owner, r, x.what, own))
				symptoms = append(symptoms, fmt.Sprintf("invalid configuration: the specified mapping %d:%d in %q includes the user %s", r.Start, r.Count, x.f.path, x.what))
				addFix(r.Owner, r.Line, x.f.path)
			} else if id, ok := users.FirstContained(r, ids); ok {
				fails = append(fails, fmt.Sprintf("%s line %d: %s %s contains %s %d (%s)", x.f.path, r.Line, r.Owner, r, x.what, id, x.ids[id]))
				symptoms = append(symptoms, fmt.Sprintf("(silent) %s can own the files of %s", r.Owner, x.ids[id]))
				addFix(r.Owner, r.Line, x.f.path)
			}
			if r.Start < x.min || r.End()-1 > x.max {
				warns = append(warns, fmt.Sprintf("%s line %d: %s %s lies outside %s (%d..%d) of /etc/login.defs",
					x.f.path, r.Line, r.Owner, r, x.window, x.min, x.max))
			}
		}
	}
	found := strings.Join(append(fails, warns...), "\n")
	if nssNote != "" {
		if found != "" {
			found += "\n"
		}
		found += nssNote
	}
	switch {
	case len(fails) > 0:
		return outcome{status: Fail, found: found, symptom: strings.Join(uniq(symptoms), "\n"), fix: dedupFixes(fx)}
	case len(warns) > 0:
		return outcome{status: Warn, found: found,
			symptom: "(advisory) useradd may later hand out IDs in these ranges",
			fix:     fixes(note("keep subordinate ranges inside the login.defs window; the subid task allocates there"))}
	}
	n := len(uf.ranges) + len(gf.ranges)
	msg := fmt.Sprintf("%d %s, disjoint, none contains an ID in use", n, plural(n, "range", "ranges"))
	if nssNote != "" {
		msg += "; " + nssNote
	}
	return pass(msg)
}

// ownerID resolves a range owner to the ID podman compares with: the
// user's UID (subuid) or primary GID (subgid).
func ownerID(e *env, owner, what string) (int64, bool) {
	u, ok := e.sys.Facts.LookupUser(owner)
	if !ok {
		if what == "UID" {
			if n, err := strconv.ParseInt(owner, 10, 64); err == nil {
				return n, true
			}
		}
		return 0, false
	}
	if what == "UID" {
		return u.UID, true
	}
	return u.GID, true
}

func dedupFixes(fx []Fix) []Fix {
	var out []Fix
	seen := map[string]bool{}
	for _, f := range fx {
		k := f.String()
		if !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	return out
}

// addNSSIDs adds the IDs that NSS sources other than files serve (SSSD,
// LDAP, ...) by enumerating `getent passwd` and `getent group` when
// /etc/nsswitch.conf uses such a source. It returns a note for the report.
func (e *env) addNSSIDs(ctx context.Context, uids, gids map[int64]string) string {
	data, ok, err := e.sys.ReadFileIfExists("/etc/nsswitch.conf")
	if err != nil || !ok {
		return ""
	}
	var remote []string
	for _, db := range []string{"passwd", "group"} {
		for _, src := range nssSources(string(data), db) {
			switch src {
			case "files", "compat", "systemd", "altfiles":
			default:
				remote = append(remote, db+": "+src)
			}
		}
	}
	if len(remote) == 0 {
		return ""
	}
	n := 0
	for _, db := range []string{"passwd", "group"} {
		r, err := e.sys.Run(ctx, tasks.Cmd{Argv: []string{"getent", db}, Dir: "/"})
		if err != nil || r.ExitCode != 0 {
			continue
		}
		for _, line := range strings.Split(r.Stdout, "\n") {
			f := strings.Split(line, ":")
			if len(f) < 3 {
				continue
			}
			id, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				continue
			}
			m := uids
			what := "user "
			if db == "group" {
				m, what = gids, "group "
			}
			if _, ok := m[id]; !ok {
				m[id] = what + f[0] + " (from NSS)"
				n++
			}
		}
	}
	return fmt.Sprintf("nsswitch.conf uses %s: also checked %d IDs from getent (IDs that cannot be enumerated, e.g. SSSD with enumerate = false, are not seen)",
		strings.Join(remote, ", "), n)
}

// nssSources returns the sources of one database in nsswitch.conf.
func nssSources(conf, db string) []string {
	for _, line := range strings.Split(conf, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != db {
			continue
		}
		var out []string
		for _, w := range strings.Fields(v) {
			if !strings.HasPrefix(w, "[") {
				out = append(out, w)
			}
		}
		return out
	}
	return nil
}

// userDesc renders a user for messages.
func userDesc(u facts.User) string { return fmt.Sprintf("%s (uid %d)", u.Name, u.UID) }
