package testhost

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// recipeVersion is part of every cache key: bump it when the way images or
// repositories are made changes, so that stale caches are rebuilt.
const recipeVersion = "provision-e2e/3"

// BasePackages are installed by mmdebstrap (variant minbase) into every
// image: systemd as PID 1, D-Bus, sshd, and logind sessions for SSH logins.
var BasePackages = []string{"systemd", "systemd-sysv", "dbus", "openssh-server", "sudo", "passwd", "libpam-systemd"}

//go:embed rpm-specs/*.spec
var rpmSpecs embed.FS

// Guest paths of the repositories bound read-only into every guest.
const (
	GuestDebRepo = "/srv/debrepo"
	GuestRPMRepo = "/srv/rpmrepo"
)

// sourcesFile returns the machine's apt sources, handed to mmdebstrap as its
// MIRROR argument so the configured mirror is used without naming it.
func sourcesFile() (string, []byte, error) {
	for _, p := range []string{"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"} {
		b, err := os.ReadFile(p)
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			return p, b, nil
		}
	}
	return "", nil, errors.New("no apt sources: neither /etc/apt/sources.list.d/debian.sources nor /etc/apt/sources.list")
}

func hashKey(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// specsKey hashes the embedded RPM specs.
func specsKey() string {
	var parts [][]byte
	names, _ := fs.Glob(rpmSpecs, "rpm-specs/*.spec")
	sort.Strings(names)
	for _, n := range names {
		b, _ := rpmSpecs.ReadFile(n)
		parts = append(parts, []byte(n), b)
	}
	return hashKey(parts...)
}

// imageKey is the cache key of an image's rootfs (and of its own apt
// repository, whose lists are baked into the image): the recipe, the
// image, its Debian suite, the machine's apt sources and every package
// list that goes into it.
func imageKey(image string, sources []byte) string {
	sp, _ := imageSpec(image)
	parts := [][]byte{[]byte(recipeVersion), []byte(image), []byte(sp.suite), sources,
		[]byte(strings.Join(BasePackages, ","))}
	if sp.debRepo != nil {
		parts = append(parts, []byte(strings.Join(sp.debRepo, ",")))
	}
	if sp.debRepoOf != "" {
		of, _ := imageSpec(sp.debRepoOf)
		parts = append(parts, []byte(strings.Join(of.debRepo, ",")))
	}
	if sp.extra != nil {
		parts = append(parts, []byte(strings.Join(sp.extra, ",")))
	}
	if sp.rpm {
		parts = append(parts, []byte(rpmKey(sources, sp.suite)))
	}
	if sp.recipe != "" {
		parts = append(parts, []byte(sp.recipe))
	}
	return hashKey(parts...)
}

// debRepoOf returns the host path of the apt repository an image's guests
// get, or "" when it has none.
func debRepoOf(image string, sources []byte) string {
	sp, _ := imageSpec(image)
	switch {
	case sp.debRepo != nil:
		return debRepoDir(imageKey(image, sources))
	case sp.debRepoOf != "":
		return debRepoDir(imageKey(sp.debRepoOf, sources))
	}
	return ""
}

// lowerDir returns this run's unpacked rootfs of an image, building the
// cached image first when it is missing.
func lowerDir(tb logger, image string) (string, error) {
	tb.Helper()
	return hs.do(hs.lowers, image, func() (string, error) {
		src, sources, err := sourcesFile()
		if err != nil {
			return "", err
		}
		key := imageKey(image, sources)
		img := filepath.Join(hs.cache, "images", image+"-"+key+".tar")
		lower := filepath.Join(hs.mem, "lower-"+image)
		repo := debRepoOf(image, sources)
		if fileExists(img) && (repo == "" || fileExists(filepath.Join(repo, "Packages.gz"))) {
			start := time.Now()
			if err := unpack(img, lower); err != nil {
				return "", err
			}
			stage(tb, "unpack "+image+" rootfs", start)
			return lower, nil
		}
		start := time.Now()
		if err := buildImage(tb, image, key, src, sources, img, lower); err != nil {
			return "", fmt.Errorf("build %s rootfs: %w", image, err)
		}
		stage(tb, "build "+image+" rootfs (cold cache)", start)
		return lower, nil
	})
}

func debRepoDir(key string) string { return filepath.Join(hs.cache, "repos", "deb-"+key) }

// DebRepo returns the host path of the Debian 12 offline apt repository
// (built with the Debian image).
func DebRepo(tb testing.TB) string {
	tb.Helper()
	if err := setup(tb); err != nil {
		tb.Fatalf("testhost: %v", err)
	}
	if _, err := lowerDir(tb, "debian"); err != nil {
		tb.Fatalf("testhost: %v", err)
	}
	_, sources, _ := sourcesFile()
	return debRepoOf("debian", sources)
}

// buildImage makes an image's rootfs with mmdebstrap into a scratch
// directory, customises it, caches it as a tarball and unpacks that into
// lower. sources is the machine's apt sources (at path src), rewritten for
// the image's suite when it is not the machine's own.
func buildImage(tb logger, image, key, src string, sources []byte, img, lower string) (err error) {
	sp, err := imageSpec(image)
	if err != nil {
		return err
	}
	tmp := filepath.Join(hs.cache, "tmp", fmt.Sprintf("build-%s-%d", image, os.Getpid()))
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp) // the error carries mmdebstrap's log tail
		}
	}()
	var aptOpts []string
	if sp.suite != hostSuite() {
		// The mirror may be a dated snapshot: testing's and sid's Release
		// files carry Valid-Until and are expired there (forky's said
		// "invalid since 29d"); the archive's signatures are still checked.
		aptOpts = append(aptOpts, `Acquire::Check-Valid-Until "false"`)
		ext := ".list"
		if strings.HasSuffix(src, ".sources") {
			ext = ".sources"
		}
		src = filepath.Join(tmp, sp.suite+ext)
		if err := os.WriteFile(src, sourcesFor(sources, sp.suite), 0o644); err != nil {
			return err
		}
	}
	root := filepath.Join(tmp, "root")
	pkgs := append(append([]string{}, BasePackages...), sp.extra...)
	var rpmRepo string
	if sp.rpm {
		if rpmRepo, err = rpmRepoDir(tb, sp.suite); err != nil {
			return err
		}
		// The libraries of the repository's binaries (see RPMDebPackages).
		libs, err := rpmRepoLibs(rpmRepo)
		if err != nil {
			return err
		}
		pkgs = append(pkgs, libs...)
	}
	start := time.Now()
	logPath := filepath.Join(tmp, "mmdebstrap.log")
	args := []string{"--mode=root", "--variant=minbase", "--include=" + strings.Join(pkgs, ",")}
	for _, o := range aptOpts {
		args = append(args, "--aptopt="+o)
	}
	cmd := exec.Command("mmdebstrap", append(args, sp.suite, root, src)...)
	if err := runLogged(cmd, logPath); err != nil {
		return err
	}
	stage(tb, "mmdebstrap "+image+" ("+sp.suite+")", start)

	start = time.Now()
	if err := customizeCommon(root); err != nil {
		return err
	}
	switch {
	case sp.debRepo != nil:
		repo := debRepoDir(key)
		if !fileExists(filepath.Join(repo, "Packages.gz")) {
			if err := buildDebRepo(tb, root, repo, sp, src, tmp); err != nil {
				return err
			}
		}
		if err := customizeDebian(root, repo); err != nil {
			return err
		}
	case sp.debRepoOf != "":
		// The other image's repository, computed against its smaller
		// package set, so it serves both images.
		repo := debRepoOf(image, sources)
		if !fileExists(filepath.Join(repo, "Packages.gz")) {
			if _, err := lowerDir(tb, sp.debRepoOf); err != nil {
				return err
			}
		}
		if err := customizeDebian(root, repo); err != nil {
			return err
		}
	case sp.rpm:
		if err := customizeFedora(root, rpmRepo); err != nil {
			return err
		}
	default:
		// No repository: apt must not reach for the mirror either.
		if err := disableMirror(root); err != nil {
			return err
		}
	}
	if sp.custom != nil {
		if err := sp.custom(root); err != nil {
			return err
		}
	}
	stage(tb, "customise "+image+" rootfs", start)

	start = time.Now()
	if err := os.MkdirAll(filepath.Dir(img), 0o755); err != nil {
		return err
	}
	if err := run("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", root, "-cf", img+".tmp", "."); err != nil {
		return err
	}
	if err := os.Rename(img+".tmp", img); err != nil {
		return err
	}
	stage(tb, "tar "+image+" rootfs into the cache", start)
	start = time.Now()
	if err := unpack(img, lower); err != nil {
		return err
	}
	stage(tb, "unpack "+image+" rootfs", start)
	return os.RemoveAll(tmp)
}

