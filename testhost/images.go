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

// suite is the Debian release of every image.
const suite = "bookworm"

// BasePackages are installed by mmdebstrap (variant minbase) into every
// image: systemd as PID 1, D-Bus, sshd, and logind sessions for SSH logins.
var BasePackages = []string{"systemd", "systemd-sysv", "dbus", "openssh-server", "sudo", "passwd", "libpam-systemd"}

// FedoraExtraPackages are added to BasePackages for the Fedora-like image.
var FedoraExtraPackages = []string{"dnf", "rpm"}

// DebRepoPackages are what the offline apt repository offers (with all their
// dependencies and Recommends that the Debian image lacks).
var DebRepoPackages = []string{"podman", "uidmap", "fuse-overlayfs", "containers-storage"}

// PythonPackages are added to BasePackages for the DebianPy image, which
// shares the Debian image's offline apt repository.
var PythonPackages = []string{"python3", "python3-apt"}

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

// imageKey is the cache key of a family's rootfs (and, for Debian, of its
// apt repository, whose lists are baked into the image).
func imageKey(family string, sources []byte) string {
	parts := [][]byte{[]byte(recipeVersion), []byte(family), []byte(suite), sources,
		[]byte(strings.Join(BasePackages, ","))}
	switch family {
	case "debian":
		parts = append(parts, []byte(strings.Join(DebRepoPackages, ",")))
	case "debpy":
		parts = append(parts, []byte(strings.Join(DebRepoPackages, ",")), []byte(strings.Join(PythonPackages, ",")))
	case "fedora":
		parts = append(parts, []byte(strings.Join(FedoraExtraPackages, ",")), []byte(rpmKey(sources)))
	}
	return hashKey(parts...)
}

// family maps a host kind to the rootfs it boots.
func family(k Kind) string {
	switch k {
	case Debian:
		return "debian"
	case DebianPy:
		return "debpy"
	}
	return "fedora"
}

// lowerDir returns this run's unpacked rootfs of a family, building the
// cached image first when it is missing.
func lowerDir(tb logger, fam string) (string, error) {
	tb.Helper()
	return hs.do(hs.lowers, fam, func() (string, error) {
		src, sources, err := sourcesFile()
		if err != nil {
			return "", err
		}
		key := imageKey(fam, sources)
		img := filepath.Join(hs.cache, "images", fam+"-"+key+".tar")
		lower := filepath.Join(hs.mem, "lower-"+fam)
		var repo string
		switch fam {
		case "debian":
			repo = debRepoDir(key)
		case "debpy":
			repo = debRepoDir(imageKey("debian", sources))
		}
		if fileExists(img) && (repo == "" || fileExists(filepath.Join(repo, "Packages.gz"))) {
			start := time.Now()
			if err := unpack(img, lower); err != nil {
				return "", err
			}
			stage(tb, "unpack "+fam+" rootfs", start)
			return lower, nil
		}
		start := time.Now()
		if err := buildImage(tb, fam, key, src, img, lower); err != nil {
			return "", fmt.Errorf("build %s rootfs: %w", fam, err)
		}
		stage(tb, "build "+fam+" rootfs (cold cache)", start)
		return lower, nil
	})
}

func debRepoDir(key string) string { return filepath.Join(hs.cache, "repos", "deb-"+key) }

// DebRepo returns the host path of the offline apt repository (built with
// the Debian image).
func DebRepo(tb testing.TB) string {
	tb.Helper()
	if err := setup(tb); err != nil {
		tb.Fatalf("testhost: %v", err)
	}
	if _, err := lowerDir(tb, "debian"); err != nil {
		tb.Fatalf("testhost: %v", err)
	}
	_, sources, _ := sourcesFile()
	return debRepoDir(imageKey("debian", sources))
}

// buildImage makes a family's rootfs with mmdebstrap into a scratch
// directory, customises it, caches it as a tarball and unpacks that into
// lower.
func buildImage(tb logger, fam, key, sources, img, lower string) error {
	tmp := filepath.Join(hs.cache, "tmp", fmt.Sprintf("build-%s-%d", fam, os.Getpid()))
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	root := filepath.Join(tmp, "root")
	pkgs := append([]string{}, BasePackages...)
	var rpmRepo string
	if fam == "debpy" {
		pkgs = append(pkgs, PythonPackages...)
	}
	if fam == "fedora" {
		pkgs = append(pkgs, FedoraExtraPackages...)
		var err error
		if rpmRepo, err = rpmRepoDir(tb); err != nil {
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
	cmd := exec.Command("mmdebstrap", "--mode=root", "--variant=minbase",
		"--include="+strings.Join(pkgs, ","), suite, root, sources)
	if err := runLogged(cmd, logPath); err != nil {
		return err
	}
	stage(tb, "mmdebstrap "+fam, start)

	start = time.Now()
	if err := customizeCommon(root); err != nil {
		return err
	}
	switch fam {
	case "debian":
		repo := debRepoDir(key)
		if !fileExists(filepath.Join(repo, "Packages.gz")) {
			if err := buildDebRepo(tb, root, repo); err != nil {
				return err
			}
		}
		if err := customizeDebian(root, repo); err != nil {
			return err
		}
	case "debpy":
		// The Debian image's repository, computed against its smaller
		// package set, so it serves both images.
		_, src, _ := sourcesFile()
		repo := debRepoDir(imageKey("debian", src))
		if !fileExists(filepath.Join(repo, "Packages.gz")) {
			if _, err := lowerDir(tb, "debian"); err != nil {
				return err
			}
		}
		if err := customizeDebian(root, repo); err != nil {
			return err
		}
	case "fedora":
		if err := customizeFedora(root, rpmRepo); err != nil {
			return err
		}
	}
	stage(tb, "customise "+fam+" rootfs", start)

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
	stage(tb, "tar "+fam+" rootfs into the cache", start)
	start = time.Now()
	if err := unpack(img, lower); err != nil {
		return err
	}
	stage(tb, "unpack "+fam+" rootfs", start)
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
// lacks for DebRepoPackages (apt pointed at the image's dpkg status, with
// Recommends) and indexes them (testhosts.md §3).
func buildDebRepo(tb logger, root, repo string) error {
	start := time.Now()
	tmp := repo + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "partial"), 0o755); err != nil {
		return err
	}
	args := []string{"-q", "-o", "DPkg::Lock::Timeout=900",
		"-o", "Dir::State::status=" + filepath.Join(root, "var/lib/dpkg/status"),
		"-o", "Dir::Cache::archives=" + tmp,
		"-o", "APT::Install-Recommends=true",
		"--download-only", "install", "-y"}
	args = append(args, DebRepoPackages...)
	out, err := exec.Command("apt-get", args...).CombinedOutput()
	if err != nil && strings.Contains(string(out), "Unable to locate package") {
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
	stage(tb, fmt.Sprintf("build apt repository (%d debs)", len(debs)), start)
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
