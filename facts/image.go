package facts

import (
	"os"

	"golang.org/x/sys/unix"
)

// ImageEvidence says why the process that runs provision looks like an
// image build (a Containerfile RUN step, `systemd-nspawn -D ROOT` without
// boot, a chroot) rather than a live host: "" when nothing says so.
//
// The rule, documented in docs/images.md, is deliberately narrow, since a
// live host without systemd as PID 1 (a CI runner, a VM with another init)
// must not be mistaken for an image:
//
//   - systemd is running (/run/systemd/system exists): never an image;
//   - otherwise an image when the container manager says this is a
//     container (the environment variable container= set, as
//     systemd-nspawn, podman and buildah set it, or /run/.containerenv,
//     which podman and buildah create), or when the process is chrooted
//     (its root differs from PID 1's root, when that can be read).
//
// /.dockerenv is not evidence: some live sandboxes carry it. A Docker
// build step, which sets none of the above, needs --image.
func ImageEvidence() string {
	if st, err := os.Stat("/run/systemd/system"); err == nil && st.IsDir() {
		return ""
	}
	if v := os.Getenv("container"); v != "" {
		return "container=" + v + " and systemd is not running"
	}
	if _, err := os.Lstat("/run/.containerenv"); err == nil {
		return "/run/.containerenv exists and systemd is not running"
	}
	if chrooted() {
		return "this process is chrooted (its / is not PID 1's)"
	}
	return ""
}

// chrooted reports whether this process's root differs from PID 1's; false
// when PID 1's root cannot be read.
func chrooted() bool {
	var self, init unix.Stat_t
	if unix.Stat("/", &self) != nil || unix.Stat("/proc/1/root/.", &init) != nil {
		return false
	}
	return self.Dev != init.Dev || self.Ino != init.Ino
}
