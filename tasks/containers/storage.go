package containers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/containers/podmanconf"
)

// Storage configuration files, see containers-storage.conf(5).
const (
	StorageConf        = "/etc/containers/storage.conf"
	StorageConfDefault = "/usr/share/containers/storage.conf"
	// FuseOverlayfs is the mount program mount_program "auto" sets on
	// kernels without native rootless overlay.
	FuseOverlayfs = "/usr/bin/fuse-overlayfs"
)

// minimalStorageConf is the starting point when neither storage.conf
// exists.
const minimalStorageConf = `[storage]
driver = "overlay"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
`

// Storage manages a few keys of /etc/containers/storage.conf and keeps the
// rest of the file.
type Storage struct {
	Driver              string  `yaml:"driver" default:"overlay" enum:"overlay,vfs,btrfs,zfs" doc:"storage driver: overlay, vfs, btrfs or zfs"`
	MountProgram        *string `yaml:"mount_program" default:"auto" doc:"overlay mount program: auto (fuse-overlayfs only on kernels older than 5.13), none or \"\" (no mount program: native overlay), or an absolute path"`
	Mountopt            *string `yaml:"mountopt" doc:"overlay mount options (for example nodev,metacopy=on); \"\" removes the key; unset leaves it alone"`
	Graphroot           *string `yaml:"graphroot" doc:"root of rootful storage; \"\" removes the key; unset leaves it alone"`
	Runroot             *string `yaml:"runroot" doc:"runtime root of rootful storage; \"\" removes the key; unset leaves it alone"`
	RootlessStoragePath *string `yaml:"rootless_storage_path" doc:"where rootless users keep their storage ($HOME, $USER and $UID are expanded by podman); \"\" removes the key; unset leaves it alone"`
}

func init() {
	tasks.Register(tasks.Module{
		Name:    "storage",
		Summary: "set the storage driver and overlay options in /etc/containers/storage.conf",
		Doc: `Edits /etc/containers/storage.conf in place: only the managed keys change
(` + "`driver`, `graphroot`, `runroot`, `rootless_storage_path`" + ` under [storage],
` + "`mount_program` and `mountopt`" + ` under [storage.options.overlay]); every other
line, comments included, is kept byte for byte. A missing key is added to its
table (after a commented-out example of it when there is one), a missing table
is appended. When /etc/containers/storage.conf does not exist the edit starts
from the distribution default /usr/share/containers/storage.conf, because a
file in /etc replaces that default entirely; without either it starts from a
minimal [storage] table.

` + "`mount_program: auto`" + ` (the default) sets /usr/bin/fuse-overlayfs only when
the kernel lacks native rootless overlay (older than 5.13, e.g. RHEL 8's
4.18) and otherwise makes sure no mount program is configured, since native
overlay is faster. ` + "`none`" + ` or "" always removes it (also the legacy
[storage.options] spelling, which podman still honours); a path sets it. With
a driver other than overlay, auto leaves mount_program alone. When building
an image (docs/images.md) auto decides for the kernel the image will boot,
assumed 5.13 or newer, never for the build machine's kernel, and the plan
says so; name the mount program for images that boot older kernels.

Check computes the edited file and reports one change per key whose
effective value differs (field storage.driver and so on) plus the file
content with its path for --diff. The edited text is decoded again with a
TOML parser and must give exactly the wanted values and leave every other
setting as it was; anything else is reported as a bug rather than written.
If the file already says what is wanted, nothing is written.

Podman must accept the file: the file in effect before the edit and the
edited text are decoded into containers/storage's own configuration type
with the decoder it uses, and a file it would refuse (a TOML error, a value
of the wrong type, imagestore equal to graphroot) fails the task with
"podman refuses FILE:LINE:COL: ...", host untouched.

A rootless user's ~/.config/containers/storage.conf replaces this file
entirely for that user, and without one a rootless user takes only driver
(when overlay, vfs or btrfs) and rootless_storage_path from it
(containers/storage v1.62 ignores its graphroot, runroot and overlay
options but ignore_chown_errors for rootless users). Check computes, for every local user with such a file,
what podman uses with and without it, and warns when they differ:
"FILE replaces /etc/containers/storage.conf for USER, so this task's
settings do not apply to USER: podman uses driver vfs, graphroot ...,
runroot ... (the system file would give ...)". A user file podman refuses
is reported too. Those files are never touched.

Changing the driver does not move existing storage: podman keeps using a
user's old ` + "`<driver>-images`" + ` directory or refuses to start, until that user
runs ` + "`podman system reset`" + ` (which deletes their images and containers).
Check warns when the driver changes and such directories exist, for local
users under ~/.local/share/containers/storage and for root under
/var/lib/containers/storage.`,
		Example: `- name: overlay storage, fuse-overlayfs only where the kernel needs it
  storage:
    driver: overlay
    mount_program: auto
    mountopt: nodev`,
		New: func() tasks.Task { return new(Storage) },
	})
}

