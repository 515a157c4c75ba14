package testhost

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// RPMDebPackages are the Debian packages whose files the RPM hosts'
// repository carries under Fedora's package names: the real podman and
// every helper it runs (rpm-specs/*.spec take the files from the unpacked
// debs and say which RPM holds what, with Fedora's Requires and file
// capabilities). The shared libraries these binaries link are not
// repackaged: the Debian library packages they depend on are installed in
// the RPM hosts' base image (rpmLibs), so that podman and every helper
// binary come only through dnf or yum from the repository.
var RPMDebPackages = []string{"podman", "conmon", "crun", "netavark", "aardvark-dns",
	"slirp4netns", "passt", "fuse-overlayfs", "fuse3", "catatonit", "uidmap",
	"golang-github-containers-common", "golang-github-containers-image"}

// rpmRecipe is part of rpmKey: bump it when the way the repository or the
// library list is made changes.
const rpmRecipe = "rpm/2"

// rpmKey is the cache key of an RPM repository (and a part of its image's
// key): the specs, the Debian packages they repackage, their suite and the
// machine's apt sources.
func rpmKey(sources []byte, suite string) string {
	return hashKey([]byte(recipeVersion), []byte(rpmRecipe), []byte(specsKey()), []byte(strings.Join(RPMDebPackages, ",")), []byte(suite), sources)
}

// debcopyScript is the debcopy macro of the specs, run by rpmbuild's
// %install as `sh debcopy.sh DEBROOT BUILDROOT LIST PATTERN...`: each
// PATTERN is a shell glob relative to the unpacked debs (a trailing ?
// makes it optional: the suites lay their files out differently); every
// match is copied (links as links) into BUILDROOT, with /bin, /sbin and
// /lib moved under /usr as on Fedora, and its path appended to LIST, the
// %files list ("-" for none: the spec lists the file itself, with its
// attributes). A required pattern that matches nothing fails the build.
const debcopyScript = `set -e
debroot=$1 root=$2 list=$3
shift 3
cd "$debroot"
for pat in "$@"; do
	opt=
	case $pat in *'?') opt=1; pat=${pat%?} ;; esac
	found=
	for p in $pat; do
		[ -e "$p" ] || [ -L "$p" ] || continue
		found=1
		dest=$(printf '%s\n' "$p" | sed -E 's#^(bin|sbin|lib)/#usr/\1/#')
		mkdir -p "$root/$(dirname "$dest")"
		cp -a "$p" "$root/$dest"
		[ "$list" = - ] || printf '/%s\n' "$dest" >>"$list"
	done
	[ -n "$found$opt" ] || { echo "debcopy: nothing in the debs matches $pat" >&2; exit 1; }
done
`

// debInfo is what the repository build needs of one downloaded deb.
type debInfo struct {
	name, version string
	depends       []string // alternative groups, "a | b"
	provides      []string
}

