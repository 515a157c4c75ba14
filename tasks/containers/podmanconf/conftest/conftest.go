// Package conftest holds the registries.conf and storage.conf cases that
// podmanconf and the doctor are tested on, and the oracles that say what
// the containers libraries make of each: the libraries loading the same
// files by their own path rules. Tests only.
package conftest

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"go.podman.io/image/v5/pkg/sysregistriesv2"
	"go.podman.io/image/v5/types"
	storagetypes "go.podman.io/storage/types"

	"github.com/provision-tool/provision/tasks/containers/podmanconf"
)

const (
	SystemRegistries    = podmanconf.SystemRegistries
	SystemRegistriesDir = podmanconf.SystemRegistriesDir
	StorageConf         = podmanconf.StorageConf
	DefaultRunRoot      = podmanconf.DefaultRunRoot
	DefaultGraphRoot    = podmanconf.DefaultGraphRoot
)

type (
	// Registries is what podman makes of registries files.
	Registries = podmanconf.Registries
	// Storage is what podman makes of storage files.
	Storage = podmanconf.Storage
)

// AliceHome is the home of the user the cases name.
const AliceHome = "/home/alice"

// RegistriesCase is a host layout of registries files.
type RegistriesCase struct {
	Name   string
	Files  map[string]string
	Reject string // a substring of podman's message; "" when podman loads the files
}

