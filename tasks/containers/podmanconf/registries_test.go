package podmanconf

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"go.podman.io/image/v5/pkg/sysregistriesv2"
	"go.podman.io/image/v5/types"

	"github.com/provision-tool/provision/tasks/taskstest"
)

const aliceHome = "/home/alice"

// registriesCases are host layouts, with whether podman refuses them
// (reject: a substring of podman's message). The expected configuration of
// every case comes from the containers library itself (oracle below),
// loading the same layout by its own path rules.
var registriesCases = []struct {
	name   string
	files  map[string]string
	reject string
}{
	{name: "nothing", files: nil},
	{name: "v2 main", files: map[string]string{
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
	{name: "v1 main is converted", files: map[string]string{
		SystemRegistries: "[registries.search]\nregistries = ['docker.io', 'quay.io']\n[registries.insecure]\nregistries = ['reg.example.com:5000']\n[registries.block]\nregistries = ['bad.example.com']\n"}},
	{name: "v1 and v2 mixed", reject: "mixing sysregistry v1/v2 is not supported", files: map[string]string{
		SystemRegistries: "unqualified-search-registries = [\"docker.io\"]\n[registries.search]\nregistries = ['quay.io']\n"}},
	{name: "empty v1 array and v2 mixed", reject: "mixing sysregistry v1/v2 is not supported", files: map[string]string{
		SystemRegistries: "short-name-mode = \"permissive\"\n[registries.block]\nregistries = []\n"}},
	{name: "v1 drop-in", reject: "registry must be in v2 format but is in v1", files: map[string]string{
		SystemRegistriesDir + "/10-old.conf": "[registries.search]\nregistries = ['quay.io']\n"}},
	{name: "search with scheme", reject: "URI schemes are not supported", files: map[string]string{
		SystemRegistries: `unqualified-search-registries = ["https://docker.io"]`}},
	{name: "search with namespace", reject: "Invalid unqualified-search-registries entry", files: map[string]string{
		SystemRegistriesDir + "/50-provision.conf": `unqualified-search-registries = ["docker.io/library"]`}},
	{name: "bad wildcard prefix", reject: "Wildcarded prefix should be in the format", files: map[string]string{
		SystemRegistries: "[[registry]]\nprefix = \"*.example.com/foo\"\nlocation = \"example.com\"\n"}},
	{name: "bad short-name-mode", reject: "invalid short-name mode", files: map[string]string{
		SystemRegistries: `short-name-mode = "strict"`}},
	{name: "alias with tag", reject: "must not contain tag", files: map[string]string{
		SystemRegistries: "[aliases]\n\"app\" = \"quay.io/org/app:1.0\"\n"}},
	{name: "alias without registry", reject: "must contain registry", files: map[string]string{
		SystemRegistries: "[aliases]\n\"app\" = \"org/app\"\n"}},
	{name: "alias key with registry", reject: "must not contain registry", files: map[string]string{
		SystemRegistries: "[aliases]\n\"quay.io/app\" = \"quay.io/org/app\"\n"}},
	{name: "alias erased by a later drop-in", files: map[string]string{
		SystemRegistries:                      "[aliases]\n\"app\" = \"quay.io/org/app\"\n\"db\" = \"quay.io/org/db\"\n",
		SystemRegistriesDir + "/90-site.conf": "[aliases]\n\"app\" = \"\"\n\"db\" = \"registry.example.com/db\"\n"}},
	{name: "conflicting insecure", reject: "conflicting 'insecure' setting", files: map[string]string{
		SystemRegistries: "[[registry]]\nprefix = \"a.example.com/x\"\nlocation = \"a.example.com\"\ninsecure = true\n[[registry]]\nprefix = \"a.example.com/y\"\nlocation = \"a.example.com\"\n"}},
	{name: "no location, plain prefix", reject: "location is unset and prefix is not in the format", files: map[string]string{
		SystemRegistries: "[[registry]]\nprefix = \"example.com/foo\"\n"}},
	{name: "mirror without location", reject: "mirror location is unset", files: map[string]string{
		SystemRegistries: "[[registry]]\nlocation = \"example.com\"\n[[registry.mirror]]\ninsecure = true\n"}},
	{name: "bad pull-from-mirror", reject: "unsupported pull-from-mirror value", files: map[string]string{
		SystemRegistries: "[[registry]]\nlocation = \"example.com\"\n[[registry.mirror]]\nlocation = \"m.example.com\"\npull-from-mirror = \"sometimes\"\n"}},
	{name: "pull-from-mirror with mirror-by-digest-only", reject: "mirror-by-digest-only", files: map[string]string{
		SystemRegistries: "[[registry]]\nlocation = \"example.com\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.example.com\"\npull-from-mirror = \"tag-only\"\n"}},
	{name: "TOML syntax error", reject: "toml:", files: map[string]string{
		SystemRegistriesDir + "/50-x.conf": "unqualified-search-registries = [\"docker.io\"\nshort-name-mode = \"enforcing\"\n"}},
	{name: "bare mirror table", reject: "registry", files: map[string]string{
		SystemRegistries: "[registry.mirror]\nlocation = \"m.example.com\"\n"}},
	{name: "search as a string", reject: "toml", files: map[string]string{
		SystemRegistries: `unqualified-search-registries = "docker.io"`}},
	{name: "later drop-in overrides search, mode and a registry", files: map[string]string{
		SystemRegistries: "unqualified-search-registries = [\"quay.io\"]\n",
		SystemRegistriesDir + "/50-provision.conf": "unqualified-search-registries = [\"docker.io\"]\nshort-name-mode = \"enforcing\"\n[[registry]]\nlocation = \"docker.io\"\n[[registry.mirror]]\nlocation = \"mirror.example.com\"\n",
		SystemRegistriesDir + "/99-local.conf":     "short-name-mode = \"disabled\"\n[[registry]]\nlocation = \"docker.io\"\nblocked = true\n",
		SystemRegistriesDir + "/notes.txt":         "ignored: not .conf",
		SystemRegistriesDir + "/sub.conf/x.conf":   "ignored: in a subdirectory"}},
	{name: "empty search array clears", files: map[string]string{
		SystemRegistries:                      "unqualified-search-registries = [\"quay.io\"]\n",
		SystemRegistriesDir + "/60-none.conf": "unqualified-search-registries = []\n"}},
	{name: "user drop-ins follow system drop-ins", files: map[string]string{
		SystemRegistriesDir + "/50-provision.conf":                     "unqualified-search-registries = [\"docker.io\"]\n",
		aliceHome + "/.config/containers/registries.conf.d/00-me.conf": "unqualified-search-registries = [\"quay.io\"]\n"}},
	{name: "user main file replaces system files", files: map[string]string{
		SystemRegistries: "[registries.block]\nregistries = []\nshort-name-mode = \"x\"\n",
		SystemRegistriesDir + "/50-provision.conf":                    "[registries.search]\nregistries = ['broken.example.com']\n",
		aliceHome + "/.config/containers/registries.conf":             "[registries.search]\nregistries = ['quay.io']\n",
		aliceHome + "/.config/containers/registries.conf.d/10-a.conf": "short-name-mode = \"enforcing\"\n"}},
	{name: "user drop-in in v1", reject: "registry must be in v2 format but is in v1", files: map[string]string{
		aliceHome + "/.config/containers/registries.conf.d/10-a.conf": "[registries.block]\nregistries = ['x.example.com']\n"}},
}

// oracleHome is the HOME of the library's own loading: the library reads
// $HOME once per process, so every case puts the user's files there.
var oracleHome string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "podmanconf-home-")
	if err != nil {
		panic(err)
	}
	oracleHome = filepath.Join(dir, "alice")
	os.Setenv("HOME", oracleHome)
	os.Unsetenv("STORAGE_DRIVER")
	os.Unsetenv("STORAGE_OPTS")
	logrus.SetOutput(io.Discard) // the storage library's warnings

	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// oracle loads the layout with the library's own path rules: the system
// files under root, the user's under oracleHome (a copy of the case's
// home).
func oracle(t *testing.T, root string, aliasNames []string) (*Registries, error) {
	home := oracleHome
	if err := os.RemoveAll(home); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(home, os.DirFS(filepath.Join(root, aliceHome))); err != nil {
		t.Fatal(err)
	}
	ctx := &types.SystemContext{RootForImplicitAbsolutePaths: root, UserShortNameAliasConfPath: filepath.Join(t.TempDir(), "aliases.conf")}
	libMu.Lock()
	defer libMu.Unlock()
	defer sysregistriesv2.InvalidateCache()
	v2, err := sysregistriesv2.TryUpdatingCache(ctx)
	if err != nil {
		return nil, err
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
		c.SearchFrom = libPath(origin, root)
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

// TestRegistriesAgreeWithLibrary checks, for every layout, that reading
// the files through hostfs and loading the staged copy gives what the
// library gives when it reads the layout itself: the same refusal with the
// same message, or the same search registries (and their origin),
// short-name mode, registries and aliases.
func TestRegistriesAgreeWithLibrary(t *testing.T) {
	for _, tc := range registriesCases {
		t.Run(tc.name, func(t *testing.T) {
			sys, _ := taskstest.New(t)
			var aliasNames []string
			for p, content := range tc.files {
				taskstest.WriteFile(t, sys, p, content)
				aliasNames = append(aliasNames, aliasKeys(content)...)
			}
			if err := os.MkdirAll(sys.MustPath(aliceHome), 0o755); err != nil {
				t.Fatal(err)
			}
			want, wantErr := oracle(t, sys.Root, aliasNames)
			_, files, err := RegistriesFiles(sys, aliceHome)
			if err != nil {
				t.Fatal(err)
			}
			got, err := LoadRegistries(files)
			if tc.reject != "" {
				if wantErr == nil || !strings.Contains(wantErr.Error(), tc.reject) {
					t.Fatalf("library: got %v, want an error with %q", wantErr, tc.reject)
				}
				var le *LoadError
				if !errors.As(err, &le) {
					t.Fatalf("got %v (%T), want a *LoadError", err, err)
				}
				if libMsg := libPath(wantErr.Error(), sys.Root); le.Msg != libMsg {
					t.Errorf("message:\n got %s\nwant %s", le.Msg, libMsg)
				}
				if strings.Contains(le.Msg, "toml: line") && (le.Line == 0 || !strings.HasPrefix(le.Error(), le.Path+":")) {
					t.Errorf("no position in %v", le)
				}
				if !strings.Contains(le.Msg, le.Path) {
					t.Errorf("error names %s, message %s", le.Path, le.Msg)
				}
				return
			}
			if wantErr != nil {
				t.Fatalf("library refuses: %v", wantErr)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// libPath maps a path the library read to the host path of the case.
func libPath(p, root string) string {
	p = strings.ReplaceAll(p, oracleHome, aliceHome)
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

func TestOverrides(t *testing.T) {
	own := File{Path: SystemRegistriesDir + "/50-provision.conf", DropIn: true, Data: []byte(`unqualified-search-registries = ["docker.io"]
short-name-mode = "enforcing"
[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "mirror.example.com"
[[registry]]
location = "quay.io"
[aliases]
"app" = "quay.io/org/app"
"db" = "quay.io/org/db"
`)}
	files := []File{
		{Path: SystemRegistries, Data: []byte(`unqualified-search-registries = ["quay.io"]`)},
		own,
		{Path: SystemRegistriesDir + "/60-same.conf", DropIn: true, Data: []byte("short-name-mode = \"enforcing\"\n[aliases]\n\"app\" = \"quay.io/org/app\"\n")},
		{Path: SystemRegistriesDir + "/70-site.conf", DropIn: true, Data: []byte("short-name-mode = \"disabled\"\n[aliases]\n\"db\" = \"\"\n")},
		{Path: SystemRegistriesDir + "/99-local.conf", DropIn: true, Data: []byte("[[registry]]\nlocation = \"docker.io\"\nblocked = true\n")},
	}
	got, err := Overrides(files, 1)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, o := range got {
		lines = append(lines, o.String())
	}
	want := []string{
		`short-name-mode is overridden by /etc/containers/registries.conf.d/70-site.conf; podman uses "disabled"`,
		`[[registry]] prefix "docker.io" is overridden by /etc/containers/registries.conf.d/99-local.conf; podman uses location "docker.io", blocked`,
		`alias "db" is overridden by /etc/containers/registries.conf.d/70-site.conf; podman uses no alias (erased)`,
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if got, err := Overrides(files[:3], 1); err != nil || len(got) != 0 {
		t.Errorf("a later file that says the same: %v, %v", got, err)
	}
}
