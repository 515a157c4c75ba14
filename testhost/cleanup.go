package testhost

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"
)

// bridgePrefix names the fleet bridges ("pe2e-br1"); guest veths are named
// by nspawn from the machine name: ve-NAME (single) and vb-NAME (bridge).
const bridgePrefix = "pe2e-br"

var guestLinkRE = regexp.MustCompile(`^v[eb]-(debian|fedora|yum|debpy)-`)

// CleanupStale removes what a killed earlier run left behind: it stops the
// guests still running in the harness's cgroups (SIGTERM, then SIGKILL),
// unmounts everything mounted under the cache directory, deletes the lab
// bridges and guest veths, removes the per-guest cgroups and old run
// directories, and restores the sysctls and device modes recorded in
// restore.json. It leaves this process's own hosts alone, and refuses to
// touch anything while another live run holds the cache lock.
func CleanupStale() error {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.lock != nil {
		return hs.cleanupStaleLocked(func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) })
	}
	cache := CacheDir()
	if !isDir(cache) {
		return nil
	}
	lock, err := os.OpenFile(filepath.Join(cache, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(lock.Name())
		return fmt.Errorf("another e2e run (pid %s) holds %s", strings.TrimSpace(string(pid)), lock.Name())
	}
	hs.cache = cache
	return hs.cleanupStaleLocked(func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) })
}

// cleanupStaleLocked does CleanupStale's work; the caller holds hs.mu and
// the cache lock.
func (h *harness) cleanupStaleLocked(logf func(string, ...any)) error {
	start := time.Now()
	var errs *multierror.Error
	did := false

	// 1. Guests left running: SIGTERM each nspawn (clean poweroff), then
	// SIGKILL whatever is left in their cgroups.
	stale := staleGuestCgroups()
	for name := range h.hosts {
		delete(stale, name)
	}
	var dirs []string
	for name, ds := range stale {
		for _, pid := range cgroupPIDs(ds[0]) {
			if isNspawn(pid) {
				logf("testhost: stale guest %s: SIGTERM systemd-nspawn pid %d", name, pid)
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
		dirs = append(dirs, ds...)
		did = true
	}
	if len(dirs) > 0 {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			n := 0
			for _, d := range dirs {
				n += len(cgroupPIDs(d))
			}
			if n == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := killCgroups(dirs, 10*time.Second); err != nil {
			errs = multierror.Append(errs, err)
		}
		if err := removeCgroups(dirs); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	if len(h.hosts) == 0 {
		for _, r := range cgroupRoots() {
			os.Remove(filepath.Join(r, cgroupGroup))
		}
	}

	// 2. Mounts under the cache directory (overlays of hosts, and whatever an
	// interrupted mmdebstrap or chroot left), deepest first.
	mounts, err := mountsUnder(h.cache)
	if err != nil {
		errs = multierror.Append(errs, err)
	}
	for _, mp := range mounts {
		if h.runDir != "" && (mp == h.runDir || strings.HasPrefix(mp, h.runDir+"/")) {
			continue
		}
		logf("testhost: stale mount %s: unmounting", mp)
		if err := unmount(mp); err != nil {
			errs = multierror.Append(errs, err)
		}
		did = true
	}

	// 3. Lab bridges and guest veths.
	links, _ := os.ReadDir("/sys/class/net")
	for _, l := range links {
		name := l.Name()
		if h.bridges[name] {
			continue
		}
		if strings.HasPrefix(name, bridgePrefix) || (guestLinkRE.MatchString(name) && !h.ownsLink(name)) {
			logf("testhost: stale link %s: deleting", name)
			if err := deleteLink(name); err != nil {
				errs = multierror.Append(errs, err)
			}
			did = true
		}
	}

	// 4. Sysctls and device modes a dead run changed.
	if !h.raised && !h.fuse {
		if s, err := loadSettings(h.cache); err == nil && (len(s.Sysctl) > 0 || len(s.FileMode) > 0) {
			logf("testhost: restoring host settings of an earlier run: %v %v", s.Sysctl, s.FileMode)
			did = true
		}
		if err := restoreSettings(h.cache); err != nil {
			errs = multierror.Append(errs, err)
		}
	}

	// 5. Old run and build directories, once nothing is mounted in them.
	for _, sub := range []string{"run", "tmp"} {
		ents, _ := os.ReadDir(filepath.Join(h.cache, sub))
		for _, e := range ents {
			p := filepath.Join(h.cache, sub, e.Name())
			if p == h.runDir {
				continue
			}
			logf("testhost: stale directory %s: removing", p)
			if err := removeTree(p); err != nil {
				errs = multierror.Append(errs, err)
			}
			did = true
		}
	}
	if did {
		h.timings = append(h.timings, timing{"clean up stale run", time.Since(start)})
	}
	return errs.ErrorOrNil()
}

// ownsLink reports whether a veth belongs to one of this process's hosts.
func (h *harness) ownsLink(link string) bool {
	for _, host := range h.hosts {
		if link == "ve-"+host.Name || link == "vb-"+host.Name {
			return true
		}
	}
	return false
}

// isNspawn reports whether pid runs systemd-nspawn.
func isNspawn(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return err == nil && strings.TrimSpace(string(b)) == "systemd-nspawn"
}

// deleteLink deletes a network link; a link already gone is fine.
func deleteLink(name string) error {
	if !fileExists("/sys/class/net/" + name) {
		return nil
	}
	err := run("ip", "link", "del", name)
	if err != nil && !fileExists("/sys/class/net/"+name) {
		return nil
	}
	return err
}

// Leftovers lists what the harness has left on the machine: processes in
// its cgroups, per-guest cgroups, mounts under the cache directory, lab
// bridges and guest veths, recorded host settings and run directories. After
// a run has finished (Main returned, or CleanupStale ran) it should be empty.
func Leftovers() []string {
	var out []string
	for _, r := range cgroupRoots() {
		if isDir(filepath.Join(r, cgroupGroup)) {
			out = append(out, "cgroup "+filepath.Join(r, cgroupGroup))
		}
	}
	for name, dirs := range staleGuestCgroups() {
		var pids []int
		for _, d := range dirs {
			pids = append(pids, cgroupPIDs(d)...)
		}
		if len(pids) > 0 {
			out = append(out, fmt.Sprintf("processes %v in cgroup %s", pids, name))
		} else {
			out = append(out, fmt.Sprintf("cgroup %s", strings.Join(dirs, ", ")))
		}
	}
	cache := CacheDir()
	mounts, _ := mountsUnder(cache)
	for _, mp := range mounts {
		out = append(out, "mount "+mp)
	}
	links, _ := os.ReadDir("/sys/class/net")
	for _, l := range links {
		if strings.HasPrefix(l.Name(), bridgePrefix) || guestLinkRE.MatchString(l.Name()) {
			out = append(out, "link "+l.Name())
		}
	}
	if s, err := loadSettings(cache); err == nil && (len(s.Sysctl) > 0 || len(s.FileMode) > 0) {
		out = append(out, fmt.Sprintf("unrestored settings %v %v", s.Sysctl, s.FileMode))
	}
	for _, sub := range []string{"run", "tmp"} {
		ents, _ := os.ReadDir(filepath.Join(cache, sub))
		for _, e := range ents {
			out = append(out, "directory "+filepath.Join(cache, sub, e.Name()))
		}
	}
	return out
}
