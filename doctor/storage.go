package doctor

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// storageConf is what doctor needs from the storage.conf in effect for a
// subject (domain.md §3.1): a rootless user's
// ~/.config/containers/storage.conf replaces the system file, and
// /etc/containers/storage.conf replaces /usr/share/containers/storage.conf.
type storageConf struct {
	file                string // "" when none exists
	driver              string
	graphroot           string
	rootlessStoragePath string
	err                 error
}

func (e *env) storageConf(s *subject) storageConf {
	files := []string{"/etc/containers/storage.conf", "/usr/share/containers/storage.conf"}
	if !s.root() {
		files = append([]string{path.Join(s.user.Home, ".config/containers/storage.conf")}, files...)
	}
	for _, f := range files {
		data, ok, err := e.sys.ReadFileIfExists(f)
		if err != nil {
			return storageConf{file: f, err: err}
		}
		if !ok {
			continue
		}
		var doc struct {
			Storage struct {
				Driver              string `toml:"driver"`
				Graphroot           string `toml:"graphroot"`
				RootlessStoragePath string `toml:"rootless_storage_path"`
			} `toml:"storage"`
		}
		if _, err := toml.Decode(string(data), &doc); err != nil {
			return storageConf{file: f, err: err}
		}
		return storageConf{file: f, driver: doc.Storage.Driver, graphroot: doc.Storage.Graphroot, rootlessStoragePath: doc.Storage.RootlessStoragePath}
	}
	return storageConf{}
}

// defaultGraphRoot is where s's storage lives without asking podman:
// root's graphroot, a user's own graphroot, rootless_storage_path
// ($HOME, $USER, $UID expanded) or ~/.local/share/containers/storage.
func (e *env) defaultGraphRoot(s *subject) string {
	sc := e.storageConf(s)
	userFile := !s.root() && strings.HasPrefix(sc.file, s.user.Home+"/")
	switch {
	case s.root() && sc.graphroot != "":
		return sc.graphroot
	case s.root():
		return "/var/lib/containers/storage"
	case userFile && sc.graphroot != "":
		return sc.graphroot
	case sc.rootlessStoragePath != "":
		r := strings.NewReplacer("$HOME", s.user.Home, "$USER", s.user.Name, "$UID", strconv.FormatInt(s.user.UID, 10))
		return r.Replace(sc.rootlessStoragePath)
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
	if e.storageConf(s).driver == "" {
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