var storageDrivers = []string{"overlay", "vfs", "btrfs", "zfs"}

// Validate checks the arguments without touching the host.
func (s *Storage) Validate() error {
	if err := checkUTF8Args(s); err != nil {
		return err
	}
	if s.Driver == "" {
		s.Driver = "overlay"
	}
	switch s.Driver {
	case "overlay", "vfs", "btrfs", "zfs":
	case "overlay2":
		return tasks.BadArg("driver", `"overlay2" is spelled "overlay" in storage.conf`)
	default:
		return tasks.BadArg("driver", fmt.Sprintf("%q is not one of %s", s.Driver, strings.Join(storageDrivers, ", ")))
	}
	if mp := s.MountProgram; mp != nil {
		switch *mp {
		case "", "auto", "none":
		default:
			if !filepath.IsAbs(*mp) || filepath.Clean(*mp) != *mp {
				return tasks.BadArg("mount_program", "must be auto, none, \"\" or a clean absolute path")
			}
		}
	}
	for _, a := range []struct {
		name string
		v    *string
		abs  bool
	}{{"mountopt", s.Mountopt, false}, {"graphroot", s.Graphroot, true}, {"runroot", s.Runroot, true}, {"rootless_storage_path", s.RootlessStoragePath, false}} {
		if a.v == nil || *a.v == "" {
			continue
		}
		if strings.ContainsAny(*a.v, "\n\r\x00") {
			return tasks.BadArg(a.name, "must be one line")
		}
		if a.abs && !filepath.IsAbs(*a.v) {
			return tasks.BadArg(a.name, "must be an absolute path")
		}
		if a.name == "rootless_storage_path" && !strings.HasPrefix(*a.v, "/") && !strings.HasPrefix(*a.v, "$") {
			return tasks.BadArg(a.name, "must be an absolute path (it may start with $HOME)")
		}
		if a.name == "mountopt" && strings.ContainsAny(*a.v, " \t") {
			return tasks.BadArg(a.name, "mount options are comma-separated, without blanks")
		}
	}
	return nil
}

// storageKey is one managed setting.
type storageKey struct {
	field  string   // name in the plan
	path   []string // canonical place in the file
	legacy []string // older place podman still reads when path is unset, or nil
	want   *string  // nil: must be absent
}

var (
	pathDriver        = []string{"storage", "driver"}
	pathGraphroot     = []string{"storage", "graphroot"}
	pathRunroot       = []string{"storage", "runroot"}
	pathRootlessPath  = []string{"storage", "rootless_storage_path"}
	pathMountProgram  = []string{"storage", "options", "overlay", "mount_program"}
	pathMountProgram1 = []string{"storage", "options", "mount_program"}
	pathMountopt      = []string{"storage", "options", "overlay", "mountopt"}
	pathMountopt1     = []string{"storage", "options", "mountopt"}
)

