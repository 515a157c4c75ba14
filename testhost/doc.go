// Package testhost makes real test hosts on this machine for the end-to-end
// suite: Debian 12, Debian 13, Debian 11 and Fedora-like guests (dnf, dnf5,
// yum) booted with systemd-nspawn (systemd as PID 1, D-Bus, sshd reachable
// by key), single or as a fleet on a bridge.
//
// Each Kind is one row of a table (kinds.go): the image it boots, that
// image's Debian suite, the packages added to BasePackages, the offline apt
// repository it gets (its own, another image's, or none) and whether it is
// an RPM host with the RPM repository. Images of other suites than the
// machine's use the machine's apt sources with the release names replaced.
//
// The recipes are those of ../shared/testhosts.md, done in Go:
//
//   - a rootfs per image built once with mmdebstrap from the machine's apt
//     sources and cached as a plain tarball keyed by its recipe (package list,
//     sources, customisation); unpacked once per run into a directory that is
//     the overlayfs lowerdir of every guest;
//   - an offline apt repository (file:/srv/debrepo in the guest) holding the
//     real podman, uidmap, fuse-overlayfs and containers-storage with their
//     dependencies and Recommends, computed against the image's dpkg status
//     (for Debian 13: podman 5 with passt, netavark, aardvark-dns and crun;
//     apt reads that suite's lists into a scratch directory of its own);
//   - an RPM repository (file:///srv/rpmrepo in the guest) of the real
//     podman and every helper it runs (conmon, crun, netavark, aardvark-dns,
//     slirp4netns, passt, fuse-overlayfs, fuse3, catatonit, newuidmap and
//     newgidmap as shadow-utils with the file capabilities Fedora gives
//     them, getsubids as shadow-utils-subid, containers-common and
//     containers-common-extra): the Debian packages of RPMDebPackages, of
//     the image's own suite, downloaded with the machine's apt and
//     repackaged by rpm-specs/*.spec under Fedora's names and Requires,
//     built with rpmbuild and createrepo_c (about 25 s cold); and a
//     Fedora-like rootfs (Debian base plus dnf and rpm, fedora-release
//     installed with rpm so os-release says fedora 39). The shared
//     libraries those binaries link are Debian library packages
//     preinstalled in that rootfs (the lib* dependencies of the repackaged
//     debs, computed when the repository is built), so podman and every
//     helper binary reach an RPM host only through dnf or yum. The "yum"
//     kind is the same rootfs with /usr/bin/dnf removed and yum linked to
//     dnf-3; the "dnf5" kind is a Debian forky base with dnf5 and rpm (no
//     dnf 4) and an RPM repository made the same way from forky's debs;
//   - a minimal Debian 11 (bullseye, glibc 2.31) rootfs with no repository,
//     the oldest userland the harness boots, for the static agent;
//   - a DebianPy variant of the Debian rootfs with python3 and python3-apt,
//     sharing its apt repository, for the benchmark against Ansible (whose
//     modules need them; provision does not).
//
// Each guest gets an overlay on the cached rootfs (lowerdir and upperdir on a
// per-run tmpfs: unpacking there takes 0.3s instead of 8s on this VM's
// ext4), a real directory bound on /home (podman storage must not sit on
// overlayfs), its own cgroup in the name=systemd and unified hierarchies
// (so guests do not share /payload), its own veth (or a port on a fleet
// bridge), a fresh ed25519 host key pinned in a per-run known_hosts file,
// and the run's ed25519 client key in root's authorized_keys. Everything is
// undone by t.Cleanup, on SIGINT/SIGTERM, 30s before -test.timeout (in
// Main), and for a killed earlier run by CleanupStale (which setup calls);
// systemd-nspawn also gets SIGTERM (a clean poweroff) from its parent-death
// signal if the test binary dies.
//
// The API: Require (skip or fail with one line), Main (TestMain wrapper:
// background cache warm-up, final teardown, leftover check, timing table),
// Boot and Fleet (hosts), Host.SSH / SSHAs / SSHExpect (testing helpers
// that log each command with its time and fail with host, command, output
// and journal tail), Host.Exec / Run / RunAs (context-based), Host.CopyIn /
// WriteFile / Root / Home / JournalTail / AuthorizeUser / SSHCommand /
// SSHConfig, BuildProvision and Host.InstallProvision / Host.Provision
// (JSON Lines events decoded as report.Event), BusyboxRootfs, DebRepo,
// RPMRepoDir, CleanupStale and Leftovers.
//
// Usage, in a test built with the e2e tag:
//
//	func TestMain(m *testing.M) { os.Exit(testhost.Main(m, testhost.Debian, testhost.Fedora)) }
//
//	func TestX(t *testing.T) {
//		testhost.Require(t)
//		h := testhost.Boot(t, testhost.Debian, testhost.Options{})
//		h.SSH(t, "apt-get install -y podman")
//	}
//
// The host tools (Debian package names) are listed in .ci/e2e-deps.txt:
//
//	apt-get install -y --no-install-recommends $(grep -v '^#' .ci/e2e-deps.txt)
//
// Environment:
//
//	PROVISION_E2E=required     fail instead of skip when root or tools are missing
//	PROVISION_E2E_CACHE=DIR    cache directory (default /var/cache/provision-e2e)
//
// Cache layout: images/IMAGE-KEY.tar, repos/deb-KEY/, repos/rpm-KEY/ (and
// rpm-KEY.libs, the library packages its image needs),
// busybox-KEY.tar, run/RUNID/ (this run: keys, hosts' mount points, /home
// dirs and console logs, and mem/, the tmpfs of lowerdirs and upperdirs;
// removed at the end), tmp/ (builds in progress), lock (held by the running
// test binary for its whole life) and restore.json (host settings to put
// back if a run dies). Old image keys are not pruned: delete the directory
// to start cold.
package testhost