// RegistriesCases are host layouts, with whether podman refuses them. The
// configuration podman makes of each comes from the containers library
// itself (Oracle), loading the same layout by its own path rules.
var RegistriesCases = []RegistriesCase{
	{Name: "nothing"},
	{Name: "v2 main", Files: map[string]string{
		SystemRegistries: `unqualified-search-registries = ["registry.fedoraproject.org", "docker.io"]
short-name-mode = "enforcing"
[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.example.com/hub"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "10.0.0.5:5000/hub"
insecure = true
[[registry]]
location = "registry.internal.example.com:5000"
insecure = true
[[registry]]
prefix = "*.untrusted.example.com"
blocked = true
[aliases]
"myapp" = "registry.internal.example.com:5000/team/myapp"
`}},
	{Name: "v1 main is converted", Files: map[string]string{
		SystemRegistries: "[registries.search]\nregistries = ['docker.io', 'quay.io']\n[registries.insecure]\nregistries = ['reg.example.com:5000']\n[registries.block]\nregistries = ['bad.example.com']\n"}},
	{Name: "v1 and v2 mixed", Reject: "mixing sysregistry v1/v2 is not supported", Files: map[string]string{
		SystemRegistries: "unqualified-search-registries = [\"docker.io\"]\n[registries.search]\nregistries = ['quay.io']\n"}},
	{Name: "empty v1 array and v2 mixed", Reject: "mixing sysregistry v1/v2 is not supported", Files: map[string]string{
		SystemRegistries: "short-name-mode = \"permissive\"\n[registries.block]\nregistries = []\n"}},
	{Name: "v1 drop-in", Reject: "registry must be in v2 format but is in v1", Files: map[string]string{
		SystemRegistriesDir + "/10-old.conf": "[registries.search]\nregistries = ['quay.io']\n"}},
	{Name: "search with scheme", Reject: "URI schemes are not supported", Files: map[string]string{
		SystemRegistries: `unqualified-search-registries = ["https://docker.io"]`}},
	{Name: "search with namespace", Reject: "Invalid unqualified-search-registries entry", Files: map[string]string{
		SystemRegistriesDir + "/50-provision.conf": `unqualified-search-registries = ["docker.io/library"]`}},
	{Name: "bad wildcard prefix", Reject: "Wildcarded prefix should be in the format", Files: map[string]string{
		SystemRegistries: "[[registry]]\nprefix = \"*.example.com/foo\"\nlocation = \"example.com\"\n"}},
	{Name: "bad short-name-mode", Reject: "invalid short-name mode", Files: map[string]string{
		SystemRegistries: `short-name-mode = "strict"`}},
	{Name: "alias with tag", Reject: "must not contain tag", Files: map[string]string{
		SystemRegistries: "[aliases]\n\"app\" = \"quay.io/org/app:1.0\"\n"}},
	{Name: "alias without registry", Reject: "must contain registry", Files: map[string]string{
		SystemRegistries: "[aliases]\n\"app\" = \"org/app\"\n"}},
	{Name: "alias key with registry", Reject: "must not contain registry", Files: map[string]string{
		SystemRegistries: "[aliases]\n\"quay.io/app\" = \"quay.io/org/app\"\n"}},
	{Name: "alias erased by a later drop-in", Files: map[string]string{
		SystemRegistries:                      "[aliases]\n\"app\" = \"quay.io/org/app\"\n\"db\" = \"quay.io/org/db\"\n",
		SystemRegistriesDir + "/90-site.conf": "[aliases]\n\"app\" = \"\"\n\"db\" = \"registry.example.com/db\"\n"}},
	{Name: "conflicting insecure", Reject: "conflicting 'insecure' setting", Files: map[string]string{
		SystemRegistries: "[[registry]]\nprefix = \"a.example.com/x\"\nlocation = \"a.example.com\"\ninsecure = true\n[[registry]]\nprefix = \"a.example.com/y\"\nlocation = \"a.example.com\"\n"}},
	{Name: "no location, plain prefix", Reject: "location is unset and prefix is not in the format", Files: map[string]string{
		SystemRegistries: "[[registry]]\nprefix = \"example.com/foo\"\n"}},
	{Name: "mirror without location", Reject: "mirror location is unset", Files: map[string]string{
		SystemRegistries: "[[registry]]\nlocation = \"example.com\"\n[[registry.mirror]]\ninsecure = true\n"}},
	{Name: "bad pull-from-mirror", Reject: "unsupported pull-from-mirror value", Files: map[string]string{
		SystemRegistries: "[[registry]]\nlocation = \"example.com\"\n[[registry.mirror]]\nlocation = \"m.example.com\"\npull-from-mirror = \"sometimes\"\n"}},
	{Name: "pull-from-mirror with mirror-by-digest-only", Reject: "mirror-by-digest-only", Files: map[string]string{
		SystemRegistries: "[[registry]]\nlocation = \"example.com\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.example.com\"\npull-from-mirror = \"tag-only\"\n"}},
	{Name: "TOML syntax error", Reject: "toml:", Files: map[string]string{
		SystemRegistriesDir + "/50-x.conf": "unqualified-search-registries = [\"docker.io\"\nshort-name-mode = \"enforcing\"\n"}},
	{Name: "bare mirror table", Reject: "registry", Files: map[string]string{
		SystemRegistries: "[registry.mirror]\nlocation = \"m.example.com\"\n"}},
	{Name: "search as a string", Reject: "toml", Files: map[string]string{
		SystemRegistries: `unqualified-search-registries = "docker.io"`}},
	{Name: "later drop-in overrides search, mode and a registry", Files: map[string]string{
		SystemRegistries: "unqualified-search-registries = [\"quay.io\"]\n",
		SystemRegistriesDir + "/50-provision.conf": "unqualified-search-registries = [\"docker.io\"]\nshort-name-mode = \"enforcing\"\n[[registry]]\nlocation = \"docker.io\"\n[[registry.mirror]]\nlocation = \"mirror.example.com\"\n",
		SystemRegistriesDir + "/99-local.conf":     "short-name-mode = \"disabled\"\n[[registry]]\nlocation = \"docker.io\"\nblocked = true\n",
		SystemRegistriesDir + "/notes.txt":         "ignored: not .conf",
		SystemRegistriesDir + "/sub.conf/x.conf":   "ignored: in a subdirectory"}},
	{Name: "empty search array clears", Files: map[string]string{
		SystemRegistries:                      "unqualified-search-registries = [\"quay.io\"]\n",
		SystemRegistriesDir + "/60-none.conf": "unqualified-search-registries = []\n"}},
	{Name: "user drop-ins follow system drop-ins", Files: map[string]string{
		SystemRegistriesDir + "/50-provision.conf":                     "unqualified-search-registries = [\"docker.io\"]\n",
		AliceHome + "/.config/containers/registries.conf.d/00-me.conf": "unqualified-search-registries = [\"quay.io\"]\n"}},
	{Name: "user main file replaces system files", Files: map[string]string{
		SystemRegistries: "[registries.block]\nregistries = []\nshort-name-mode = \"x\"\n",
		SystemRegistriesDir + "/50-provision.conf":                    "[registries.search]\nregistries = ['broken.example.com']\n",
		AliceHome + "/.config/containers/registries.conf":             "[registries.search]\nregistries = ['quay.io']\n",
		AliceHome + "/.config/containers/registries.conf.d/10-a.conf": "short-name-mode = \"enforcing\"\n"}},
	{Name: "user drop-in in v1", Reject: "registry must be in v2 format but is in v1", Files: map[string]string{
		AliceHome + "/.config/containers/registries.conf.d/10-a.conf": "[registries.block]\nregistries = ['x.example.com']\n"}},
}

