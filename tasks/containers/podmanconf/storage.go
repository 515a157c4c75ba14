package podmanconf

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	storagecfg "go.podman.io/storage/pkg/config"
	storagetypes "go.podman.io/storage/types"
)

// storage.conf locations and podman's compiled-in defaults
// (containers-storage.conf(5), go.podman.io/storage/types).
const (
	StorageConf        = "/etc/containers/storage.conf"
	StorageConfDefault = "/usr/share/containers/storage.conf"
	DefaultRunRoot     = "/run/containers/storage"
	DefaultGraphRoot   = "/var/lib/containers/storage"
)

// StorageFile is one storage.conf as containers/storage decodes it.
type StorageFile struct {
	Path   string
	Config storagetypes.TomlConfig
	// Unknown are keys podman does not know; it warns "Failed to decode
	// the keys ..." and goes on.
	Unknown []string
}

// ParseStorage decodes one storage.conf into containers/storage's own
// TomlConfig with the decoder it uses (BurntSushi/toml), so what podman
// refuses is refused here with the same message, as a *LoadError with the
// position of TOML errors. It also refuses what containers/storage refuses
// after decoding: an imagestore equal to the graphroot.
func ParseStorage(p string, data []byte) (*StorageFile, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, MaxFileSize)
	}
	f := &StorageFile{Path: p}
	meta, err := toml.Decode(string(data), &f.Config)
	if err != nil {
		line, col := position(err)
		return nil, &LoadError{Path: p, Line: line, Col: col, Msg: err.Error()}
	}
	for _, k := range meta.Undecoded() {
		f.Unknown = append(f.Unknown, k.String())
	}
	st := f.Config.Storage
	if st.ImageStore != "" && st.ImageStore == st.GraphRoot {
		return nil, &LoadError{Path: p, Msg: fmt.Sprintf("imagestore %s must either be not set or be a different than graphroot", st.ImageStore)}
	}
	return f, nil
}

// driver is the file's driver as containers/storage reads it (overlay2 is
// overlay).
func (f *StorageFile) driver() string {
	if f == nil {
		return ""
	}
	if d := f.Config.Storage.Driver; d != "overlay2" {
		return d
	}
	return "overlay"
}

// overlayOption returns the value of the overlay driver option name
// (mount_program, mountopt) as containers/storage builds the driver
// options: the [storage.options.overlay] table wins over the legacy
// [storage.options] key.
func (f *StorageFile) overlayOption(name string) string {
	if f == nil {
		return ""
	}
	prefix := f.driver() + "." + name + "="
	for _, o := range storagecfg.GetGraphDriverOptions(f.driver(), f.Config.Storage.Options) {
		if v, ok := strings.CutPrefix(o, prefix); ok {
			return v
		}
	}
	return ""
}

// User is whose storage configuration is computed.
type User struct {
	Name string
	UID  int64
	Home string
}

// Storage is the storage configuration podman uses for a user.
type Storage struct {
	// Files are the storage.conf files it comes from, the one in effect
	// last ("" entries never); empty when none exists.
	Files []string
	// Driver is "" when podman picks one itself (for a rootless user: a
	// driver whose <driver>-images directory exists in the graphroot,
	// else overlay when fuse-overlayfs is installed or the kernel is 5.13
	// or newer, else vfs).
	Driver                         string
	RunRoot, GraphRoot, ImageStore string
	RootlessStoragePath            string
	MountProgram, Mountopt         string
	Unknown                        []string // "file: key" podman warns about
}

// Reads the system storage.conf in effect: /etc/containers/storage.conf,
// else /usr/share/containers/storage.conf.
func systemStorage(r Reader) (*StorageFile, error) {
	for _, p := range []string{StorageConf, StorageConfDefault} {
		data, ok, err := readBounded(r, p)
		if err != nil {
			return nil, err
		}
		if ok {
			return ParseStorage(p, data)
		}
	}
	return nil, nil
}