// runLogged runs cmd with its output in logPath and the log's tail in the
// error.
func runLogged(cmd *exec.Cmd, logPath string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(logPath)
		return fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, tail(string(b), 30))
	}
	return nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func unpack(img, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return run("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", img, "-C", dir)
}

func writeFile(root, p, content string, mode os.FileMode) error {
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	os.Remove(full) // may be a symlink (resolv.conf) or read-only
	return os.WriteFile(full, []byte(content), mode)
}

// customizeCommon bakes into every image what is the same for all guests:
// no host keys (each guest gets its own), no DNS, networkd enabled, device
// nodes usable by rootless podman, and no timers that grab the dpkg lock.
func customizeCommon(root string) error {
	keys, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*"))
	for _, k := range keys {
		os.Remove(k)
	}
	files := []struct {
		path, content string
		mode          os.FileMode
	}{
		{"etc/ssh/sshd_config.d/provision-e2e.conf", "# provision e2e host: one ed25519 host key per guest, made by the harness\nHostKey /etc/ssh/ssh_host_ed25519_key\nUseDNS no\n", 0o644},
		{"etc/resolv.conf", "# provision e2e host: no DNS (packages come from file repositories)\n", 0o644},
		{"etc/hostname", "localhost\n", 0o644},
		{"etc/machine-id", "", 0o444},
		// No udev: /dev/net/tun (slirp4netns) and /dev/fuse are 0600 (testhosts.md §4).
		{"etc/tmpfiles.d/provision-e2e-devices.conf", "z /dev/net/tun 0666 - - -\nz /dev/fuse 0666 - - -\n", 0o644},
	}
	for _, f := range files {
		if err := writeFile(root, f.path, f.content, f.mode); err != nil {
			return err
		}
	}
	for _, d := range []string{"srv/debrepo", "srv/rpmrepo", "root/.ssh"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return err
		}
		os.Chmod(filepath.Join(root, d), 0o755)
	}
	os.Chmod(filepath.Join(root, "root/.ssh"), 0o700)
	if err := run("systemctl", "--root="+root, "enable", "systemd-networkd.service"); err != nil {
		return err
	}
	timers := []string{"apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "e2scrub_all.timer", "fstrim.timer"}
	var present []string
	for _, t := range timers {
		if fileExists(filepath.Join(root, "lib/systemd/system", t)) {
			present = append(present, t)
		}
	}
	if len(present) > 0 {
		if err := run("systemctl", append([]string{"--root=" + root, "mask"}, present...)...); err != nil {
			return err
		}
	}
	return nil
}