// aptFor returns the apt-get options that read suite's lists: none for
// the machine's own suite; else apt reads the machine's sources rewritten
// for suite into lists of its own under scratch (updated here).
func aptFor(suite string, sources []byte, scratch string) ([]string, error) {
	if suite == hostSuite() {
		return nil, nil
	}
	for _, d := range []string{"sources", "lists/partial", "cache"} {
		if err := os.MkdirAll(filepath.Join(scratch, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(scratch, "sources", suite+".sources"), sourcesFor(sources, suite), 0o644); err != nil {
		return nil, err
	}
	if !bytes.Contains(sources, []byte("Suites:")) {
		// One-line format: apt reads only *.list files as such.
		if err := os.Rename(filepath.Join(scratch, "sources", suite+".sources"), filepath.Join(scratch, "sources", suite+".list")); err != nil {
			return nil, err
		}
	}
	opts := []string{"-o", "Dir::Etc::SourceList=/dev/null",
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(scratch, "sources"),
		"-o", "Dir::State::Lists=" + filepath.Join(scratch, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(scratch, "cache"),
		"-o", "Acquire::Check-Valid-Until=false"} // as for mmdebstrap (buildImage)
	if err := run("apt-get", append(append([]string{"-q", "-o", "DPkg::Lock::Timeout=900"}, opts...), "update")...); err != nil {
		return nil, fmt.Errorf("apt-get update for %s: %w", suite, err)
	}
	return opts, nil
}

// fetchDebs downloads RPMDebPackages of suite with the machine's apt into
// dir and unpacks them all into root.
func fetchDebs(suite string, sources []byte, dir, root string) ([]debInfo, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	opts, err := aptFor(suite, sources, filepath.Join(dir, "apt"))
	if err != nil {
		return nil, err
	}
	args := append(append([]string{"-q", "-o", "DPkg::Lock::Timeout=900", "-o", "APT::Sandbox::User=root"}, opts...), "download")
	args = append(args, RPMDebPackages...)
	dl := func() ([]byte, error) {
		cmd := exec.Command("apt-get", args...)
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	out, err := dl()
	if err != nil && opts == nil && strings.Contains(string(out), "Unable to locate package") {
		// The machine's lists are missing: fetch them once and retry.
		if err := run("apt-get", "-q", "-o", "DPkg::Lock::Timeout=900", "update"); err != nil {
			return nil, err
		}
		out, err = dl()
	}
	if err != nil {
		return nil, fmt.Errorf("apt-get download (%s): %v: %s", suite, err, tail(string(out), 20))
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	if len(debs) != len(RPMDebPackages) {
		return nil, fmt.Errorf("apt-get download fetched %d debs, want %d: %s", len(debs), len(RPMDebPackages), tail(string(out), 20))
	}
	var infos []debInfo
	for _, d := range debs {
		fields, err := exec.Command("dpkg-deb", "-f", d, "Package", "Version", "Depends", "Pre-Depends", "Provides").Output()
		if err != nil {
			return nil, fmt.Errorf("dpkg-deb -f %s: %w", d, err)
		}
		infos = append(infos, parseDebFields(string(fields)))
		if err := run("dpkg-deb", "-x", d, root); err != nil {
			return nil, err
		}
	}
	return infos, nil
}

// parseDebFields reads `dpkg-deb -f DEB Package Version Depends
// Pre-Depends Provides` output.
func parseDebFields(s string) debInfo {
	var d debInfo
	list := func(v string) []string {
		var out []string
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	for _, l := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			d.name = v
		case "Version":
			d.version = v
		case "Depends", "Pre-Depends":
			d.depends = append(d.depends, list(v)...)
		case "Provides":
			for _, p := range list(v) {
				d.provides = append(d.provides, depName(p))
			}
		}
	}
	return d
}

// depName is the package name of one dependency: "libc6 (>= 2.34)" and
// "libc6:any" are libc6.
func depName(dep string) string {
	dep = strings.TrimSpace(dep)
	if i := strings.IndexAny(dep, " ("); i >= 0 {
		dep = dep[:i]
	}
	name, _, _ := strings.Cut(dep, ":")
	return name
}

// rpmLibs returns the Debian library packages (lib*) the repackaged
// binaries depend on: what the RPM image must have. Of an alternative
// group ("crun | runc") none is needed when one of them is repackaged,
// else the first. Other dependencies are not libraries of the binaries
// (fuse3's maintainer scripts need adduser, mount and sed) and are left
// out: mount and sed are essential, and the RPMs run no scripts.
func rpmLibs(debs []debInfo) []string {
	have := map[string]bool{}
	for _, d := range debs {
		have[d.name] = true
		for _, p := range d.provides {
			have[p] = true
		}
	}
	need := map[string]bool{}
	for _, d := range debs {
		for _, group := range d.depends {
			alts := strings.Split(group, "|")
			satisfied := false
			for _, a := range alts {
				satisfied = satisfied || have[depName(a)]
			}
			if !satisfied && strings.HasPrefix(depName(alts[0]), "lib") {
				need[depName(alts[0])] = true
			}
		}
	}
	var out []string
	for n := range need {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// rpmVersion turns a Debian version into an RPM one: no epoch, no Debian
// revision, no repack suffix ("+ds1"), and a snapshot marked with ^ as
// Fedora does ("0.0~git20230309.7c7625d" is "0.0^git20230309.7c7625d").
func rpmVersion(deb string) string {
	if _, v, ok := strings.Cut(deb, ":"); ok {
		deb = v
	}
	if i := strings.LastIndex(deb, "-"); i > 0 {
		deb = deb[:i]
	}
	deb, _, _ = strings.Cut(deb, "+")
	return strings.ReplaceAll(deb, "~", "^")
}

// versionMacro names the rpm macro holding a deb's version: v_aardvark_dns.
func versionMacro(pkg string) string {
	return "v_" + strings.NewReplacer("-", "_", ".", "_", "+", "_").Replace(pkg)
}

// RPMRepoDir returns the host path of the Fedora kind's RPM repository,
// building it when the cache lacks it.
func RPMRepoDir(tb testing.TB) (string, error) {
	tb.Helper()
	if err := setup(tb); err != nil {
		return "", err
	}
	sp, err := spec(Fedora)
	if err != nil {
		return "", err
	}
	return rpmRepoDir(tb, sp.suite)
}

// rpmRepoLibs returns the Debian library packages the repository's
// binaries need in the image (saved beside the repository when it was
// built).
func rpmRepoLibs(repo string) ([]string, error) {
	b, err := os.ReadFile(repo + ".libs")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

// rpmRepoDir builds the repository of a Debian suite's debs (the RPM
// image of that suite has their libraries) once per cache key: the debs
// downloaded and unpacked, every spec built with rpmbuild (the debroot
// macro naming the unpacked debs, debcopy copying from them, v_PACKAGE
// their versions), createrepo_c,
// and the libraries the image needs saved as REPO.libs.
func rpmRepoDir(tb logger, suite string) (string, error) {
	return hs.do(hs.repos, "rpm-"+suite, func() (string, error) {
		_, sources, err := sourcesFile()
		if err != nil {
			return "", err
		}
		repo := filepath.Join(hs.cache, "repos", "rpm-"+rpmKey(sources, suite))
		if fileExists(filepath.Join(repo, "repodata", "repomd.xml")) && fileExists(repo+".libs") {
			return repo, nil
		}
		start := time.Now()
		tmp := repo + ".tmp"
		os.RemoveAll(tmp)
		specDir, debDir, debRoot := filepath.Join(tmp, "specs"), filepath.Join(tmp, "debs"), filepath.Join(tmp, "debroot")
		for _, d := range []string{specDir, debDir} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return "", err
			}
		}
		debs, err := fetchDebs(suite, sources, debDir, debRoot)
		if err != nil {
			return "", err
		}
		stage(tb, fmt.Sprintf("download and unpack %d %s debs for the rpm repository", len(debs), suite), start)
		script, lists := filepath.Join(tmp, "debcopy.sh"), filepath.Join(tmp, "files")
		if err := os.WriteFile(script, []byte(debcopyScript), 0o644); err != nil {
			return "", err
		}
		if err := os.MkdirAll(lists, 0o755); err != nil {
			return "", err
		}
		args := []string{"-bb", "--quiet",
			"--define", "_topdir " + filepath.Join(tmp, "build"),
			"--define", "_rpmdir " + filepath.Join(tmp, "repo"),
			"--define", "_build_id_links none",
			"--define", "__os_install_post %{nil}",
			"--define", "debug_package %{nil}",
			"--define", "_binary_payload w2.gzdio",
			"--define", "debroot " + debRoot,
			"--define", "debcopy sh " + script + " " + debRoot,
			"--define", "debfiles " + lists}
		for _, d := range debs {
			args = append(args, "--define", versionMacro(d.name)+" "+rpmVersion(d.version))
		}
		names, _ := fs.Glob(rpmSpecs, "rpm-specs/*.spec")
		sort.Strings(names)
		for _, n := range names {
			b, _ := rpmSpecs.ReadFile(n)
			p := filepath.Join(specDir, filepath.Base(n))
			if err := os.WriteFile(p, b, 0o644); err != nil {
				return "", err
			}
			args = append(args, p)
		}
		buildStart := time.Now()
		if err := runLogged(exec.Command("rpmbuild", args...), filepath.Join(tmp, "rpmbuild.log")); err != nil {
			return "", err
		}
		if err := run("createrepo_c", "--quiet", filepath.Join(tmp, "repo")); err != nil {
			return "", err
		}
		stage(tb, fmt.Sprintf("rpmbuild and createrepo_c (%d specs)", len(names)), buildStart)
		libs := rpmLibs(debs)
		if err := os.WriteFile(repo+".libs.tmp", []byte(strings.Join(libs, "\n")+"\n"), 0o644); err != nil {
			return "", err
		}
		os.RemoveAll(repo)
		if err := os.Rename(filepath.Join(tmp, "repo"), repo); err != nil {
			return "", err
		}
		if err := os.Rename(repo+".libs.tmp", repo+".libs"); err != nil {
			return "", err
		}
		os.RemoveAll(tmp)
		stage(tb, fmt.Sprintf("build %s rpm repository (%d specs, real podman; libraries for the image: %s)", suite, len(names), strings.Join(libs, " ")), start)
		return repo, nil
	})
}
