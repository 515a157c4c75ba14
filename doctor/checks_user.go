package doctor

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/users"
)

// minIDs is how many subordinate IDs podman needs for ordinary images.
const minIDs = 65536

// 7. the user has ranges in both files, at least 65536 IDs each.
func checkUserRanges(ctx context.Context, e *env, s *subject) outcome {
	if !s.exists {
		return outcome{status: Fail, found: fmt.Sprintf("no user %q in /etc/passwd", s.name),
			symptom: fmt.Sprintf("cannot find UID/GID for user %s", s.name),
			fix:     fixes(task("user", arg{"name", s.name}), task("subid", arg{"user", s.name}))}
	}
	var found, bad, symptoms []string
	status := Pass
	for _, f := range []*idFile{e.subuid(), e.subgid()} {
		if !f.usable() {
			return skip(f.path + " cannot be read (check 6)")
		}
		rs := e.rangesOf(f, s.user)
		kind := "subuid"
		if f.path == "/etc/subgid" {
			kind = "subgid"
		}
		if len(rs) == 0 {
			if nss := e.getsubids(ctx, s, f.path == "/etc/subgid"); nss != "" {
				found = append(found, fmt.Sprintf("%s: none in the file; getsubids: %s", f.path, nss))
				continue
			}
			status = Fail
			bad = append(bad, fmt.Sprintf("%s has no range for %s", f.path, userDesc(s.user)))
			symptoms = append(symptoms,
				fmt.Sprintf(`cannot find UID/GID for user %s: no %s ranges found for user "%s" in %s - check rootless mode in man pages.`, s.name, kind, s.name, f.path),
				"WARN Using rootless single mapping into the namespace. This might break some images.")
			continue
		}
		n := unionSize(rs)
		if n < minIDs {
			if status == Pass {
				status = Warn
			}
			bad = append(bad, fmt.Sprintf("%s: %s has %d IDs (%s), fewer than %d", f.path, s.name, n, rangeList(rs), minIDs))
			symptoms = append(symptoms, "potentially insufficient UIDs or GIDs available in user namespace (requested 0:42 for /etc/gshadow): Check /etc/subuid and /etc/subgid if configured locally and run \"podman system migrate\": lchown /etc/gshadow: invalid argument",
				"(older podman) there might not be enough IDs available in the namespace")
			continue
		}
		found = append(found, fmt.Sprintf("%s: %s (%d IDs)", f.path, rangeList(rs), n))
	}
	if status == Pass {
		return pass(strings.Join(found, "; "))
	}
	return outcome{status: status, found: strings.Join(append(bad, found...), "\n"), symptom: strings.Join(uniq(symptoms), "\n"),
		fix: fixes(task("subid", arg{"user", s.name}, arg{"count", minIDs}), task("podman_migrate", arg{"user", s.name}))}
}

// getsubids asks libsubid (which honours the nsswitch.conf subid: source,
// e.g. SSSD) when nsswitch.conf names a source other than files and
// getsubids is installed. It returns the ranges it printed, or "".
func (e *env) getsubids(ctx context.Context, s *subject, gid bool) string {
	data, ok, err := e.sys.ReadFileIfExists("/etc/nsswitch.conf")
	if err != nil || !ok {
		return ""
	}
	src := nssSources(string(data), "subid")
	if len(src) == 0 || src[0] == "files" {
		return ""
	}
	p := e.lookPath("getsubids")
	if p == "" {
		return ""
	}
	if strings.HasPrefix(s.name, "-") {
		return ""
	}
	argv := []string{p}
	if gid {
		argv = append(argv, "-g")
	}
	r, err := e.sys.Run(ctx, tasks.Cmd{Argv: append(argv, s.name), Dir: "/"})
	if err != nil || r.ExitCode != 0 {
		return ""
	}
	// "0: alice 100000 65536"
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 {
			out = append(out, f[2]+":"+f[3])
		}
	}
	return strings.Join(out, ", ")
}