// disableMirror moves the mirror sources mmdebstrap pasted into the image
// out of sources.list.d: without network, apt-get update would fail on them.
func disableMirror(root string) error {
	ents, _ := filepath.Glob(filepath.Join(root, "etc/apt/sources.list.d/*"))
	dis := filepath.Join(root, "etc/apt/sources.disabled")
	if err := os.MkdirAll(dis, 0o755); err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.Rename(e, filepath.Join(dis, filepath.Base(e))); err != nil {
			return err
		}
	}
	if fileExists(filepath.Join(root, "etc/apt/sources.list")) {
		return os.Rename(filepath.Join(root, "etc/apt/sources.list"), filepath.Join(dis, "sources.list"))
	}
	return nil
}

// customizeDebian points apt at the offline repository and bakes its lists
// into the image, so `apt-get install` works in a fresh guest as on a real
// host whose lists are current.
func customizeDebian(root, repo string) error {
	if err := disableMirror(root); err != nil {
		return err
	}
	if err := writeFile(root, "etc/apt/sources.list.d/provision-e2e.list", "deb [trusted=yes] file:"+GuestDebRepo+" ./\n", 0o644); err != nil {
		return err
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-ec",
		`mount --bind "$1" "$2`+GuestDebRepo+`"; exec chroot "$2" apt-get -q update`, "sh", repo, root)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update in the image: %v: %s", err, out)
	}
	return nil
}

