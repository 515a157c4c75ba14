// Package facts gathers what modules and playbooks need to know about a
// host: its distribution, package manager, kernel, users and groups,
// login.defs and init system. Each fact is read on first use, from files
// under the host's root, so a run pays only for the facts it uses and tests
// can describe a host with a few files in a temp dir.
package facts

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/provision-tool/provision/tasks/hostfs"
)

// Facts is the lazily gathered description of one host. The zero value is
// not usable; call New.
type Facts struct {
	root string

	osOnce sync.Once
	os     OS

	pmOnce sync.Once
	pm     string

	kOnce    sync.Once
	kernel   string
	arch     string
	hostname string

	ldOnce sync.Once
	ld     LoginDefs

	acct accounts
}

// New returns the facts of the host whose filesystem is rooted at root
// ("/" for the host the agent runs on).
func New(root string) *Facts {
	if root == "" {
		root = "/"
	}
	return &Facts{root: root}
}

// Root is the filesystem root these facts are read from.
func (f *Facts) Root() string { return f.root }

// fsys reads the host's files inside its root: links resolve inside it
// and only regular files are read (an image's /etc/hostname linking to
// the build machine's files, or a FIFO, must not be read).
func (f *Facts) fsys() hostfs.FS { return hostfs.FS{Root: f.root} }

func (f *Facts) readFile(p string) ([]byte, error) { return f.fsys().ReadFile(p) }

// OS is what /etc/os-release says.
type OS struct {
	ID         string   `json:"id"`
	IDLike     []string `json:"id_like"`
	VersionID  string   `json:"version_id"`
	PrettyName string   `json:"pretty_name"`
	// Family is "debian", "redhat" or the ID itself when neither.
	Family string `json:"family"`
}

// OS returns the host's os-release facts.
func (f *Facts) OS() OS {
	f.osOnce.Do(func() {
		data, err := f.readFile("/etc/os-release")
		if err != nil {
			data, _ = f.readFile("/usr/lib/os-release")
		}
		kv := ParseEnvFile(data)
		f.os = OS{ID: kv["ID"], VersionID: kv["VERSION_ID"], PrettyName: kv["PRETTY_NAME"], IDLike: strings.Fields(kv["ID_LIKE"])}
		f.os.Family = family(f.os)
	})
	return f.os
}

func family(o OS) string {
	for _, id := range append([]string{o.ID}, o.IDLike...) {
		switch id {
		case "debian", "ubuntu":
			return "debian"
		case "rhel", "fedora", "centos":
			return "redhat"
		}
	}
	return o.ID
}

// ParseEnvFile parses os-release style KEY=value lines, removing shell
// quotes.
func ParseEnvFile(data []byte) map[string]string {
	kv := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil && strings.HasPrefix(v, `"`) {
			v = uq
		} else {
			v = strings.Trim(v, `'"`)
		}
		kv[k] = v
	}
	return kv
}

// PackageManager returns "dnf5", "dnf", "yum" or "apt", or "" when the host
// has none of them. dnf is reported as dnf5 when /usr/bin/dnf is DNF 5
// (Fedora 41 and later).
func (f *Facts) PackageManager() string {
	f.pmOnce.Do(func() {
		f.pm = f.detectPM()
	})
	return f.pm
}

func (f *Facts) detectPM() string {
	exists := func(p string) bool { _, err := f.fsys().Stat(p); return err == nil }
	// A Debian host may have dnf installed too (to build RPM images); its
	// own package manager is apt.
	if f.OS().Family == "debian" && exists("/usr/bin/apt-get") {
		return "apt"
	}
	for _, dir := range []string{"/usr/bin", "/bin", "/usr/sbin"} {
		if exists(dir + "/dnf") {
			if target, err := f.fsys().Resolve(dir + "/dnf"); err == nil && strings.HasPrefix(filepath.Base(target), "dnf5") {
				return "dnf5"
			}
			return "dnf"
		}
	}
	for _, dir := range []string{"/usr/bin", "/bin"} {
		if exists(dir + "/dnf5") {
			return "dnf5"
		}
	}
	for _, dir := range []string{"/usr/bin", "/bin"} {
		if exists(dir + "/yum") {
			return "yum"
		}
	}
	if exists("/usr/bin/apt-get") {
		return "apt"
	}
	return ""
}

// Kernel returns the running kernel's release ("6.1.0-25-amd64"). Under a
// root other than "/", it reads ROOT/proc/sys/kernel/osrelease so tests can
// set it.
func (f *Facts) Kernel() string {
	f.unameOnce()
	return f.kernel
}

// Arch returns the machine architecture as uname reports it ("x86_64").
func (f *Facts) Arch() string {
	f.unameOnce()
	return f.arch
}

func (f *Facts) unameOnce() {
	f.kOnce.Do(func() {
		var u unix.Utsname
		if err := unix.Uname(&u); err == nil {
			f.kernel = unix.ByteSliceToString(u.Release[:])
			f.arch = unix.ByteSliceToString(u.Machine[:])
			f.hostname = unix.ByteSliceToString(u.Nodename[:])
		} else {
			f.arch = runtime.GOARCH
		}
		if f.root != "/" {
			if data, err := f.readFile("/proc/sys/kernel/osrelease"); err == nil {
				f.kernel = strings.TrimSpace(string(data))
			}
			f.hostname = ""
			if data, err := f.readFile("/etc/hostname"); err == nil {
				f.hostname = strings.TrimSpace(string(data))
			}
		}
	})
}

