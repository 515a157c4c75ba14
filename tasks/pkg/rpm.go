package pkg

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/hostfs"
)

// rpmBackend drives RPM hosts: rpm -q for what is installed, and dnf, dnf5
// or yum (3, the one that is not DNF) for the repositories and transactions.
type rpmBackend struct {
	tool string // "dnf", "dnf5" or "yum"
}

// rpmFormat is the rpm -q query format: one line per installed instance.
const rpmFormat = `%{NAME}\t%{VERSION}-%{RELEASE}.%{ARCH}\n`

// repoqueryFormat is the repoquery query format: fields separated by
// spaces (no NEVRA field holds white space). DNF 4 expands \t and \n and
// adds a newline of its own, which only makes blank lines; DNF 5 (5.4.6,
// met on the e2e suite's dnf5 host) expands \n but prints \t as the two
// characters, and adds no newline, so \n ends each package and tabs are
// not used.
const repoqueryFormat = `%{name} %{epoch} %{version} %{release} %{arch}\n`

func (b rpmBackend) installed(ctx context.Context, sys *tasks.System, names []string) (map[string]pkgState, error) {
	c := tasks.Cmd{Argv: append([]string{"rpm", "-q", "--qf", rpmFormat}, names...)}
	res, err := sys.Run(ctx, c)
	if err != nil {
		return nil, err
	}
	// rpm exits with the number of names it did not find and says so on
	// stdout, one "package X is not installed" line each; a non-zero exit
	// without such a line is a real failure (rpmdb unreadable, ...).
	missing := map[string]bool{}
	type inst struct{ name, evra string }
	var found []inst
	for _, line := range strings.Split(res.Stdout, "\n") {
		if n, ok := strings.CutPrefix(line, "package "); ok && strings.HasSuffix(n, " is not installed") {
			missing[strings.TrimSuffix(n, " is not installed")] = true
			continue
		}
		if name, evra, ok := strings.Cut(line, "\t"); ok {
			found = append(found, inst{name, evra})
		}
	}
	if res.ExitCode != 0 && len(missing) == 0 {
		return nil, &tasks.ExitError{Cmd: c, Result: res}
	}
	out := make(map[string]pkgState, len(names))
	for _, n := range names {
		if missing[n] {
			out[n] = pkgState{}
			continue
		}
		var versions []string
		for _, i := range found {
			arch := i.evra[strings.LastIndexByte(i.evra, '.')+1:]
			if i.name == n || i.name+"."+arch == n {
				versions = append(versions, i.evra)
			}
		}
		v := strings.Join(versions, ", ")
		if v == "" { // asked as name-version: rpm found it under its name
			v = "installed"
		}
		out[n] = pkgState{installed: true, removable: true, version: v}
	}
	return out, nil
}

// rpmPkg is one package a repository query returned.
type rpmPkg struct{ name, epoch, version, release, arch string }

// evra renders the version the way the plan shows it.
func (p rpmPkg) evra() string {
	v := p.version + "-" + p.release + "." + p.arch
	if p.epoch != "" && p.epoch != "0" && p.epoch != "(none)" {
		v = p.epoch + ":" + v
	}
	return v
}

// matches reports whether spec, as the user wrote it, names p: the name,
// optionally with architecture, version and release (DNF's NEVRA forms).
func (p rpmPkg) matches(spec string) bool {
	if spec == p.name || spec == p.name+"."+p.arch {
		return true
	}
	vs := []string{p.version, p.version + "-" + p.release}
	if p.epoch != "" && p.epoch != "0" && p.epoch != "(none)" {
		vs = append(vs, p.epoch+":"+p.version, p.epoch+":"+p.version+"-"+p.release)
	}
	for _, v := range vs {
		if spec == p.name+"-"+v || spec == p.name+"-"+v+"."+p.arch {
			return true
		}
	}
	return false
}

func (b rpmBackend) repo(ctx context.Context, sys *tasks.System, missing, installed []string) (repoState, error) {
	rs := repoState{known: map[string]bool{}, upgrades: map[string]string{}}
	if len(missing) > 0 {
		pkgs, err := b.query(ctx, sys, false, missing)
		if err != nil {
			return rs, err
		}
		for _, n := range missing {
			for _, p := range pkgs {
				if p.matches(n) {
					rs.known[n] = true
					break
				}
			}
		}
	}
	if len(installed) > 0 {
		pkgs, err := b.query(ctx, sys, true, installed)
		if err != nil {
			return rs, err
		}
		for _, n := range installed {
			var vs []string
			for _, p := range pkgs {
				if n == p.name || n == p.name+"."+p.arch {
					vs = append(vs, p.evra())
				}
			}
			if len(vs) > 0 {
				rs.upgrades[n] = strings.Join(vs, ", ")
			}
		}
	}
	return rs, nil
}

