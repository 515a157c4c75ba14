package doctor

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/provision-tool/provision/tasks/containers/podmanconf"
)

// storageConf is the storage configuration podman uses for a subject,
// computed as containers/storage does (tasks/containers/podmanconf,
// domain.md §3.1): a rootless user's ~/.config/containers/storage.conf
// replaces the system file, /etc/containers/storage.conf replaces
// /usr/share/containers/storage.conf, and a rootless user without a file
// of their own takes only the driver and rootless_storage_path of the
// system file.
type storageConf struct {
	file string // the file in effect; "" when none exists
	eff  *podmanconf.Storage
	err  error // a file podman refuses (a *podmanconf.LoadError) or cannot be read
}

func (e *env) storageConf(s *subject) storageConf {
	var u *podmanconf.User
	if !s.root() {
		u = &podmanconf.User{Name: s.user.Name, UID: s.user.UID, Home: s.user.Home}
	}
	eff, err := podmanconf.EffectiveStorage(e.files(s), u)
	if err != nil {
		sc := storageConf{err: err}
		var le *podmanconf.LoadError
		if errors.As(err, &le) {
			sc.file = le.Path
		}
		return sc
	}
	sc := storageConf{eff: eff}
	if len(eff.Files) > 0 {
		sc.file = eff.Files[len(eff.Files)-1]
	}
	return sc
}

// driver is the driver the configuration names; "" when podman picks.
func (sc storageConf) driver() string {
	if sc.eff == nil {
		return ""
	}
	return sc.eff.Driver
}

// defaultGraphRoot is where s's storage lives without asking podman:
// root's graphroot, a user's own graphroot, rootless_storage_path
// ($HOME, $USER, $UID expanded) or ~/.local/share/containers/storage.
func (e *env) defaultGraphRoot(s *subject) string {
	if sc := e.storageConf(s); sc.eff != nil {
		return sc.eff.GraphRoot
	}
	if s.root() {
		return podmanconf.DefaultGraphRoot
	}
	return path.Join(s.user.Home, ".local/share/containers/storage")
}

// netavarkPath finds netavark where podman looks for helper binaries.
func (e *env) netavarkPath() string {
	return e.lookPath("netavark", "/usr/libexec/podman/netavark", "/usr/lib/podman/netavark")
}

// hazard is why doctor must not run podman as a subject yet: podman has
// never run for it (no graphroot), and its first run makes choices that
// stick (domain.md §3.2, §4): without a configured driver older podman
// picks vfs and keeps it; without netavark it picks CNI and caches it.
type hazard struct {
	graphRoot  string
	noDriver   bool
	noNetavark bool
	root       bool // root has no checks 12 and 18 to point at
}

func (h *hazard) String() string {
	see := func(n int) string {
		if h.root {
			return ""
		}
		return fmt.Sprintf("; see check %d", n)
	}
	var why []string
	if h.noDriver {
		why = append(why, "no storage driver is configured (the first run may pick vfs and keep it"+see(12)+")")
	}
	if h.noNetavark {
		why = append(why, "netavark is not installed (the first run may pick CNI and cache it"+see(18)+")")
	}
	return fmt.Sprintf("podman has never run here (%s does not exist) and running it now would fix the first run's choices: %s",
		h.graphRoot, strings.Join(why, "; "))
}

// firstRunHazard returns the hazard of running podman as s, or nil.
func (e *env) firstRunHazard(ctx context.Context, s *subject) *hazard {
	if s.hazardDone {
		return s.hazard
	}
	s.hazardDone = true
	gr := e.defaultGraphRoot(s)
	if e.sys.Exists(gr) {
		return nil
	}
	h := &hazard{graphRoot: gr, root: s.root()}
	if e.storageConf(s).driver() == "" {
		h.noDriver = true
	}
	// podman 5 never picks CNI: without netavark it fails (check 18).
	if v, _ := e.podmanVersion(ctx); versionAtLeast(v, 4, 0) && !versionAtLeast(v, 5, 0) && e.netavarkPath() == "" {
		h.noNetavark = true
	}
	if h.noDriver || h.noNetavark {
		s.hazard = h
	}
	return s.hazard
}