// KernelAtLeast reports whether the kernel release is at least major.minor.
func (f *Facts) KernelAtLeast(major, minor int) bool {
	maj, min := KernelVersion(f.Kernel())
	return maj > major || maj == major && min >= minor
}

// KernelVersion extracts the major and minor numbers of a kernel release.
func KernelVersion(release string) (major, minor int) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0
	}
	major, _ = strconv.Atoi(parts[0])
	digits := parts[1]
	if end := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); end >= 0 {
		digits = digits[:end]
	}
	minor, _ = strconv.Atoi(digits)
	return major, minor
}

// SystemdPID1 reports whether systemd is the running init, as sd_booted(3)
// decides: /run/systemd/system exists.
func (f *Facts) SystemdPID1() bool {
	st, err := f.fsys().Stat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// LoginDefs holds the /etc/login.defs settings that decide UID and
// subordinate ID allocation, with shadow's defaults for missing keys.
type LoginDefs struct {
	UIDMin      int64 `json:"uid_min"`
	UIDMax      int64 `json:"uid_max"`
	SubUIDMin   int64 `json:"sub_uid_min"`
	SubUIDMax   int64 `json:"sub_uid_max"`
	SubUIDCount int64 `json:"sub_uid_count"`
	SubGIDMin   int64 `json:"sub_gid_min"`
	SubGIDMax   int64 `json:"sub_gid_max"`
	SubGIDCount int64 `json:"sub_gid_count"`
}

// LoginDefs returns the host's login.defs values.
func (f *Facts) LoginDefs() LoginDefs {
	f.ldOnce.Do(func() {
		data, _ := f.readFile("/etc/login.defs")
		f.ld = ParseLoginDefs(data)
	})
	return f.ld
}

// ParseLoginDefs parses login.defs(5) content, filling shadow's defaults.
func ParseLoginDefs(data []byte) LoginDefs {
	ld := LoginDefs{UIDMin: 1000, UIDMax: 60000,
		SubUIDMin: 100000, SubUIDMax: 600100000, SubUIDCount: 65536,
		SubGIDMin: 100000, SubGIDMax: 600100000, SubGIDCount: 65536}
	fields := map[string]*int64{
		"UID_MIN": &ld.UIDMin, "UID_MAX": &ld.UIDMax,
		"SUB_UID_MIN": &ld.SubUIDMin, "SUB_UID_MAX": &ld.SubUIDMax, "SUB_UID_COUNT": &ld.SubUIDCount,
		"SUB_GID_MIN": &ld.SubGIDMin, "SUB_GID_MAX": &ld.SubGIDMax, "SUB_GID_COUNT": &ld.SubGIDCount,
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) < 2 || strings.HasPrefix(w[0], "#") {
			continue
		}
		if p, ok := fields[w[0]]; ok {
			if n, err := strconv.ParseInt(w[1], 0, 64); err == nil {
				*p = n
			}
		}
	}
	return ld
}

// Hostname returns the host's name (uname's nodename; under a root other
// than "/", ROOT/etc/hostname).
func (f *Facts) Hostname() string {
	f.unameOnce()
	return f.hostname
}

// UserID returns the name of the user provision runs as, "" when the
// host's passwd does not name it.
func (f *Facts) UserID() string {
	users, _ := f.Users()
	for _, u := range users {
		if u.UID == int64(os.Geteuid()) {
			return u.Name
		}
	}
	return ""
}

// Map returns every fact as plain values, for playbook expressions and
// `provision facts`. It gathers all facts.
func (f *Facts) Map() map[string]any {
	o := f.OS()
	users, _ := f.Users()
	names := make([]string, 0, len(users))
	for _, u := range users {
		names = append(names, u.Name)
	}
	groups, _ := f.Groups()
	gnames := make([]string, 0, len(groups))
	for _, g := range groups {
		gnames = append(gnames, g.Name)
	}
	ld := f.LoginDefs()
	return map[string]any{
		"os": map[string]any{
			"id": o.ID, "id_like": o.IDLike, "version_id": o.VersionID,
			"pretty_name": o.PrettyName, "family": o.Family,
		},
		"package_manager": f.PackageManager(),
		"kernel":          f.Kernel(),
		"arch":            f.Arch(),
		"hostname":        f.Hostname(),
		"user_id":         f.UserID(),
		"systemd":         f.SystemdPID1(),
		"users":           names,
		"groups":          gnames,
		"login_defs": map[string]any{
			"uid_min": ld.UIDMin, "uid_max": ld.UIDMax,
			"sub_uid_min": ld.SubUIDMin, "sub_uid_max": ld.SubUIDMax, "sub_uid_count": ld.SubUIDCount,
			"sub_gid_min": ld.SubGIDMin, "sub_gid_max": ld.SubGIDMax, "sub_gid_count": ld.SubGIDCount,
		},
	}
}
