package systemd

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/tasks"
)

// unitSuffixes are the unit types systemd knows.
var unitSuffixes = []string{".service", ".socket", ".target", ".timer", ".mount", ".automount",
	".path", ".slice", ".scope", ".swap", ".device"}

// quadletSuffixes are Podman's Quadlet source files, turned into units by
// Podman's systemd generator at daemon-reload.
var quadletSuffixes = []string{".container", ".volume", ".network", ".kube", ".pod", ".image", ".build"}

func hasSuffix(name string, list []string) bool {
	for _, s := range list {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return true
		}
	}
	return false
}

// isQuadlet reports whether name is a Quadlet source file.
func isQuadlet(name string) bool { return hasSuffix(name, quadletSuffixes) }

// serviceName returns the unit a name stands for in the service module:
// names without a unit suffix are services (as systemctl assumes), and a
// Quadlet file stands for the service Podman generates from it.
func serviceName(name string) string {
	if isQuadlet(name) {
		return quadletUnit(name)
	}
	if hasSuffix(name, unitSuffixes) {
		return name
	}
	return name + ".service"
}

// quadletUnit is the service Podman's generator makes from a Quadlet file
// (podman-systemd.unit(5)): web.container → web.service, data.volume →
// data-volume.service, and so on; .kube gives NAME.service.
func quadletUnit(file string) string {
	ext := path.Ext(file)
	base := strings.TrimSuffix(file, ext)
	switch ext {
	case ".container", ".kube":
		return base + ".service"
	}
	return base + "-" + ext[1:] + ".service"
}

// validUnitName checks a unit or Quadlet file name given as an argument.
func validUnitName(arg, name string, quadlet bool) error {
	switch {
	case name == "":
		return tasks.BadArg(arg, "is required")
	case strings.HasPrefix(name, "-"):
		return tasks.BadArg(arg, "must not start with '-'")
	case strings.ContainsAny(name, "/ \t\n\\"):
		return tasks.BadArg(arg, "is not a unit name: "+name)
	case strings.HasPrefix(name, "."):
		return tasks.BadArg(arg, "is not a unit name: "+name)
	}
	if quadlet && (hasSuffix(name, unitSuffixes) || hasSuffix(name, quadletSuffixes)) {
		return nil
	}
	if !quadlet && hasSuffix(name, unitSuffixes) {
		return nil
	}
	if quadlet {
		return tasks.BadArg(arg, fmt.Sprintf("%s has no unit suffix (%s) or Quadlet suffix (%s)", name,
			strings.Join(unitSuffixes, " "), strings.Join(quadletSuffixes, " ")))
	}
	return tasks.BadArg(arg, name+" has no unit suffix")
}

// scope is the manager a task talks to: the system's, or one user's.
type scope struct {
	// Name is "" for the system manager, else the user's name.
	Name string
	UID  uint32
	GID  uint32
	Home string
}

func (s scope) user() bool { return s.Name != "" }

// fileReader reads host files: a *tasks.System or a tasks.UserFiles.
type fileReader interface {
	ReadFile(p string) ([]byte, error)
	ReadFileIfExists(p string) ([]byte, bool, error)
	ReadDir(p string) ([]fs.DirEntry, error)
}

// files reads the files of the scope's manager with its rights: a user's
// units and links with the user's (tasks.UserFiles), so that a link in a
// home to a file only root may read is refused, never read.
func (s scope) files(sys *tasks.System) fileReader {
	if !s.user() {
		return sys
	}
	return sys.AsUser(facts.User{Name: s.Name, UID: int64(s.UID), GID: int64(s.GID), Home: s.Home})
}

// String names the manager for messages.
func (s scope) String() string {
	if !s.user() {
		return "system"
	}
	return "user " + s.Name
}

// validScope checks the scope and user arguments.
func validScope(sc, user string) error {
	switch sc {
	case "", "system":
		if user != "" {
			return tasks.BadArg("user", "is only for scope: user")
		}
	case "user":
		if user == "" {
			return tasks.BadArg("user", "is required with scope: user")
		}
		if strings.HasPrefix(user, "-") || strings.ContainsAny(user, ":/ \t\n") {
			return tasks.BadArg("user", "is not a valid user name: "+user)
		}
	default:
		return tasks.BadArg("scope", "must be system or user, not "+sc)
	}
	return nil
}

// resolveScope looks the user up in the host's accounts. A user that does
// not exist gives the system scope's zero value with no error; callers
// check sc.Name for scope user.
func resolveScope(sys *tasks.System, sc, user string) (scope, error) {
	if sc != "user" {
		return scope{}, nil
	}
	u, ok := sys.Facts.LookupUser(user)
	if !ok {
		// The caller decides: an earlier task may create the user.
		return scope{}, nil
	}
	if u.Home == "" || !strings.HasPrefix(u.Home, "/") {
		return scope{}, fmt.Errorf("user %s has no absolute home directory", user)
	}
	return scope{Name: u.Name, UID: uint32(u.UID), GID: uint32(u.GID), Home: u.Home}, nil
}

// offline reports whether there is no systemd to talk to: an image being
// built (sys.Image, --root) or a host whose PID 1 is not systemd. Modules then work on the
// files only, as `systemctl --root` does.
func offline(sys *tasks.System) bool {
	return sys.Image || imageRoot(sys) || !sys.Facts.SystemdPID1()
}

// imageRoot reports whether sys is a tree rather than the running host.
// Unit tests, whose hosts are temp dirs, replace it to run the online logic
// against fakes.
var imageRoot = func(sys *tasks.System) bool { return sys.Root != "" && sys.Root != "/" }

// configDir is where unit files and enablement links of a scope live.
func configDir(sc scope) string {
	if sc.user() {
		return path.Join(sc.Home, ".config/systemd/user")
	}
	return "/etc/systemd/system"
}

// quadletDir is where Podman's generator reads Quadlet files of a scope.
func quadletDir(sc scope) string {
	if sc.user() {
		return path.Join(sc.Home, ".config/containers/systemd")
	}
	return "/etc/containers/systemd"
}

// unitPaths is the search path for unit files of a scope, most important
// first, as systemd.unit(5) lists it (without runtime and generator
// directories, which are empty offline).
func unitPaths(sc scope) []string {
	if sc.user() {
		return []string{configDir(sc), "/etc/systemd/user", "/usr/local/lib/systemd/user", "/lib/systemd/user", "/usr/lib/systemd/user"}
	}
	return []string{"/etc/systemd/system", "/usr/local/lib/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"}
}