// 9. the running user namespace (podman unshare) maps what the files
// grant: 0 UID 1, then 1 START COUNT for each range in start order.
func checkNamespace(ctx context.Context, e *env, s *subject) outcome {
	if o, ok := e.needPodman(ctx, s); !ok {
		return o
	}
	uf, gf := e.subuid(), e.subgid()
	if !uf.usable() || !gf.usable() {
		return skip("/etc/subuid or /etc/subgid cannot be read (check 6)")
	}
	urs, grs := e.rangesOf(uf, s.user), e.rangesOf(gf, s.user)
	if len(urs) == 0 || len(grs) == 0 {
		return skip(s.name + " has no ranges to compare with (check 7)")
	}
	var found, stale []string
	for _, x := range []struct {
		file string
		id   int64
		rs   []users.Range
	}{{"uid_map", s.user.UID, urs}, {"gid_map", s.user.GID, grs}} {
		r, err := e.runAs(ctx, s, commandTimeout, e.podman(), "unshare", "cat", "/proc/self/"+x.file)
		if err != nil {
			return skip("podman unshare could not run: " + err.Error())
		}
		if r.ExitCode != 0 {
			f, sym := explainFailure("podman unshare cat /proc/self/"+x.file, r, 9)
			return outcome{status: Fail, found: f, symptom: sym, fix: fixes(note("fix the checks named above first"))}
		}
		got := normalizeMap(r.Stdout)
		want := expectedMap(x.id, x.rs)
		if got != want {
			stale = append(stale, fmt.Sprintf("%s is %q, the files grant %q", x.file, got, want))
		} else {
			found = append(found, fmt.Sprintf("%s %q", x.file, got))
		}
	}
	if len(stale) > 0 {
		return outcome{status: Fail, found: strings.Join(stale, "\n"),
			symptom: "stale mapping after edits to /etc/subuid or /etc/subgid: the pause process keeps the old namespace until `podman system migrate`",
			fix:     fixes(task("podman_migrate", arg{"user", s.name}))}
	}
	return pass(strings.Join(found, "; "))
}

// normalizeMap renders a /proc/PID/uid_map as "A B C; D E F".
func normalizeMap(out string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines = append(lines, strings.Join(f, " "))
		}
	}
	return strings.Join(lines, "; ")
}

func expectedMap(id int64, rs []users.Range) string {
	lines := []string{fmt.Sprintf("0 %d 1", id)}
	inside := int64(1)
	for _, r := range rs {
		lines = append(lines, fmt.Sprintf("%d %d %d", inside, r.Start, r.Count))
		inside += r.Count
	}
	return strings.Join(lines, "; ")
}

// 10. linger, and /run/user/UID exists, is the user's and mode 0700.
func checkSession(ctx context.Context, e *env, s *subject) outcome {
	uid := s.user.UID
	rt := runtimeDirOf(s)
	linger := e.sys.Exists("/var/lib/systemd/linger/" + s.name)
	service := e.serviceUnits(s)
	var fails, warns, found, symptoms []string
	var fx []Fix
	lingerFix := task("linger", arg{"user", s.name})
	if linger {
		found = append(found, "linger is enabled")
	} else {
		msg := "linger is off (/var/lib/systemd/linger/" + s.name + " is missing)"
		if service != "" {
			fails = append(fails, msg+", yet "+s.name+" has user services: "+service)
		} else {
			warns = append(warns, msg+": containers die at logout and user services do not start at boot")
		}
		symptoms = append(symptoms, "containers die at logout")
		fx = append(fx, lingerFix)
	}
	fi, err := e.sys.Stat(rt)
	if s.madeRuntime != nil {
		// The doctor's own, for its podman commands: no session.
		fi, err = nil, fs.ErrNotExist
	}
	switch {
	case err != nil:
		msg := rt + " does not exist (no session)"
		if linger && e.sys.Facts.SystemdPID1() {
			fails = append(fails, msg+" although linger is on: user-runtime-dir@"+strconv.FormatInt(uid, 10)+".service did not run")
			fx = append(fx, command("systemctl start user@"+strconv.FormatInt(uid, 10)+".service", "", ""))
		} else {
			warns = append(warns, msg+": podman run through su or sudo has no runtime dir")
			if linger {
				fx = append(fx, note("boot with systemd, or log in, to create "+rt))
			}
		}
		symptoms = append(symptoms, fmt.Sprintf("Error: creating tmpdir: mkdir %s: permission denied", rt))
	case !fi.IsDir():
		fails = append(fails, rt+" is not a directory")
	default:
		owner := e.ownerOf(rt, fi)
		switch {
		case int64(owner) != uid:
			fails = append(fails, fmt.Sprintf("%s is owned by uid %d, not %s", rt, owner, userDesc(s.user)))
			symptoms = append(symptoms, fmt.Sprintf("ERRO XDG_RUNTIME_DIR directory %q is not owned by the current user", rt))
			fx = append(fx, command(fmt.Sprintf("chown %d:%d %s && chmod 0700 %s", uid, s.user.GID, rt, rt), "", "or log out and in again so logind recreates it"))
		case fi.Mode().Perm() != 0o700:
			warns = append(warns, fmt.Sprintf("%s is mode %s, not 0700: podman falls back to $TMPDIR/storage-run-%d", rt, octalMode(fi.Mode()), uid))
			fx = append(fx, command("chmod 0700 "+rt, "", ""))
		default:
			found = append(found, rt+" is "+s.name+"'s, mode 0700")
		}
	}
	// podman's own warning when it finds no systemd user session.
	if _, ok := e.needPodman(ctx, s); ok {
		r := e.podmanInfo(ctx, s)
		if r.err == nil && strings.Contains(r.res.Stderr, "no systemd user session available") {
			warns = append(warns, "podman found no systemd user session (no D-Bus user bus)")
			symptoms = append(symptoms, "The cgroupv2 manager is set to systemd but there is no systemd user session available ... Falling back to --cgroup-manager=cgroupfs")
			if linger {
				fx = append(fx, task("package", arg{"names", []string{e.pkgName("dbus-user-session", "dbus")}}))
			} else {
				fx = append(fx, lingerFix)
			}
		}
	}
	all := append(append(fails, warns...), found...)
	switch {
	case len(fails) > 0:
		return outcome{status: Fail, found: strings.Join(all, "\n"), symptom: strings.Join(uniq(symptoms), "\n"), fix: dedupFixes(fx)}
	case len(warns) > 0:
		return outcome{status: Warn, found: strings.Join(all, "\n"), symptom: strings.Join(uniq(symptoms), "\n"), fix: dedupFixes(fx)}
	}
	return pass(strings.Join(found, "; "))
}