// query asks the repositories for the packages that match names, or, with
// upgrades, for the newest upgrade of each installed one. DNF 4 and DNF 5
// share repoquery with a query format, so nothing meant for humans (tables,
// progress) is parsed; yum 3 has no repoquery of its own and answers with
// yum list. In check mode (sys.CheckOnly) the query writes nothing on the
// host: see readOnlyQuery.
func (b rpmBackend) query(ctx context.Context, sys *tasks.System, upgrades bool, names []string) ([]rpmPkg, error) {
	if sys.CheckOnly {
		return b.readOnlyQuery(ctx, sys, upgrades, names)
	}
	return b.run(ctx, sys, upgrades, names, nil)
}

// readOnlyQuery runs the query so that the package manager leaves the host
// as it was. Everything it would write goes to a temp dir, removed
// afterwards: its logs (logdir), and its cachedir, where dnf keeps its
// lock, expired_repos.json and the solv files it builds. That cachedir
// links to the metadata of the host's own cache (mirrorCache), which it
// reads with -C: not refreshed, even when expired, as apt's check reads
// the lists it has. When that fails (no cache yet for some repository;
// skip_if_unavailable is off for this try, so a repository without one is
// an error, not a silently shorter answer), it asks again with the temp
// cache alone, downloading fresh metadata there.
func (b rpmBackend) readOnlyQuery(ctx context.Context, sys *tasks.System, upgrades bool, names []string) ([]rpmPkg, error) {
	tmp, err := os.MkdirTemp("", "provision-"+b.tool+"-")
	if err != nil {
		return nil, fmt.Errorf("check %s without writing to the host: %w", b.tool, err)
	}
	defer os.RemoveAll(tmp)
	cache := filepath.Join(tmp, "cache")
	opts := []string{"--setopt=cachedir=" + cache, "--setopt=logdir=" + filepath.Join(tmp, "log")}
	if err := os.Mkdir(cache, 0o700); err != nil {
		return nil, err
	}
	if r := sys.Root; r == "" || r == "/" {
		err = mirrorCache(sys.FS(), "/", systemCache[b.tool], cache, b.tool != "dnf5")
	}
	if err != nil {
		return nil, fmt.Errorf("check %s without writing to the host: %w", b.tool, err)
	}
	pkgs, err := b.run(ctx, sys, upgrades, names, append([]string{"-C", "--setopt=skip_if_unavailable=False"}, opts...))
	if err == nil {
		return pkgs, nil
	}
	sys.Logf().Debugf("%s from the host's metadata cache: %v; asking with a temp cache", b.tool, err)
	if err := os.RemoveAll(cache); err != nil {
		return nil, err
	}
	return b.run(ctx, sys, upgrades, names, opts)
}

// systemCache is where each tool keeps root's metadata cache (yum 3's
// own, /var/cache/yum, has another layout: there the query downloads).
var systemCache = map[string]string{"dnf": "/var/cache/dnf", "yum": "/var/cache/dnf", "dnf5": "/var/cache/libdnf5"}

// repoCacheDir is the name of a repository's directory in a DNF cache:
// the repository id, a dash and 16 hex digits.
var repoCacheDir = regexp.MustCompile(`^[^/]+-[0-9a-f]{16}$`)