// keys returns the settings this task manages on sys, in file order.
func (s *Storage) keys(sys *tasks.System) []storageKey {
	str := func(v string) *string { return &v }
	ks := []storageKey{{field: "storage.driver", path: pathDriver, want: str(s.Driver)}}
	opt := func(field string, path []string, v *string) {
		if v == nil {
			return
		}
		k := storageKey{field: field, path: path}
		if *v != "" {
			k.want = v
		}
		ks = append(ks, k)
	}
	opt("storage.graphroot", pathGraphroot, s.Graphroot)
	opt("storage.runroot", pathRunroot, s.Runroot)
	opt("storage.rootless_storage_path", pathRootlessPath, s.RootlessStoragePath)
	mp := "auto"
	if s.MountProgram != nil {
		mp = *s.MountProgram
	}
	mpKey := storageKey{field: "storage.options.overlay.mount_program", path: pathMountProgram, legacy: pathMountProgram1}
	switch mp {
	case "auto":
		if s.Driver == "overlay" {
			if !sys.Image && !sys.Facts.KernelAtLeast(5, 13) {
				mpKey.want = str(FuseOverlayfs)
			}
			ks = append(ks, mpKey)
		}
	case "", "none":
		ks = append(ks, mpKey)
	default:
		mpKey.want = str(mp)
		ks = append(ks, mpKey)
	}
	if s.Mountopt != nil {
		k := storageKey{field: "storage.options.overlay.mountopt", path: pathMountopt, legacy: pathMountopt1}
		if *s.Mountopt != "" {
			k.want = s.Mountopt
		}
		ks = append(ks, k)
	}
	return ks
}

// effective returns the value podman uses for k in a decoded file: the
// canonical key when it is a non-empty string, else the legacy one.
func effective(doc map[string]any, k storageKey) (string, bool) {
	for _, p := range [][]string{k.path, k.legacy} {
		if p == nil {
			continue
		}
		if v, ok := lookupTOML(doc, p); ok {
			s, isString := v.(string)
			if !isString {
				return fmt.Sprint(v), true
			}
			if s != "" {
				return s, true
			}
		}
	}
	return "", false
}

func present(doc map[string]any, k storageKey) bool {
	for _, p := range [][]string{k.path, k.legacy} {
		if p == nil {
			continue
		}
		if _, ok := lookupTOML(doc, p); ok {
			return true
		}
	}
	return false
}

func decodeTOMLMap(text string) (map[string]any, error) {
	doc := map[string]any{}
	if _, err := toml.Decode(text, &doc); err != nil {
		return nil, err
	}
	return doc, nil
}

type storagePlan struct {
	content []byte
	exists  bool
}

// Check computes the edited storage.conf and the settings that change.
func (s *Storage) Check(_ context.Context, sys *tasks.System) (tasks.Plan, error) {
	var p tasks.Plan
	if err := s.Validate(); err != nil {
		return p, err
	}
	old, exists, err := sys.ReadFileIfExists(StorageConf)
	if err != nil {
		return p, err
	}
	base, source := string(old), StorageConf
	// With neither file, podman runs on compiled-in defaults (on Debian
	// without containers-storage: vfs for rootless users), so the file must
	// be written even when the template already says what we want.
	mustWrite := false
	if !exists {
		def, ok, err := sys.ReadFileIfExists(StorageConfDefault)
		if err != nil {
			return p, err
		}
		if ok {
			base, source = string(def), StorageConfDefault
		} else {
			base, source = minimalStorageConf, "the built-in minimal storage.conf"
			mustWrite = true
		}
	}
	if _, err := podmanconf.ParseStorage(source, []byte(base)); err != nil && !strings.HasPrefix(source, "the built-in") {
		return p, fmt.Errorf("podman refuses %w", err)
	}
	doc, err := decodeTOMLMap(base)
	if err != nil {
		return p, fmt.Errorf("parse %s: %w", source, err)
	}
	keys := s.keys(sys)
	if sys.Image && s.Driver == "overlay" && (s.MountProgram == nil || *s.MountProgram == "auto") {
		p.Warn("image build: mount_program auto is decided for the kernel the image will boot, assumed 5.13 or newer (native rootless overlay), not for this machine's kernel; set mount_program: " + FuseOverlayfs + " for images that boot older kernels")
	}
	for _, k := range keys {
		for i := 1; i < len(k.path); i++ {
			if v, ok := lookupTOML(doc, k.path[:i]); ok {
				if _, isTable := v.(map[string]any); !isTable {
					return p, fmt.Errorf("%s: %s is not a table; cannot set %s", source, strings.Join(k.path[:i], "."), k.field)
				}
			}
		}
	}
	text := base
	for _, k := range keys {
		cur, has := effective(doc, k)
		switch {
		case k.want == nil:
			if !present(doc, k) {
				continue
			}
			for _, path := range [][]string{k.path, k.legacy} {
				if path != nil {
					if text, err = removeTOMLKey(text, path); err != nil {
						return p, fmt.Errorf("edit %s: %w", source, err)
					}
				}
			}
			if has {
				p.Add(k.field, cur, "")
			}
		case !has || cur != *k.want:
			if text, err = setTOMLString(text, k.path, *k.want); err != nil {
				return p, fmt.Errorf("edit %s: %w", source, err)
			}
			p.Add(k.field, cur, *k.want)
		}
	}
	if err := verifyStorageEdit(doc, text, keys); err != nil {
		return p, fmt.Errorf("edit %s: bug: %w", source, err)
	}
	if _, err := podmanconf.ParseStorage(StorageConf, []byte(text)); err != nil {
		return p, fmt.Errorf("edit %s: bug: podman would refuse the result: %w", source, err)
	}
	s.warn(sys, doc, keys, &p)
	if err := warnUserStorage(sys, text, &p); err != nil {
		return p, err
	}
	if text == base && !mustWrite {
		p.Changes = nil
		return p, nil
	}
	before := ""
	if exists {
		before = string(old)
	}
	p.Changes = append(p.Changes, tasks.Change{Field: "content", Path: StorageConf, Before: before, After: text})
	p.Data = storagePlan{content: []byte(text), exists: exists}
	return p, nil
}