// serviceUnits lists the user's quadlet files and enabled user units: a
// user who has them is a service user and needs linger.
func (e *env) serviceUnits(s *subject) string {
	var out []string
	for _, dir := range []string{
		path.Join(s.user.Home, ".config/containers/systemd"),
		path.Join(s.user.Home, ".config/systemd/user/default.target.wants"),
	} {
		entries, err := e.files(s).ReadDir(dir)
		if err != nil {
			continue
		}
		for _, ent := range entries {
			n := ent.Name()
			switch path.Ext(n) {
			case ".container", ".kube", ".pod", ".service":
				out = append(out, path.Join(dir, n))
			}
		}
	}
	if len(out) > 3 {
		out = append(out[:3], "...")
	}
	return strings.Join(out, ", ")
}

// 11. cgroup v2, and the user's systemd manager has memory and pids
// delegated.
func checkCgroups(ctx context.Context, e *env, s *subject) outcome {
	version := ""
	if ms, err := e.readMounts(); err == nil {
		if m, ok := mountFor(ms, "/sys/fs/cgroup"); ok && m.point == "/sys/fs/cgroup" {
			switch m.fstype {
			case "cgroup2":
				version = "v2"
			default:
				version = "v1"
			}
		}
	}
	if version == "" {
		if info, _, ok := e.needInfo(ctx, s); ok && info.Host.CgroupsVersion != "" {
			version = info.Host.CgroupsVersion
		}
	}
	switch version {
	case "":
		return skip("cannot tell the cgroup version: /sys/fs/cgroup is not in /proc/self/mountinfo and podman info is unavailable")
	case "v1":
		return outcome{status: Warn, found: "cgroup v1 (hybrid or legacy hierarchy): rootless resource limits are ignored",
			symptom: msgCgroupsV1 + " (podman 5 on every command; containers still run, with the cgroupfs manager); --memory, --cpus and --pids-limit are ignored for rootless containers",
			fix:     fixes(note("boot with systemd.unified_cgroup_hierarchy=1 (the default on RHEL 9, Debian 11 and later)"))}
	}
	uid := strconv.FormatInt(s.user.UID, 10)
	p := "/sys/fs/cgroup/user.slice/user-" + uid + ".slice/user@" + uid + ".service/cgroup.controllers"
	data, ok, err := e.sys.ReadFileIfExists(p)
	if err != nil || !ok {
		return skip("cgroup v2, but " + s.name + "'s systemd user manager is not running (" + p + " is missing): cannot see the delegated controllers (see check 10)")
	}
	have := map[string]bool{}
	for _, c := range strings.Fields(string(data)) {
		have[c] = true
	}
	var missing, optional []string
	for _, c := range []string{"memory", "pids"} {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	for _, c := range []string{"cpu", "cpuset", "io"} {
		if !have[c] {
			optional = append(optional, c)
		}
	}
	found := fmt.Sprintf("cgroup v2; delegated to user@%s.service: %s", uid, strings.TrimSpace(string(data)))
	if len(missing) == 0 {
		if len(optional) > 0 {
			found += " (not delegated: " + strings.Join(optional, " ") + "; needed only for those limits)"
		}
		return pass(found)
	}
	return outcome{status: Fail, found: found + "; missing " + strings.Join(missing, " "),
		symptom: "Error: OCI runtime error: crun: the requested cgroup controller `" + missing[0] + "` is not available",
		fix: fixes(task("copy", arg{"dest", "/etc/systemd/system/user@.service.d/delegate.conf"},
			arg{"content", "[Service]\nDelegate=memory pids cpu cpuset\n"}),
			command("systemctl daemon-reload", "", "then the user logs in again (or restart user@"+uid+".service)"))}
}

// graphRoot is where the user's storage lives: podman's answer when it
// ran, else what storage.conf and the rootless defaults say.
func (e *env) graphRoot(ctx context.Context, s *subject) string {
	if _, ok := e.needPodman(ctx, s); ok {
		if r := e.podmanInfo(ctx, s); r.ok() && r.info.Store.GraphRoot != "" {
			return r.info.Store.GraphRoot
		}
	}
	return e.defaultGraphRoot(s)
}

// resetFix is `podman system reset` as the user: destructive, so doctor
// only recommends it.
func resetFix(s *subject, why string) Fix {
	return command("podman system reset", s.name, "deletes all of "+s.name+"'s containers, images and volumes; "+why+"; doctor never runs it")
}

// 12. the storage driver is overlay, and no vfs storage is remembered.
func checkStorageDriver(ctx context.Context, e *env, s *subject) outcome {
	symptom := "vfs: very slow, huge disk use, and sticky (the vfs-images directory keeps the user on vfs)"
	overlayFix := func() []Fix {
		fx := []Fix{}
		if !e.sys.Facts.KernelAtLeast(5, 13) {
			fx = append(fx, task("package", arg{"names", []string{"fuse-overlayfs"}}))
		}
		fx = append(fx, task("storage", arg{"driver", "overlay"}))
		return fx
	}
	if e.podman() != "" {
		if h := e.firstRunHazard(ctx, s); h != nil && h.noDriver {
			where := "no storage.conf sets [storage] driver"
			if f := e.storageConf(s).file; f != "" {
				where = f + " sets no [storage] driver"
			}
			return outcome{status: Warn,
				found:   fmt.Sprintf("podman has never run as %s (%s does not exist) and %s: the first run may pick vfs, which then sticks", s.who(), h.graphRoot, where),
				symptom: symptom, fix: overlayFix()}
		}
	}
	if o, ok := e.needPodman(ctx, s); !ok {
		// podman cannot run as s (setuid, doctor not root), but the
		// storage on disk still shows a remembered vfs.
		if vfsDir := path.Join(e.defaultGraphRoot(s), "vfs-images"); e.sys.Exists(vfsDir) {
			return outcome{status: Fail, found: o.found + "\n" + vfsDir + " exists: vfs is remembered from an earlier run",
				symptom: symptom, fix: append(overlayFix(), resetFix(s, "the only way off vfs"))}
		}
		return o
	}
	gr := e.graphRoot(ctx, s)
	vfsDir := path.Join(gr, "vfs-images")
	hasVFS := e.sys.Exists(vfsDir)
	r := e.podmanInfo(ctx, s)
	if !r.ok() {
		if strings.Contains(r.res.Stderr, "database configuration mismatch") {
			found, sym := explainFailure("podman info", r.res, 12)
			return outcome{status: Fail, found: found + "\nthe storage driver changed under existing storage", symptom: sym,
				fix: fixes(resetFix(s, "the database remembers the old driver"))}
		}
		if hasVFS {
			return outcome{status: Fail, found: r.why() + "\n" + vfsDir + " exists: vfs is remembered from an earlier run",
				symptom: symptom, fix: append(overlayFix(), resetFix(s, "the only way off vfs"))}
		}
		return skip(r.why() + " (see check 15)")
	}
	d := r.info.Store.GraphDriverName
	switch d {
	case "overlay", "btrfs":
		found := fmt.Sprintf("driver %s (graphroot %s)", d, gr)
		if hasVFS {
			return outcome{status: Warn, found: found + "; " + vfsDir + " is left over from vfs and wastes disk",
				fix: fixes(resetFix(s, "removes the old vfs layers"))}
		}
		return pass(found)
	case "vfs":
		found := fmt.Sprintf("driver vfs (graphroot %s)", gr)
		if hasVFS {
			found += "; " + vfsDir + " exists, so vfs stays even after overlay becomes available"
		}
		if cf := r.info.Store.ConfigFile; cf != "" {
			found += "; config " + cf
		}
		return outcome{status: Fail, found: found, symptom: symptom,
			fix: append(overlayFix(), resetFix(s, "needed to leave vfs; run it before or right after switching the driver"))}
	}
	return outcome{status: Warn, found: fmt.Sprintf("driver %q (graphroot %s): not a usual rootless driver", d, gr),
		fix: fixes(task("storage", arg{"driver", "overlay"}))}
}

// 13. overlay runs natively on kernels >= 5.13, through fuse-overlayfs on
// older ones.
func checkOverlayMode(ctx context.Context, e *env, s *subject) outcome {
	info, o, ok := e.needInfo(ctx, s)
	if !ok {
		return o
	}
	if info.Store.GraphDriverName != "overlay" {
		return skip(fmt.Sprintf("driver is %q, not overlay (check 12)", info.Store.GraphDriverName))
	}
	kernel := e.sys.Facts.Kernel()
	native := info.Store.GraphStatus["Native Overlay Diff"] == "true"
	mp, _ := info.Store.GraphOptions["overlay.mount_program"].(map[string]any)
	mountProgram := ""
	if mp != nil {
		mountProgram, _ = mp["Executable"].(string)
	}
	flag := path.Join(e.graphRoot(ctx, s), "overlay/.has-mount-program")
	sticky := false
	if data, ok, _ := e.files(s).ReadFileIfExists(flag); ok && strings.TrimSpace(string(data)) == "true" {
		sticky = true
	}
	fuse := e.lookPath("fuse-overlayfs")
	if e.sys.Facts.KernelAtLeast(5, 13) {
		if native {
			return pass("native overlay on kernel " + kernel)
		}
		found := "overlay through a mount program on kernel " + kernel + ", which supports native rootless overlay (faster)"
		if mountProgram != "" {
			found += "; storage.conf sets mount_program " + mountProgram
			return outcome{status: Warn, found: found,
				fix: fixes(task("storage", arg{"driver", "overlay"}, arg{"mount_program", "auto"}), resetFix(s, "native overlay is only tried on fresh storage"))}
		}
		if sticky {
			found += "; " + flag + " = true remembers the mount program"
		}
		return outcome{status: Warn, found: found, fix: fixes(resetFix(s, "native overlay is only tried on fresh storage"))}
	}
	if native {
		return pass("native overlay on kernel " + kernel)
	}
	if fuse == "" && mountProgram == "" {
		return outcome{status: Fail, found: "kernel " + kernel + " is older than 5.13 (no native rootless overlay) and fuse-overlayfs is not installed",
			symptom: "ApplyLayer ... operation not permitted (during builds and pulls)",
			fix:     fixes(task("package", arg{"names", []string{"fuse-overlayfs"}}), task("storage", arg{"driver", "overlay"}, arg{"mount_program", "auto"}))}
	}
	return pass("overlay through fuse-overlayfs on kernel " + kernel + " (no native rootless overlay before 5.13)")
}

// 14. the storage is not on a network filesystem and not noexec or nodev.
func checkStorageLocation(ctx context.Context, e *env, s *subject) outcome {
	ms, err := e.readMounts()
	if err != nil {
		return skip("cannot read /proc/self/mountinfo: " + err.Error())
	}
	gr := e.graphRoot(ctx, s)
	m, ok := mountFor(ms, gr)
	if !ok {
		return skip("no mount holds " + gr + " in /proc/self/mountinfo")
	}
	found := fmt.Sprintf("%s is on %s (%s, %s)", gr, m.point, m.fstype, strings.Join(m.opts, ","))
	relocate := task("storage", arg{"rootless_storage_path", "/var/lib/containers/users/$USER/storage"})
	relocate.Note = "a local disk; with SELinux also label it (semanage fcontext -a -e $HOME/.local/share/containers PATH; restorecon -R PATH)"
	switch m.fstype {
	case "nfs", "nfs4", "gpfs", "lustre", "cifs", "smb3", "ceph", "fuse.glusterfs", "fuse.sshfs":
		return outcome{status: Fail, found: found + ": a network filesystem",
			symptom: "a network file system with user namespaces is not supported. Please use a mount_program",
			fix:     fixes(relocate)}
	}
	if m.has("noexec") {
		return outcome{status: Fail, found: found + ": mounted noexec",
			symptom: `exec user process caused "permission denied"`, fix: fixes(relocate)}
	}
	switch {
	case m.has("nodev"):
		return outcome{status: Warn, found: found + ": mounted nodev (device nodes in images do not work)", fix: fixes(relocate)}
	case m.fstype == "overlay" || m.fstype == "aufs" || m.fstype == "ecryptfs":
		return outcome{status: Warn, found: found + ": native overlay is rejected over " + m.fstype + ", so podman needs fuse-overlayfs or vfs",
			fix: fixes(relocate)}
	}
	return pass(found)
}

// 15. podman info succeeds (every config file parses), as root and as the
// user; without podman the registries files are checked directly.
func checkConfigParse(ctx context.Context, e *env, s *subject) outcome {
	rc := e.registriesConfig(s)
	sc := e.storageConf(s)
	if e.podman() == "" {
		if len(rc.errors) > 0 || sc.err != nil {
			return configFilesOutcome(rc, sc, "podman is not installed; checked the registries and storage files only: ")
		}
		return skip("podman is not installed (check 1); the registries and storage files load")
	}
	if o, ok := e.needPodman(ctx, s); !ok {
		if len(rc.errors) > 0 || sc.err != nil {
			return configFilesOutcome(rc, sc, o.found+"; checked the registries and storage files only: ")
		}
		return o
	}
	r := e.podmanInfo(ctx, s)
	if r.err != nil {
		return skip(r.why())
	}
	if r.res.ExitCode != 0 || r.info == nil {
		found, sym := explainFailure("podman info as "+s.who(), r.res, 15)
		if r.res.ExitCode == 0 {
			found = r.why()
		}
		o := outcome{status: Fail, found: found, symptom: sym}
		if len(rc.errors) > 0 {
			ro := registriesOutcome(rc, "")
			for _, l := range strings.Split(ro.found, "\n") {
				if !strings.Contains(o.found, l) {
					o.found += "\n" + l
				}
			}
			if o.symptom == "" {
				o.symptom = ro.symptom
			}
			o.fix = ro.fix
		} else if strings.Contains(r.res.Stderr, "storage.conf") {
			o.fix = fixes(note("correct the TOML of the storage.conf named above"), task("storage", arg{"driver", "overlay"}))
		} else {
			o.fix = fixes(note("fix what the message names"))
		}
		return o
	}
	if lines, _ := recognise(r.res.Stderr); len(lines) > 0 && strings.Contains(r.res.Stderr, "Failed to decode the keys") {
		return outcome{status: Warn, found: "podman info as " + s.who() + " succeeded with warnings:\n" + quoteLines(r.res.Stderr, 6),
			symptom: strings.Join(lines, "\n"), fix: fixes(note("remove or rename the unknown keys in the file named above"))}
	}
	found := "podman info as " + s.who() + " succeeded"
	if len(rc.files) > 0 {
		found += "; registries: " + strings.Join(rc.files, ", ")
	}
	return pass(found)
}

// 16. per-user config files that replace the system ones.
func checkOverrides(_ context.Context, e *env, s *subject) outcome {
	dir := path.Join(s.user.Home, ".config/containers")
	var replace, merged []string
	for _, n := range []string{"registries.conf", "storage.conf"} {
		if e.sys.Exists(path.Join(dir, n)) {
			replace = append(replace, path.Join(dir, n))
		}
	}
	for _, n := range []string{"containers.conf", "registries.conf.d", "containers.conf.d"} {
		if e.sys.Exists(path.Join(dir, n)) {
			merged = append(merged, path.Join(dir, n))
		}
	}
	if len(replace) == 0 {
		found := "no per-user registries.conf or storage.conf"
		if len(merged) > 0 {
			found += "; merged over the system files: " + strings.Join(merged, ", ")
		}
		return pass(found)
	}
	var fx []Fix
	for _, p := range replace {
		fx = append(fx, command("rm "+p, s.name, "only if the system file should apply"))
	}
	found := strings.Join(replace, ", ") + ": " + plural(len(replace), "replaces", "replace") + " the system file entirely for " + s.name
	if len(merged) > 0 {
		found += "; merged: " + strings.Join(merged, ", ")
	}
	return outcome{status: Warn, found: found,
		symptom: "(silent) a user file replaces the system registries.conf / storage.conf: changes made by the playbook do not apply to " + s.name,
		fix:     fx}
}

// 17. short names resolve: some unqualified-search registry is set, and
// enforcing mode does not meet several of them without a TTY.
func checkShortNames(ctx context.Context, e *env, s *subject) outcome {
	rc := e.registriesConfig(s)
	search, from := rc.search, "the registries files"
	if info, _, ok := e.needInfo(ctx, s); ok {
		search, from = info.search(), "podman info"
	} else if len(rc.errors) > 0 {
		return skip("the registries configuration does not load (check 15)")
	}
	fix := task("registries", arg{"unqualified_search_registries", []string{"docker.io"}})
	fix.Note = "or use fully-qualified image names everywhere"
	if len(search) == 0 {
		return outcome{status: Warn, found: "no unqualified-search registries (" + from + "; main file " + rc.main + ")",
			symptom: fmt.Sprintf("short-name \"X\" did not resolve to an alias and no unqualified-search registries are defined in %q", rc.main),
			fix:     fixes(fix)}
	}
	found := "unqualified-search registries: " + strings.Join(search, ", ") + " (" + from + ")"
	if rc.mode == "enforcing" && len(search) > 1 {
		return outcome{status: Warn, found: found + "; short-name-mode is enforcing, so a short name that is no alias needs a TTY prompt",
			symptom: "Error: short-name resolution enforced but cannot prompt without a TTY",
			fix:     fixes(task("registries", arg{"short_name_mode", "permissive"}))}
	}
	if rc.mode != "" {
		found += "; short-name-mode " + rc.mode
	}
	return pass(found)
}

// Messages of podman 5.4.2 (Debian 13), met on the e2e suite's trixie
// host (e2e/doctor_test.go checks them there): podman 5 has netavark only
// (its builds drop CNI), so without netavark every podman command fails,
// podman info included, and a containers.conf that asks for CNI is
// refused; without the rootless network tool a container with the default
// network cannot start (podman run exits 127).
const (
	msgNoNetavark5 = `Error: could not find "netavark" in one of [/usr/local/libexec/podman /usr/local/lib/podman /usr/libexec/podman /usr/lib/podman].  To resolve this error, set the helper_binaries_dir key in the ` + "`[engine]`" + ` section of containers.conf to the directory containing your helper binaries.`
	msgNoCNI5      = `Error: cni support is not enabled in this build, only netavark. Got unsupported network backend "cni"`
	// msgNoNetTool is the podman run error for a missing pasta or
	// slirp4netns (%[1]s).
	msgNoNetTool = `Error: could not find %[1]s, the network namespace can't be configured: exec: "%[1]s": executable file not found in $PATH`
)

// msgCgroupsV1 is the warning podman 5.4.2 prints (level=warning, on
// stderr) on every command on a cgroup v1 host, met on the e2e suite's
// trixie host: containers run there all the same.
const msgCgroupsV1 = "Using cgroups-v1 which is deprecated in favor of cgroups-v2 with Podman v5 and will be removed in a future version. Set environment variable `PODMAN_IGNORE_CGROUPSV1_WARNING` to hide this warning."

// 18. the network backend is netavark, not a CNI choice cached from before
// netavark was installed (podman 4), and netavark is there at all (podman
// 5, which has no other backend: CNI is neither chosen nor cached, podman
// fails outright with msgNoNetavark5, or msgNoCNI5 when containers.conf
// names cni).
func checkNetworkBackend(ctx context.Context, e *env, s *subject) outcome {
	netavarkFix := task("package", arg{"names", []string{"netavark", "aardvark-dns"}})
	if e.podman() != "" {
		if v, _ := e.podmanVersion(ctx); versionAtLeast(v, 5, 0) {
			if o, done := networkBackend5(ctx, e, s, v, netavarkFix); done {
				return o
			}
		}
	}
	symptom := "cni stuck because first use preceded the netavark install; CNI is deprecated and removed in Podman 6"
	if e.podman() != "" {
		if h := e.firstRunHazard(ctx, s); h != nil && h.noNetavark {
			return outcome{status: Warn,
				found:   fmt.Sprintf("podman has never run as %s (%s does not exist) and netavark is not installed: the first run may pick CNI and cache it", s.who(), h.graphRoot),
				symptom: symptom, fix: fixes(netavarkFix)}
		}
	}
	info, o, ok := e.needInfo(ctx, s)
	if !ok {
		return o
	}
	nb := info.Host.NetworkBackend
	if nb == "netavark" {
		return pass("netavark")
	}
	netavark := e.netavarkPath()
	cached := path.Join(e.graphRoot(ctx, s), "defaultNetworkBackend")
	found := fmt.Sprintf("network backend %q", nb)
	if nb == "" {
		found = "podman reports no network backend (podman 3.x: CNI only)"
	}
	var fx []Fix
	if netavark == "" {
		found += "; netavark is not installed"
		fx = append(fx, netavarkFix)
	} else {
		found += "; netavark is installed at " + netavark
	}
	if data, ok, _ := e.files(s).ReadFileIfExists(cached); ok {
		found += fmt.Sprintf("; %s says %q (the first run's choice is cached)", cached, strings.TrimSpace(string(data)))
	}
	if nb != "" {
		fx = append(fx, resetFix(s, "the backend is chosen once and cached"))
	} else {
		fx = append(fx, note("podman 4.0 or later is needed for netavark (check 1)"))
	}
	return outcome{status: Warn, found: found, symptom: symptom, fix: fx}
}

// networkBackend5 is check 18 for podman 5: netavark missing, or podman
// info refusing a configured cni, fail (done); otherwise the common path
// goes on (a podman 5 built with CNI reports it like podman 4).
func networkBackend5(ctx context.Context, e *env, s *subject, v string, netavarkFix Fix) (outcome, bool) {
	if e.netavarkPath() == "" {
		return outcome{status: Fail,
			found:   "podman " + v + " and netavark is not installed: podman 5 has no other network backend, so every podman command fails, podman info included",
			symptom: msgNoNetavark5, fix: fixes(netavarkFix)}, true
	}
	// Never run a podman that must not run as s (setuid root, first-run
	// hazard): the common path says why.
	if _, ok := e.needPodman(ctx, s); !ok {
		return outcome{}, false
	}
	r := e.podmanInfo(ctx, s)
	if r.err != nil || r.res.ExitCode == 0 {
		return outcome{}, false
	}
	for _, l := range strings.Split(r.res.Stderr, "\n") {
		if strings.Contains(l, "cni support is not enabled in this build") {
			fx := note(`delete network_backend = "cni" from the [network] table of containers.conf (podman --log-level=debug info names the files it reads): podman 5 has netavark only`)
			return outcome{status: Fail,
				found:   "podman " + v + " as " + s.who() + " is configured for CNI, which this build does not have",
				symptom: strings.TrimSpace(l), fix: fixes(fx, resetFix(s, "networks and containers made with CNI do not carry over"))}, true
		}
	}
	return outcome{}, false
}

// 19. the rootless network tool podman uses (pasta from 5.0, slirp4netns
// before) is installed. Without it, podman 5.4.2 says msgNoNetTool (podman
// info still passes and reports an empty executable).
func checkRootlessNetwork(ctx context.Context, e *env, s *subject) outcome {
	if s.root() {
		return skip("root does not use a rootless network tool")
	}
	info, o, ok := e.needInfo(ctx, s)
	if !ok {
		return o
	}
	tool := info.Host.RootlessNetworkCmd
	how := "podman info rootlessNetworkCmd"
	if tool == "" {
		v := info.Version.Version
		if v == "" {
			v, _ = e.podmanVersion(ctx)
		}
		tool, how = "slirp4netns", "default of podman "+v
		if versionAtLeast(v, 5, 0) {
			tool = "pasta"
		}
	}
	exe := ""
	switch tool {
	case "pasta":
		exe = info.Host.Pasta.Executable
	case "slirp4netns":
		exe = info.Host.Slirp4NetNS.Executable
	}
	if exe == "" || !e.sys.Exists(exe) {
		exe = e.lookPath(tool, "/usr/libexec/podman/"+tool, "/usr/lib/podman/"+tool)
	}
	if exe != "" {
		return pass(fmt.Sprintf("%s (%s) at %s", tool, how, exe))
	}
	pkg := tool
	if tool == "pasta" {
		pkg = "passt"
	}
	return outcome{status: Fail, found: fmt.Sprintf("%s (%s) is not installed: podman run with the default network exits 127", tool, how),
		symptom: fmt.Sprintf(msgNoNetTool, tool),
		fix:     fixes(task("package", arg{"names", []string{pkg}}))}
}

// 20. a container runs as the user (only with Options.Smoke).
func checkSmoke(ctx context.Context, e *env, s *subject) outcome {
	if !e.opts.Smoke {
		return skip("the smoke test runs a container: use --smoke")
	}
	if o, ok := e.needPodman(ctx, s); !ok {
		return o
	}
	r, err := e.runAs(ctx, s, 5*time.Minute, e.podman(), "run", "--rm", e.opts.SmokeImage, "id")
	if err != nil {
		return skip("podman run could not run: " + err.Error())
	}
	what := "podman run --rm " + e.opts.SmokeImage + " id"
	if r.ExitCode == 0 && strings.HasPrefix(strings.TrimSpace(r.Stdout), "uid=0(root)") {
		return pass(what + ": " + strings.TrimSpace(r.Stdout))
	}
	found, sym := explainFailure(what, r, 20)
	if r.ExitCode == 0 {
		found = what + " printed " + strconv.Quote(strings.TrimSpace(r.Stdout)) + ", not uid=0(root)"
	}
	return outcome{status: Fail, found: found, symptom: sym, fix: fixes(note("fix the checks above; the message names the cause"))}
}
