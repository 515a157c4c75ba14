package testhost

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Kind is the sort of host to boot.
type Kind string

// The host kinds (see kinds for what each is made of).
const (
	// Debian is Debian 12 with the offline apt repository of the real
	// podman, uidmap, fuse-overlayfs and containers-storage.
	Debian Kind = "debian"
	// Fedora is the Fedora-like host: real dnf and rpm, os-release saying
	// fedora 39, and a repository of the real podman and its helpers
	// (Debian 12's, repackaged under Fedora's names: RPMDebPackages).
	Fedora Kind = "fedora"
	// Yum is the Fedora-like host with only yum (linked to dnf-3) and no dnf,
	// as CentOS 7-style scripts expect.
	Yum Kind = "yum"
	// DebianPy is Debian with python3 and python3-apt added (PythonPackages),
	// for Ansible's modules: the benchmark against ansible-playbook boots it.
	// provision needs neither; the suite's hosts are plain Debian.
	DebianPy Kind = "debpy"
	// Trixie is Debian 13 with an offline apt repository of podman 5
	// (pasta, netavark, aardvark-dns, crun) computed as Debian's is.
	Trixie Kind = "trixie"
	// DNF5 is the Fedora-like host whose package manager is dnf5 (Debian
	// forky's dnf5 and rpm; no dnf 4), with an RPM repository made as the
	// Fedora kind's from forky's debs (podman 5).
	DNF5 Kind = "dnf5"
	// Bullseye is a minimal Debian 11 (glibc 2.31): the oldest userland
	// the harness can boot, for the static agent. It has no package
	// repository.
	Bullseye Kind = "bullseye"
)

// Kinds lists the host kinds the suite covers (DebianPy, a benchmark
// variant of Debian, is not among them).
var Kinds = []Kind{Debian, Trixie, Fedora, DNF5, Yum, Bullseye}

// kindSpec is what a host kind is made of.
type kindSpec struct {
	// image names the cached rootfs (several kinds may boot one image).
	image string
	// suite is the Debian release mmdebstrap installs.
	suite string
	// extra packages are added to BasePackages.
	extra []string
	// debRepo lists what the image's own offline apt repository offers
	// (with dependencies and Recommends the image lacks); nil for none.
	debRepo []string
	// debRepoOf names another image whose apt repository this one uses.
	debRepoOf string
	// rpm marks an RPM host: the RPM repository of its suite, os-release of
	// Fedora (customizeFedora).
	rpm bool
	// prep adjusts a guest's root before boot (after the common prep).
	prep func(root string) error
	// custom finishes the image after the family's customisation; recipe
	// names what it does and is part of the image's cache key.
	custom func(root string) error
	recipe string
	// unified boots the guest on a pure cgroup2 hierarchy (systemd-nspawn's
	// SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1; no controllers are delegated
	// there): systemd 258 and later refuse the machine's hybrid cgroups
	// ("Detected unsupported legacy cgroup hierarchy, refusing
	// execution").
	unified bool
}

// FedoraExtraPackages are added to BasePackages for the Fedora-like image.
var FedoraExtraPackages = []string{"dnf", "rpm"}

// DNF5ExtraPackages are added to BasePackages for the dnf5 image.
var DNF5ExtraPackages = []string{"dnf5", "rpm"}

// DebRepoPackages are what the Debian 12 offline apt repository offers
// (with all their dependencies and Recommends that the image lacks).
var DebRepoPackages = []string{"podman", "uidmap", "fuse-overlayfs", "containers-storage"}

// TrixieRepoPackages are what the Debian 13 offline apt repository offers:
// podman 5 and, named although podman recommends or needs them, its
// rootless network (passt for pasta, slirp4netns), netavark with
// aardvark-dns, and crun.
var TrixieRepoPackages = []string{"podman", "uidmap", "fuse-overlayfs", "containers-storage",
	"passt", "slirp4netns", "netavark", "aardvark-dns", "crun", "catatonit", "dbus-user-session"}