// verifyStorageEdit decodes the edited text and checks that the managed
// keys say what is wanted and that nothing else changed.
func verifyStorageEdit(oldDoc map[string]any, text string, keys []storageKey) error {
	newDoc, err := decodeTOMLMap(text)
	if err != nil {
		return fmt.Errorf("the edited file does not parse: %w", err)
	}
	for _, k := range keys {
		got, has := effective(newDoc, k)
		switch {
		case k.want == nil && present(newDoc, k):
			return fmt.Errorf("%s is still set after removing it", k.field)
		case k.want != nil && (!has || got != *k.want):
			return fmt.Errorf("%s decodes as %q, want %q", k.field, got, *k.want)
		}
		if k.want != nil {
			if v, _ := lookupTOML(newDoc, k.path); v != *k.want {
				return fmt.Errorf("%s is %v, want %q", strings.Join(k.path, "."), v, *k.want)
			}
		}
	}
	a, b := cloneMap(oldDoc), newDoc
	for _, k := range keys {
		for _, path := range [][]string{k.path, k.legacy} {
			if path != nil && (k.want == nil || samePath(path, k.path)) {
				deleteTOML(a, path)
				deleteTOML(b, path)
			}
		}
	}
	pruneEmpty(a)
	pruneEmpty(b)
	if !reflect.DeepEqual(a, b) {
		return fmt.Errorf("settings other than the managed keys changed")
	}
	return nil
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			out[k] = cloneMap(sub)
		} else {
			out[k] = v
		}
	}
	return out
}

// warn adds warnings about what the plan cannot fix by itself.
func (s *Storage) warn(sys *tasks.System, doc map[string]any, keys []storageKey, p *tasks.Plan) {
	for _, k := range keys {
		if samePath(k.path, pathMountProgram) && k.want != nil && !sys.Exists(*k.want) {
			p.Warn(fmt.Sprintf("mount_program %s does not exist on this host; install it (package fuse-overlayfs) or overlay storage will fail", *k.want))
		}
	}
	cur, _ := effective(doc, keys[0])
	if cur == s.Driver {
		return
	}
	var stale []string
	check := func(who, dir string) {
		for _, d := range []string{"overlay", "vfs", "btrfs", "zfs", "aufs", "devmapper"} {
			if d == s.Driver {
				continue
			}
			images := filepath.Join(dir, d+"-images")
			if st, err := sys.Stat(images); err == nil && st.IsDir() {
				stale = append(stale, fmt.Sprintf("%s (%s)", who, images))
			}
		}
	}
	graphroot := "/var/lib/containers/storage"
	if v, ok := lookupTOML(doc, pathGraphroot); ok {
		if g, _ := v.(string); g != "" {
			graphroot = g
		}
	}
	if s.Graphroot != nil && *s.Graphroot != "" {
		graphroot = *s.Graphroot
	}
	check("root", graphroot)
	rootless := ""
	if v, ok := lookupTOML(doc, pathRootlessPath); ok {
		rootless, _ = v.(string)
	}
	if s.RootlessStoragePath != nil {
		rootless = *s.RootlessStoragePath
	}
	users, _ := sys.Facts.Users()
	for _, u := range users {
		if u.UID == 0 || u.Home == "" || u.Home == "/" {
			continue
		}
		dir := filepath.Join(u.Home, ".local/share/containers/storage")
		if rootless != "" {
			dir = strings.NewReplacer("$HOME", u.Home, "$USER", u.Name, "$UID", strconv.FormatInt(u.UID, 10)).Replace(rootless)
			if !filepath.IsAbs(dir) {
				continue
			}
		}
		check(u.Name, dir)
	}
	if len(stale) == 0 {
		return
	}
	sort.Strings(stale)
	p.Warn(fmt.Sprintf("storage driver changes to %s, but storage made with another driver exists: %s; podman keeps using it or fails until its owner runs `podman system reset` (which deletes that user's images and containers)",
		s.Driver, strings.Join(stale, ", ")))
}