// oracleHome is the HOME of the library's own loading: the library reads
// $HOME once per process, so every case puts the user's files there.
var oracleHome string

// Main runs the tests of a package that uses the oracles: the library
// reads $HOME once per process, so it must point at the oracle's home
// before any test runs. It also clears STORAGE_DRIVER and STORAGE_OPTS,
// which the storage library would apply, and silences its warnings.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "podmanconf-home-")
	if err != nil {
		panic(err)
	}
	oracleHome = filepath.Join(dir, "alice")
	os.Setenv("HOME", oracleHome)
	os.Unsetenv("STORAGE_DRIVER")
	os.Unsetenv("STORAGE_OPTS")
	logrus.SetOutput(io.Discard)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Oracle loads the layout under root with the library's own path rules:
// the system files under root, the user's from a copy of root's
// /home/alice in the oracle's home. Errors name host paths (LibPath).
func Oracle(t *testing.T, root string, files map[string]string) (*Registries, error) {
	var aliasNames []string
	for _, content := range files {
		aliasNames = append(aliasNames, aliasKeys(content)...)
	}
	home := oracleHome
	if err := os.RemoveAll(home); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if src := filepath.Join(root, AliceHome, ".config"); dirExists(src) {
		if err := os.CopyFS(filepath.Join(home, ".config"), os.DirFS(src)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := &types.SystemContext{RootForImplicitAbsolutePaths: root, UserShortNameAliasConfPath: filepath.Join(t.TempDir(), "aliases.conf")}
	defer sysregistriesv2.InvalidateCache()
	v2, err := sysregistriesv2.TryUpdatingCache(ctx)
	if err != nil {
		return nil, errors.New(LibPath(err.Error(), root))
	}
	mode, err := sysregistriesv2.GetShortNameMode(ctx)
	if err != nil {
		return nil, err
	}
	search, origin, err := sysregistriesv2.UnqualifiedSearchRegistriesWithOrigin(ctx)
	if err != nil {
		return nil, err
	}
	c := &Registries{Search: search, ShortNameMode: modeName(mode), Registry: v2.Registries, Aliases: map[string]string{}}
	if v2.UnqualifiedSearchRegistries != nil {
		c.SearchFrom = LibPath(origin, root)
	}
	for _, n := range aliasNames {
		ref, _, err := sysregistriesv2.ResolveShortNameAlias(ctx, n)
		if err != nil {
			return nil, err
		}
		if ref != nil {
			c.Aliases[n] = ref.String()
		}
	}
	return c, nil
}

// LibPath maps a path the library read to the host path of the case.
func LibPath(p, root string) string {
	p = strings.ReplaceAll(p, oracleHome, AliceHome)
	return strings.ReplaceAll(p, root, "")
}

func aliasKeys(content string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(content, "\n") {
		switch {
		case strings.HasPrefix(l, "["):
			in = l == "[aliases]"
		case in && strings.Contains(l, "="):
			k, _, _ := strings.Cut(l, "=")
			out = append(out, strings.Trim(strings.TrimSpace(k), `"`))
		}
	}
	return out
}

// StorageCase is one storage.conf.
type StorageCase struct {
	Name, Conf, Reject string
}

// StorageCases are storage.conf files, with whether containers/storage
// refuses them (Reject: a substring of its message). What root gets from
// each accepted file comes from the library's own
// types.ReloadConfigurationFile (StorageOracle).
var StorageCases = []StorageCase{
	{Name: "overlay with fuse-overlayfs", Conf: "[storage]\ndriver = \"overlay\"\nrunroot = \"/run/containers/storage\"\ngraphroot = \"/var/lib/containers/storage\"\n[storage.options.overlay]\nmount_program = \"/usr/bin/fuse-overlayfs\"\nmountopt = \"nodev,metacopy=on\"\n"},
	{Name: "legacy mount_program", Conf: "[storage]\ndriver = \"overlay\"\n[storage.options]\nmount_program = \"/usr/bin/fuse-overlayfs\"\nmountopt = \"nodev\"\n"},
	{Name: "overlay table wins over legacy", Conf: "[storage]\ndriver = \"overlay\"\n[storage.options]\nmount_program = \"/old\"\n[storage.options.overlay]\nmount_program = \"/new\"\n"},
	{Name: "overlay2 is overlay", Conf: "[storage]\ndriver = \"overlay2\"\n"},
	{Name: "no driver", Conf: "[storage]\ngraphroot = \"/srv/containers\"\n"},
	{Name: "vfs and rootless_storage_path", Conf: "[storage]\ndriver = \"vfs\"\nrootless_storage_path = \"/srv/$USER/storage\"\n"},
	{Name: "unknown keys are not errors", Conf: "[storage]\ndriver = \"overlay\"\ncolour = \"blue\"\n[storage.options.overlay]\nmount_programme = \"/x\"\n"},
	{Name: "empty", Conf: ""},
	{Name: "TOML syntax error", Conf: "[storage]\ndriver = \"overlay\n", Reject: "toml: line 2"},
	{Name: "driver as a number", Conf: "[storage]\ndriver = 1\n", Reject: "incompatible types"},
	{Name: "graphroot as a table", Conf: "[storage.graphroot]\nx = 1\n", Reject: "incompatible types"},
	{Name: "size as a number", Conf: "[storage.options]\nsize = 10\n", Reject: "incompatible types"},
	{Name: "imagestore equal to graphroot", Conf: "[storage]\ngraphroot = \"/srv/c\"\nimagestore = \"/srv/c\"\n", Reject: "must either be not set or be a different than graphroot"},
}

// StorageOracle is what the library makes of conf, with root's defaults
// filled in as types.DefaultStoreOptions fills them.
func StorageOracle(t *testing.T, conf string) (*Storage, error) {
	p := filepath.Join(t.TempDir(), "storage.conf")
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var o storagetypes.StoreOptions
	if err := storagetypes.ReloadConfigurationFile(p, &o); err != nil {
		return nil, errors.New(strings.ReplaceAll(err.Error(), p, StorageConf))
	}
	if o.ImageStore != "" && o.ImageStore == o.GraphRoot {
		return nil, errors.New("imagestore " + o.ImageStore + " must either be not set or be a different than graphroot")
	}
	out := &Storage{Files: []string{StorageConf}, Driver: o.GraphDriverName, RunRoot: o.RunRoot, GraphRoot: o.GraphRoot,
		ImageStore: o.ImageStore, RootlessStoragePath: o.RootlessStoragePath}
	if out.RunRoot == "" {
		out.RunRoot = DefaultRunRoot
	}
	if out.GraphRoot == "" {
		out.GraphRoot = DefaultGraphRoot
	}
	// The driver parses its options in order: the last one wins.
	for _, opt := range o.GraphDriverOptions {
		_, kv, _ := strings.Cut(opt, ".")
		if v, ok := strings.CutPrefix(kv, "mount_program="); ok {
			out.MountProgram = v
		}
		if v, ok := strings.CutPrefix(kv, "mountopt="); ok {
			out.Mountopt = v
		}
	}
	return out, nil
}

func modeName(m types.ShortNameMode) string {
	switch m {
	case types.ShortNameModeDisabled:
		return "disabled"
	case types.ShortNameModeEnforcing:
		return "enforcing"
	default:
		return "permissive"
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