// PythonPackages are added to BasePackages for the DebianPy image, which
// shares the Debian image's offline apt repository.
var PythonPackages = []string{"python3", "python3-apt"}

// kinds is the table of host kinds. Its slices are read when a key is
// computed, so tests may change the package lists.
func kinds() map[Kind]kindSpec {
	return map[Kind]kindSpec{
		Debian:   {image: "debian", suite: "bookworm", debRepo: DebRepoPackages},
		DebianPy: {image: "debpy", suite: "bookworm", extra: PythonPackages, debRepoOf: "debian"},
		Fedora:   {image: "fedora", suite: "bookworm", extra: FedoraExtraPackages, rpm: true},
		Yum:      {image: "fedora", suite: "bookworm", extra: FedoraExtraPackages, rpm: true, prep: yumOnly},
		Trixie:   {image: "trixie", suite: "trixie", debRepo: TrixieRepoPackages},
		DNF5: {image: "dnf5", suite: "forky", extra: DNF5ExtraPackages, rpm: true, unified: true,
			custom: dnf5LocalPluginOff, recipe: "libdnf5 local plugin off"},
		Bullseye: {image: "bullseye", suite: "bullseye"},
	}
}

// spec returns a kind's entry in the table.
func spec(k Kind) (kindSpec, error) {
	s, ok := kinds()[k]
	if !ok {
		var names []string
		for n := range kinds() {
			names = append(names, string(n))
		}
		sort.Strings(names)
		return s, fmt.Errorf("unknown host kind %q (want one of %s)", k, strings.Join(names, ", "))
	}
	return s, nil
}

// imageSpec returns the entry of the first kind (in table order of Kinds,
// then DebianPy) that boots image.
func imageSpec(image string) (kindSpec, error) {
	for _, k := range append(append([]Kind{}, Kinds...), DebianPy) {
		if s := kinds()[k]; s.image == image {
			return s, nil
		}
	}
	return kindSpec{}, fmt.Errorf("no host kind boots image %q", image)
}

// yumOnly makes a Fedora-like root a yum host: no dnf, yum linked to dnf-3.
func yumOnly(root string) error {
	if err := os.Remove(filepath.Join(root, "usr/bin/dnf")); err != nil {
		return fmt.Errorf("yum host: %w", err)
	}
	if err := os.Symlink("dnf-3", filepath.Join(root, "usr/bin/yum")); err != nil {
		return fmt.Errorf("yum host: %w", err)
	}
	return nil
}

// dnf5LocalPluginOff turns off the libdnf5 "local" plugin, which Debian's
// dnf5 enables (enabled = host-only) and Fedora does not install
// (libdnf5-plugin-local): after every transaction it copies the packages
// into /var/lib/dnf/plugins/local* and runs createrepo_c, which the image
// lacks, so a successful install exited 1 with "Createrepo_c process
// exited with code 255".
func dnf5LocalPluginOff(root string) error {
	return writeFile(root, "etc/dnf/libdnf5-plugins/local.conf", "# provision e2e host: off, as on Fedora (no libdnf5-plugin-local)\n[main]\nname = local\nenabled = 0\n", 0o644)
}

// hostSuite returns the machine's own Debian release (VERSION_CODENAME in
// /etc/os-release), whose apt lists the machine's apt already has.
func hostSuite() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VERSION_CODENAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

var suiteWord = regexp.MustCompile(`\b(bookworm|trixie|forky|sid|bullseye|buster|duke)\b`)

// sourcesFor rewrites the machine's apt sources (deb822 or one-line) for
// another Debian suite: the release names in Suites: fields and in deb
// lines become suite ("bookworm-updates" becomes "trixie-updates"). Only
// the mirror's configuration is reused; its URIs stay as they are.
func sourcesFor(sources []byte, suite string) []byte {
	lines := strings.Split(string(sources), "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "Suites:") || strings.HasPrefix(t, "deb ") || strings.HasPrefix(t, "deb-src ") {
			lines[i] = suiteWord.ReplaceAllString(l, suite)
		}
	}
	return []byte(strings.Join(lines, "\n"))
}