// mirrorCache fills the cachedir dst with links to the repodata of the
// repositories in the host's cache src (seen through fsys; root is where
// fsys's Root is for the programs that follow the links). DNF reads
// repodata with -C and never writes there; what it writes (solv files,
// locks, expired_repos.json) lands in dst. With solv, DNF 4's solv files
// at the top of its cache are linked too: it replaces a stale one by
// renaming a new file over the link. Only when the agent sees the host's
// files as DNF does (Root is /); otherwise the query downloads.
func mirrorCache(fsys hostfs.FS, root, src, dst string, solv bool) error {
	ents, err := fsys.ReadDir(src)
	if err != nil {
		return nil // no cache: -C fails and the query downloads
	}
	for _, e := range ents {
		n := e.Name()
		switch {
		case e.IsDir() && repoCacheDir.MatchString(n):
			rd := src + "/" + n + "/repodata"
			if fi, err := fsys.Lstat(rd); err != nil || !fi.IsDir() {
				continue
			}
			if err := os.Mkdir(filepath.Join(dst, n), 0o700); err != nil {
				return err
			}
			if err := os.Symlink(filepath.Join(root, rd), filepath.Join(dst, n, "repodata")); err != nil {
				return err
			}
		case solv && e.Type().IsRegular() && (strings.HasSuffix(n, ".solv") || strings.HasSuffix(n, ".solvx")):
			if err := os.Symlink(filepath.Join(root, src, n), filepath.Join(dst, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// run runs the query with the global options opts.
func (b rpmBackend) run(ctx context.Context, sys *tasks.System, upgrades bool, names, opts []string) ([]rpmPkg, error) {
	if b.tool == "yum" {
		which := "available"
		if upgrades {
			which = "updates"
		}
		argv := append(append([]string{"yum", "-q"}, opts...), "list", which)
		c := tasks.Cmd{Argv: append(argv, names...)}
		res, err := sys.Run(ctx, c)
		if err != nil {
			return nil, err
		}
		if res.ExitCode != 0 {
			// yum 3 fails an empty list: "Error: No matching Packages to list".
			if res.ExitCode == 1 && strings.Contains(res.Stderr+res.Stdout, "No matching Packages") {
				return nil, nil
			}
			return nil, &tasks.ExitError{Cmd: c, Result: res}
		}
		return parseYumList(res.Stdout), nil
	}
	argv := append(append([]string{b.tool, "-q"}, opts...), "repoquery")
	if upgrades {
		argv = append(argv, "--upgrades", "--latest-limit=1")
	}
	argv = append(append(argv, "--qf", repoqueryFormat), names...)
	res, err := sys.RunOK(ctx, tasks.Cmd{Argv: argv})
	if err != nil {
		return nil, err
	}
	var pkgs []rpmPkg
	for _, line := range strings.Split(res.Stdout, "\n") {
		f := strings.Fields(line)
		if len(f) != 5 {
			continue
		}
		pkgs = append(pkgs, rpmPkg{f[0], f[1], f[2], f[3], f[4]})
	}
	return pkgs, nil
}

// parseYumList reads yum 3's `list` output: a section title, then
// "name.arch  [epoch:]version-release  repo" per package, where a long
// name pushes the rest of its entry onto the next, indented, line.
func parseYumList(out string) []rpmPkg {
	var pkgs []rpmPkg
	var cur []string
	flush := func() {
		if len(cur) >= 2 {
			na, evr := cur[0], cur[1]
			dot := strings.LastIndexByte(na, '.')
			dash := strings.LastIndexByte(evr, '-')
			if dot > 0 && dash > 0 {
				p := rpmPkg{name: na[:dot], arch: na[dot+1:], release: evr[dash+1:]}
				p.epoch, p.version, _ = strings.Cut(evr[:dash], ":")
				if p.version == "" {
					p.epoch, p.version = "", evr[:dash]
				}
				pkgs = append(pkgs, p)
			}
		}
		cur = nil
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if line[0] != ' ' && line[0] != '\t' {
			flush()
			if !strings.Contains(f[0], ".") || strings.HasSuffix(line, "Packages") {
				continue // a section title: "Available Packages"
			}
		} else if cur == nil {
			continue
		}
		cur = append(cur, f...)
	}
	flush()
	return pkgs
}

func (b rpmBackend) apply(ctx context.Context, sys *tasks.System, d *planData, refresh bool) error {
	run := func(argv []string) error {
		if _, err := sys.RunOK(ctx, tasks.Cmd{Argv: argv}); err != nil {
			return transactionError(err)
		}
		return nil
	}
	if len(d.remove) > 0 {
		return run(append([]string{b.tool, "-y", "remove"}, d.remove...))
	}
	if len(d.install)+len(d.upgrade) == 0 {
		return nil
	}
	if refresh && b.tool == "yum" {
		if _, err := sys.RunOK(ctx, tasks.Cmd{Argv: []string{"yum", "clean", "expire-cache"}}); err != nil {
			return err
		}
		refresh = false
	}
	global := func() []string {
		g := []string{b.tool, "-y"}
		if refresh {
			g = append(g, "--refresh")
			refresh = false // once is enough
		}
		return g
	}
	if len(d.install) > 0 {
		argv := global()
		if b.tool == "yum" {
			// yum 3 skips unknown names and exits 0 unless told not to.
			argv = append(argv, "--setopt=skip_missing_names_on_install=False")
		}
		if err := run(append(append(argv, "install"), d.install...)); err != nil {
			return err
		}
	}
	// dnf install leaves an installed package at its version ("already
	// installed"), so upgrades are their own transaction.
	if up := append(append([]string{}, d.upgrade...), d.also...); len(up) > 0 {
		if err := run(append(append(global(), "upgrade"), up...)); err != nil {
			return err
		}
	}
	return nil
}

func (b rpmBackend) hint(*tasks.System) string { return "" }