// EffectiveStorage computes the storage configuration podman uses for u
// (nil: root), as go.podman.io/storage v1.62 does (types.DefaultStoreOptions,
// getRootlessStorageOpts), with XDG_CONFIG_HOME, XDG_RUNTIME_DIR,
// CONTAINERS_STORAGE_CONF, STORAGE_DRIVER and STORAGE_OPTS unset:
//
//   - root: /etc/containers/storage.conf, else
//     /usr/share/containers/storage.conf; runroot and graphroot default to
//     /run/containers/storage and /var/lib/containers/storage. Root never
//     reads ~/.config/containers/storage.conf.
//   - a rootless user without ~/.config/containers/storage.conf: only the
//     system file's driver (when rootless-capable: overlay, vfs, btrfs) and
//     rootless_storage_path ($UID, $HOME, $USER expanded) count; graphroot
//     is rootless_storage_path or ~/.local/share/containers/storage,
//     runroot /run/user/UID/containers; graphroot, runroot and the overlay
//     options of the system file are not used.
//   - a rootless user with ~/.config/containers/storage.conf: that file
//     replaces the system one; its graphroot, else its
//     rootless_storage_path, else the default above.
func EffectiveStorage(r Reader, u *User) (*Storage, error) {
	sys, err := systemStorage(r)
	if err != nil {
		return nil, err
	}
	if u == nil || u.UID == 0 {
		return rootStorage(sys), nil
	}
	out := rootlessDefaults(sys, u)
	userPath := path.Join(u.Home, ".config/containers/storage.conf")
	data, ok, err := readBounded(r, userPath)
	if err != nil {
		return nil, err
	}
	if !ok {
		return out, nil
	}
	uf, err := ParseStorage(userPath, data)
	if err != nil {
		return nil, err
	}
	return userStorage(out, uf, u), nil
}

func rootStorage(sys *StorageFile) *Storage {
	out := &Storage{RunRoot: DefaultRunRoot, GraphRoot: DefaultGraphRoot}
	if sys == nil {
		return out
	}
	st := sys.Config.Storage
	out.Files = []string{sys.Path}
	out.Driver = sys.driver()
	root := &User{Name: "root", Home: "/root"}
	if st.RunRoot != "" {
		out.RunRoot = Expand(st.RunRoot, root)
	}
	if st.GraphRoot != "" {
		out.GraphRoot = Expand(st.GraphRoot, root)
	}
	out.ImageStore, out.RootlessStoragePath = st.ImageStore, st.RootlessStoragePath
	out.MountProgram, out.Mountopt = sys.overlayOption("mount_program"), sys.overlayOption("mountopt")
	out.Unknown = unknown(sys)
	return out
}

func rootlessDefaults(sys *StorageFile, u *User) *Storage {
	out := &Storage{
		RunRoot:   fmt.Sprintf("/run/user/%d/containers", u.UID),
		GraphRoot: path.Join(u.Home, ".local/share/containers/storage"),
	}
	if sys == nil {
		return out
	}
	out.Files = []string{sys.Path}
	out.Unknown = unknown(sys)
	if rsp := sys.Config.Storage.RootlessStoragePath; rsp != "" {
		out.GraphRoot = Expand(rsp, u)
	}
	switch d := sys.driver(); d {
	case "overlay", "vfs", "btrfs":
		out.Driver = d
	}
	return out
}

func userStorage(def *Storage, uf *StorageFile, u *User) *Storage {
	st := uf.Config.Storage
	out := &Storage{Files: append(def.Files, uf.Path), Driver: uf.driver(), RunRoot: def.RunRoot, GraphRoot: def.GraphRoot,
		ImageStore: st.ImageStore, Unknown: append(def.Unknown, unknown(uf)...)}
	if st.RunRoot != "" {
		out.RunRoot = Expand(st.RunRoot, u)
	}
	if st.RootlessStoragePath != "" {
		out.RootlessStoragePath = Expand(st.RootlessStoragePath, u)
	}
	switch {
	case st.GraphRoot != "":
		out.GraphRoot = Expand(st.GraphRoot, u)
	case st.RootlessStoragePath != "":
		out.GraphRoot = out.RootlessStoragePath
	}
	out.MountProgram, out.Mountopt = uf.overlayOption("mount_program"), uf.overlayOption("mountopt")
	return out
}

func unknown(f *StorageFile) []string {
	var out []string
	for _, k := range f.Unknown {
		out = append(out, f.Path+": "+k)
	}
	return out
}

// Expand replaces $UID, $HOME and $USER (also as ${...}) as podman does
// for the user, and cleans the path (podman also resolves its links,
// which provision does not follow); other variables, which podman takes
// from its own environment, are left as they are.
func Expand(s string, u *User) string {
	s = strings.ReplaceAll(s, "$UID", strconv.FormatInt(u.UID, 10))
	s = strings.NewReplacer("${HOME}", u.Home, "$HOME", u.Home, "${USER}", u.Name, "$USER", u.Name, "${UID}", strconv.FormatInt(u.UID, 10)).Replace(s)
	if path.IsAbs(s) {
		s = path.Clean(s)
	}
	return s
}

// String renders the configuration in one line.
func (s *Storage) String() string {
	d := s.Driver
	if d == "" {
		d = "(picked by podman)"
	}
	out := fmt.Sprintf("driver %s, graphroot %s, runroot %s", d, s.GraphRoot, s.RunRoot)
	if s.MountProgram != "" {
		out += ", mount_program " + s.MountProgram
	}
	if s.Mountopt != "" {
		out += ", mountopt " + s.Mountopt
	}
	return out
}