// customizeFedora makes the Debian-built rootfs look like Fedora 39 to dnf,
// rpm and os-release readers (testhosts.md §5).
func customizeFedora(root, rpmRepo string) error {
	if err := disableMirror(root); err != nil {
		return err
	}
	if err := writeFile(root, "etc/rpm/macros.dbpath", "%_dbpath /var/lib/rpm\n", 0o644); err != nil {
		return err
	}
	if err := writeFile(root, "etc/yum.repos.d/provision-e2e.repo", `[provision-e2e]
name=provision e2e stub packages
baseurl=file://`+GuestRPMRepo+`
enabled=1
gpgcheck=0
repo_gpgcheck=0
metadata_expire=0
`, 0o644); err != nil {
		return err
	}
	rel, err := filepath.Glob(filepath.Join(rpmRepo, "noarch", "fedora-release-*.rpm"))
	if err != nil || len(rel) != 1 {
		return fmt.Errorf("fedora-release rpm not found in %s", rpmRepo)
	}
	if err := os.MkdirAll(filepath.Join(root, "var/lib/rpm"), 0o755); err != nil {
		return err
	}
	// Debian's rpm says "use Alien instead" on stderr for rpm -i: noise.
	if err := run("rpm", "--root", root, "--define", "_dbpath /var/lib/rpm", "-i", "--nodeps", rel[0]); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(root, "etc/os-release"))
	if err != nil || !strings.Contains(string(b), "ID=fedora") {
		return fmt.Errorf("os-release does not say fedora after installing fedora-release: %s", b)
	}
	return nil
}

// buildDebRepo downloads, with the machine's apt, exactly the debs the image
// lacks for the image's repository packages (apt pointed at the image's
// dpkg status, with Recommends) and indexes them (testhosts.md §3). For a
// suite other than the machine's own, apt reads src (the sources
// rewritten for that suite) into lists of its own under scratch.
func buildDebRepo(tb logger, root, repo string, sp kindSpec, src, scratch string) error {
	start := time.Now()
	tmp := repo + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "partial"), 0o755); err != nil {
		return err
	}
	aptArgs := []string{"-q", "-o", "DPkg::Lock::Timeout=900"}
	own := sp.suite == hostSuite()
	if !own {
		dirs := filepath.Join(scratch, "apt")
		for _, d := range []string{"sources", "lists/partial", "cache"} {
			if err := os.MkdirAll(filepath.Join(dirs, d), 0o755); err != nil {
				return err
			}
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dirs, "sources", filepath.Base(src)), b, 0o644); err != nil {
			return err
		}
		aptArgs = append(aptArgs, "-o", "Dir::Etc::SourceList=/dev/null",
			"-o", "Dir::Etc::SourceParts="+filepath.Join(dirs, "sources"),
			"-o", "Dir::State::Lists="+filepath.Join(dirs, "lists"),
			"-o", "Dir::Cache="+filepath.Join(dirs, "cache"),
			"-o", "Acquire::Check-Valid-Until=false") // as for mmdebstrap (buildImage)
		if err := run("apt-get", append(aptArgs, "update")...); err != nil {
			return fmt.Errorf("apt-get update for %s: %w", sp.suite, err)
		}
	}
	args := append(append([]string{}, aptArgs...),
		"-o", "Dir::State::status="+filepath.Join(root, "var/lib/dpkg/status"),
		"-o", "Dir::Cache::archives="+tmp,
		"-o", "APT::Install-Recommends=true",
		"--download-only", "install", "-y")
	args = append(args, sp.debRepo...)
	out, err := exec.Command("apt-get", args...).CombinedOutput()
	if err != nil && own && strings.Contains(string(out), "Unable to locate package") {
		// The machine's lists are missing: fetch them once and retry.
		if err := run("apt-get", "-q", "-o", "DPkg::Lock::Timeout=900", "update"); err != nil {
			return err
		}
		out, err = exec.Command("apt-get", args...).CombinedOutput()
	}
	if err != nil {
		return fmt.Errorf("apt-get --download-only: %v: %s", err, tail(string(out), 20))
	}
	os.RemoveAll(filepath.Join(tmp, "partial"))
	os.Remove(filepath.Join(tmp, "lock"))
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) == 0 {
		return fmt.Errorf("apt-get --download-only fetched no debs: %s", tail(string(out), 20))
	}
	cmd := exec.Command("dpkg-scanpackages", "--multiversion", ".", "/dev/null")
	cmd.Dir = tmp
	var idx, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &idx, &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("dpkg-scanpackages: %v: %s", err, errb.String())
	}
	if err := os.WriteFile(filepath.Join(tmp, "Packages"), idx.Bytes(), 0o644); err != nil {
		return err
	}
	if err := run("gzip", "-9kf", filepath.Join(tmp, "Packages")); err != nil {
		return err
	}
	os.RemoveAll(repo)
	if err := os.Rename(tmp, repo); err != nil {
		return err
	}
	stage(tb, fmt.Sprintf("build %s apt repository (%d debs)", sp.suite, len(debs)), start)
	return nil
}