// warnUserStorage warns, for every local user with a
// ~/.config/containers/storage.conf, that the file replaces the system
// one, with what podman then uses for that user, when that differs from
// what the system file (as it will be written) gives the user.
func warnUserStorage(sys *tasks.System, text string, p *tasks.Plan) error {
	users, err := sys.Facts.Users()
	if err != nil {
		return nil // no user list (an image build without /etc/passwd): nothing to compare
	}
	for _, u := range users {
		if u.UID == 0 || u.Home == "" || u.Home == "/" {
			continue
		}
		userConf := filepath.Join(u.Home, ".config/containers/storage.conf")
		if !sys.Exists(userConf) {
			continue
		}
		pu := &podmanconf.User{Name: u.Name, UID: u.UID, Home: u.Home}
		// Podman reads them as the user: so does provision, and a
		// link in the home to a file only root may read is refused.
		planned := plannedStorage{sys.AsUser(u), text}
		got, err := podmanconf.EffectiveStorage(planned, pu)
		if err != nil {
			p.Warn(fmt.Sprintf("%s: podman refuses it, so podman fails for %s: %v", userConf, u.Name, err))
			continue
		}
		without, err := podmanconf.EffectiveStorage(withoutFile{planned, userConf}, pu)
		if err != nil {
			return err
		}
		if got.String() != without.String() {
			p.Warn(fmt.Sprintf("%s replaces %s for %s, so this task's settings do not apply to %s: podman uses %s (the system file would give %s)",
				userConf, StorageConf, u.Name, u.Name, got, without))
		}
	}
	return nil
}

// plannedStorage reads the host, with storage.conf as the plan writes it.
type plannedStorage struct {
	sys  podmanconf.Reader
	text string
}

func (r plannedStorage) ReadFileIfExists(p string) ([]byte, bool, error) {
	if p == StorageConf {
		return []byte(r.text), true, nil
	}
	return r.sys.ReadFileIfExists(p)
}

func (r plannedStorage) ReadDir(p string) ([]fs.DirEntry, error) { return r.sys.ReadDir(p) }

// withoutFile reads through r as if the file skip did not exist.
type withoutFile struct {
	r    podmanconf.Reader
	skip string
}

func (r withoutFile) ReadFileIfExists(p string) ([]byte, bool, error) {
	if p == r.skip {
		return nil, false, nil
	}
	return r.r.ReadFileIfExists(p)
}

func (r withoutFile) ReadDir(p string) ([]fs.DirEntry, error) { return r.r.ReadDir(p) }

// Apply writes the edited storage.conf.
func (s *Storage) Apply(_ context.Context, sys *tasks.System, p tasks.Plan) error {
	data, ok := p.Data.(storagePlan)
	if !ok {
		return errors.New("storage: plan has no edited content")
	}
	attrs := tasks.KeepOwner
	if !data.exists {
		attrs = tasks.FileAttrs{Mode: 0o644, UID: 0, GID: 0}
		if err := sys.FS().MkdirAll(filepath.Dir(StorageConf), 0o755, 0, 0); err != nil {
			return err
		}
	}
	return sys.WriteFile(StorageConf, data.content, attrs, "")
}

var _ tasks.Task = (*Storage)(nil)
var _ tasks.Validator = (*Storage)(nil)