// BusyboxRootfs returns the path of a tarball holding a minimal busybox
// rootfs (the host's static busybox and its applet links), for `podman
// import` in a guest (testhosts.md §4). It is cached, keyed by the binary.
func BusyboxRootfs(tb testing.TB) string {
	tb.Helper()
	if err := setup(tb); err != nil {
		tb.Fatalf("testhost: %v", err)
	}
	p, err := hs.do(hs.other, "busybox", func() (string, error) {
		bin, err := os.ReadFile(busyboxPath)
		if err != nil {
			return "", err
		}
		out := filepath.Join(hs.cache, "busybox-"+hashKey(bin)+".tar")
		if fileExists(out) {
			return out, nil
		}
		list, err := exec.Command(busyboxPath, "--list-full").Output()
		if err != nil {
			return "", fmt.Errorf("busybox --list-full: %w", err)
		}
		var buf bytes.Buffer
		if err := writeBusyboxTar(&buf, bin, strings.Fields(string(list))); err != nil {
			return "", err
		}
		if err := os.WriteFile(out+".tmp", buf.Bytes(), 0o644); err != nil {
			return "", err
		}
		return out, os.Rename(out+".tmp", out)
	})
	if err != nil {
		tb.Fatalf("testhost: busybox rootfs: %v", err)
	}
	return p
}

func writeBusyboxTar(w io.Writer, bin []byte, applets []string) error {
	tw := tar.NewWriter(w)
	now := time.Unix(0, 0)
	dirs := map[string]bool{}
	dir := func(d string, mode int64) error {
		if dirs[d] {
			return nil
		}
		dirs[d] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: now})
	}
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "proc", "sys", "dev", "run", "var"} {
		if err := dir(d, 0o755); err != nil {
			return err
		}
	}
	if err := dir("tmp", 0o1777); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin)), ModTime: now}); err != nil {
		return err
	}
	if _, err := tw.Write(bin); err != nil {
		return err
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for _, name := range []string{"etc/passwd", "etc/group"} {
		c := files[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(c)), ModTime: now}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, c); err != nil {
			return err
		}
	}
	seen := map[string]bool{"bin/busybox": true}
	for _, a := range applets {
		a = strings.TrimPrefix(a, "/")
		if seen[a] || a == "" || strings.Contains(a, "..") {
			continue
		}
		seen[a] = true
		if err := dir(filepath.Dir(a), 0o755); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: a, Linkname: "/bin/busybox", Mode: 0o777, ModTime: now}); err != nil {
			return err
		}
	}
	return tw.Close()
}
