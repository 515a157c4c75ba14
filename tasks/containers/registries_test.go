package containers

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"

	"github.com/provision-tool/provision/testhost"
)

// podmanConf mirrors the structure containers/image decodes a
// registries.conf into (v2 and v1 side by side), to prove what podman
// would see.
type podmanConf struct {
	Registries []struct {
		Prefix   string `toml:"prefix"`
		Location string `toml:"location"`
		Insecure bool   `toml:"insecure"`
		Blocked  bool   `toml:"blocked"`
		Mirrors  []struct {
			Location       string `toml:"location"`
			Insecure       bool   `toml:"insecure"`
			PullFromMirror string `toml:"pull-from-mirror"`
		} `toml:"mirror"`
	} `toml:"registry"`
	UnqualifiedSearchRegistries []string          `toml:"unqualified-search-registries"`
	ShortNameMode               string            `toml:"short-name-mode"`
	Aliases                     map[string]string `toml:"aliases"`
	V1                          struct {
		Search   struct{ Registries []string } `toml:"search"`
		Insecure struct{ Registries []string } `toml:"insecure"`
		Block    struct{ Registries []string } `toml:"block"`
	} `toml:"registries"`
}

func fullRegistries() *Registries {
	return &Registries{
		UnqualifiedSearchRegistries: []string{"registry.fedoraproject.org", "docker.io", "localhost:5000"},
		ShortNameMode:               "enforcing",
		Registries: []Registry{
			{Prefix: "docker.io", Location: "docker.io", Mirrors: []Mirror{
				{Location: "mirror.example.com/dockerhub", PullFromMirror: "digest-only"},
				{Location: "10.0.0.5:5000/hub", Insecure: true},
			}},
			{Location: "registry.internal.example.com:5000", Insecure: true},
			{Prefix: "*.untrusted.example.com", Blocked: true},
		},
		Aliases: map[string]string{"myapp": "registry.internal.example.com:5000/team/myapp", "old": ""},
	}
}

const fullRendered = `# Managed by provision; local changes will be overwritten
unqualified-search-registries = ["registry.fedoraproject.org", "docker.io", "localhost:5000"]
short-name-mode = "enforcing"

[[registry]]
prefix = "docker.io"
location = "docker.io"

[[registry.mirror]]
location = "mirror.example.com/dockerhub"
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
myapp = "registry.internal.example.com:5000/team/myapp"
old = ""
`

func TestRegistriesRenderIsV2(t *testing.T) {
	r := fullRegistries()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := r.Render()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != fullRendered {
		t.Fatalf("rendered:\n%s\nwant:\n%s", out, fullRendered)
	}
	var c podmanConf
	md, err := toml.Decode(string(out), &c)
	if err != nil {
		t.Fatalf("rendered file does not parse: %v", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Errorf("keys podman would not decode: %v", und)
	}
	if md.IsDefined("registries") || c.V1.Search.Registries != nil || c.V1.Insecure.Registries != nil || c.V1.Block.Registries != nil {
		t.Errorf("rendered file has v1 keys: %+v", c.V1)
	}
	if !reflect.DeepEqual(c.UnqualifiedSearchRegistries, r.UnqualifiedSearchRegistries) || c.ShortNameMode != "enforcing" {
		t.Errorf("top-level keys decode as %v %q", c.UnqualifiedSearchRegistries, c.ShortNameMode)
	}
	if len(c.Registries) != 3 || len(c.Registries[0].Mirrors) != 2 ||
		c.Registries[0].Mirrors[0].PullFromMirror != "digest-only" || !c.Registries[0].Mirrors[1].Insecure ||
		!c.Registries[1].Insecure || !c.Registries[2].Blocked || c.Registries[2].Prefix != "*.untrusted.example.com" {
		t.Errorf("registries decode as %+v", c.Registries)
	}
	if !reflect.DeepEqual(c.Aliases, r.Aliases) {
		t.Errorf("aliases decode as %v", c.Aliases)
	}
}

func TestRegistriesCreate(t *testing.T) {
	sys, run := taskstest.New(t)
	r := fullRegistries()
	before := taskstest.Snapshot(t, sys)
	p, err := r.Check(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	if after := taskstest.Snapshot(t, sys); !reflect.DeepEqual(before, after) {
		t.Fatalf("check changed the host:\n%v\n%v", before, after)
	}
	want := []tasks.Change{
		{Field: "directory", After: "/etc/containers/registries.conf.d"},
		{Field: "content", Path: DefaultRegistriesDropIn, After: fullRendered},
	}
	if !reflect.DeepEqual(p.Changes, want) {
		t.Fatalf("plan:\n%#v\nwant:\n%#v", p.Changes, want)
	}
	taskstest.Converge(t, sys, r)
	if got := taskstest.ReadFile(t, sys, DefaultRegistriesDropIn); got != fullRendered {
		t.Fatalf("file:\n%s", got)
	}
	st, err := sys.Stat(DefaultRegistriesDropIn)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("mode: %v %v", st.Mode(), err)
	}
	if st, err := sys.Stat("/etc/containers/registries.conf.d"); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("directory: %v %v", st, err)
	}
	if len(run.Calls) != 0 {
		t.Errorf("ran commands: %v", run.Commands())
	}
}

func TestRegistriesDriftAndMode(t *testing.T) {
	sys, _ := taskstest.New(t)
	r := &Registries{UnqualifiedSearchRegistries: []string{"docker.io"}}
	old := "unqualified-search-registries = [\"quay.io\"]\n"
	taskstest.WriteFile(t, sys, DefaultRegistriesDropIn, old)
	if err := os.Chmod(sys.MustPath(DefaultRegistriesDropIn), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := r.Check(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	want := []tasks.Change{
		{Field: "content", Path: DefaultRegistriesDropIn, Before: old, After: ManagedHeader + "unqualified-search-registries = [\"docker.io\"]\n"},
		{Field: "mode", Before: "0600", After: "0644"},
	}
	if !reflect.DeepEqual(p.Changes, want) {
		t.Fatalf("plan:\n%#v\nwant:\n%#v", p.Changes, want)
	}
	taskstest.Converge(t, sys, r)

	// Only the mode drifted.
	if err := os.Chmod(sys.MustPath(DefaultRegistriesDropIn), 0o666); err != nil {
		t.Fatal(err)
	}
	p, err = r.Check(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	if want := []tasks.Change{{Field: "mode", Before: "0666", After: "0644"}}; !reflect.DeepEqual(p.Changes, want) {
		t.Fatalf("plan: %#v", p.Changes)
	}
	taskstest.Converge(t, sys, r)
}

func TestRegistriesOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		testhost.Skipf(t, "changing a file's owner needs root")
	}
	sys, _ := taskstest.New(t)
	r := &Registries{ShortNameMode: "permissive"}
	content, err := r.Render()
	if err != nil {
		t.Fatal(err)
	}
	taskstest.WriteFile(t, sys, DefaultRegistriesDropIn, string(content))
	if err := os.Chown(sys.MustPath(DefaultRegistriesDropIn), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	p, err := r.Check(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	if want := []tasks.Change{{Field: "owner", Before: "1000:1000", After: "0:0"}}; !reflect.DeepEqual(p.Changes, want) {
		t.Fatalf("plan: %#v", p.Changes)
	}
	taskstest.Converge(t, sys, r)
	st, _ := sys.Stat(DefaultRegistriesDropIn)
	if uid, gid := tasks.FileOwner(st); uid != 0 || gid != 0 {
		t.Fatalf("owner %d:%d", uid, gid)
	}
}

func TestRegistriesMainFile(t *testing.T) {
	const main = "/etc/containers/registries.conf"
	cases := []struct {
		name    string
		content string
		wantErr string // "" for no error
		warn    string // substring of the only warning, "" for none
	}{
		{"v2 only", "unqualified-search-registries = [\"docker.io\"]\n[[registry]]\nlocation = \"quay.io\"\n", "", ""},
		{"all commented out (Debian)", "# unqualified-search-registries = [\"example.com\"]\n", "", ""},
		{"v1 only", "[registries.search]\nregistries = ['docker.io']\n", "", "deprecated v1 format"},
		{"mixed", "unqualified-search-registries = [\"docker.io\"]\n[registries.insecure]\nregistries = ['r.example.com']\n", "mixing sysregistry v1/v2 is not supported", ""},
		{"mixed with empty v1 array", "short-name-mode = \"enforcing\"\n[registries.block]\nregistries = []\n", "mixing sysregistry v1/v2 is not supported", ""},
		{"empty v1 and empty v2 arrays (containers/image testdata)", "unqualified-search-registries = []\n\n[registries.search]\nregistries = []\n\n[registries.block]\nregistries = []\n\n[registries.insecure]\nregistries = []\n", "mixing sysregistry v1/v2 is not supported", ""},
		{"v1 table without its key is not v1", "unqualified-search-registries = [\"docker.io\"]\n[registries.search]\n", "", ""},
		{"empty short-name-mode is unset", "short-name-mode = \"\"\n[registries.search]\nregistries = ['docker.io']\n", "", "deprecated v1 format"},
		{"syntax error", "unqualified-search-registries = [\"docker.io\"\n", "loading registries configuration \"/etc/containers/registries.conf\": toml:", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sys, _ := taskstest.New(t)
			taskstest.WriteFile(t, sys, main, c.content)
			r := &Registries{UnqualifiedSearchRegistries: []string{"docker.io"}}
			before := taskstest.Snapshot(t, sys)
			p, err := r.Check(context.Background(), sys)
			if after := taskstest.Snapshot(t, sys); !reflect.DeepEqual(before, after) {
				t.Fatal("check changed the host")
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), main) {
					t.Fatalf("error %v, want %q naming %s", err, c.wantErr, main)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.warn == "" && len(p.Warnings) != 0 || c.warn != "" && (len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], c.warn)) {
				t.Fatalf("warnings %q, want %q", p.Warnings, c.warn)
			}
			if len(p.Changes) == 0 {
				t.Fatal("no changes planned for a missing drop-in")
			}
		})
	}
}

func TestRegistriesOtherDropIns(t *testing.T) {
	sys, _ := taskstest.New(t)
	dir := "/etc/containers/registries.conf.d/"
	taskstest.WriteFile(t, sys, dir+"000-shortnames.conf", "[aliases]\n\"fedora\" = \"registry.fedoraproject.org/fedora\"\n")
	taskstest.WriteFile(t, sys, dir+"10-old.conf", "[registries.insecure]\nregistries = []\n")
	taskstest.WriteFile(t, sys, dir+"20-old.conf", "[registries.search]\nregistries = ['docker.io']\n")
	taskstest.WriteFile(t, sys, dir+"notes.txt", "[registries.search]\nregistries = ['ignored']\n")
	taskstest.WriteFile(t, sys, dir+"sub.conf/x.conf", "[registries.search]\nregistries = ['ignored']\n")
	// Our own file in v1 is simply replaced.
	taskstest.WriteFile(t, sys, DefaultRegistriesDropIn, "[registries.search]\nregistries = ['docker.io']\n")
	r := &Registries{UnqualifiedSearchRegistries: []string{"docker.io"}}
	_, err := r.Check(context.Background(), sys)
	if err == nil {
		t.Fatal("no error for v1 drop-ins")
	}
	msg := err.Error()
	for _, want := range []string{
		`loading drop-in registries configuration "/etc/containers/registries.conf.d/10-old.conf": registry must be in v2 format but is in v1`,
		`loading drop-in registries configuration "/etc/containers/registries.conf.d/20-old.conf": registry must be in v2 format but is in v1`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	for _, not := range []string{"000-shortnames", "notes.txt", "x.conf", "50-provision"} {
		if strings.Contains(msg, not) {
			t.Errorf("error %q mentions %s", msg, not)
		}
	}

	// Once the old drop-ins are gone, our v1 file is rewritten as v2.
	for _, f := range []string{"10-old.conf", "20-old.conf"} {
		if err := os.Remove(sys.MustPath(dir + f)); err != nil {
			t.Fatal(err)
		}
	}
	p := taskstest.Converge(t, sys, r)
	if len(p.Changes) != 1 || p.Changes[0].Path != DefaultRegistriesDropIn {
		t.Fatalf("plan %#v", p.Changes)
	}
	k, err := registriesKeys([]byte(taskstest.ReadFile(t, sys, DefaultRegistriesDropIn)))
	if err != nil || len(k.v1) != 0 || !reflect.DeepEqual(k.v2, []string{"unqualified-search-registries"}) {
		t.Fatalf("written file keys %+v %v", k, err)
	}
}

func TestRegistriesUserDropIn(t *testing.T) {
	sys, _ := taskstest.New(t)
	path := "/home/alice/.config/containers/registries.conf.d/50-provision.conf"
	taskstest.WriteFile(t, sys, "/home/alice/.config/containers/registries.conf", "unqualified-search-registries = [\"a.io\"]\n[registries.block]\nregistries = []\n")
	taskstest.WriteFile(t, sys, "/etc/containers/registries.conf", "# fine\n")
	r := &Registries{Path: path, ShortNameMode: "disabled"}
	_, err := r.Check(context.Background(), sys)
	if err == nil || !strings.Contains(err.Error(), "/home/alice/.config/containers/registries.conf") || !strings.Contains(err.Error(), "mixing") {
		t.Fatalf("error %v, want the user's main file reported", err)
	}
}

func TestRegistriesValidate(t *testing.T) {
	cases := []struct {
		name string
		r    Registries
		arg  string // "" for valid
		msg  string
	}{
		{"defaults", Registries{}, "", ""},
		{"full", *fullRegistries(), "", ""},
		{"path elsewhere", Registries{Path: "/etc/containers/registries.conf"}, "path", "registries.conf.d"},
		{"path not .conf", Registries{Path: "/etc/containers/registries.conf.d/50-provision"}, "path", ".conf"},
		{"relative path", Registries{Path: "registries.conf.d/x.conf"}, "path", "absolute"},
		{"path with ..", Registries{Path: "/etc/containers/registries.conf.d/../registries.conf.d/x.conf"}, "path", "clean"},
		{"search with scheme", Registries{UnqualifiedSearchRegistries: []string{"https://docker.io"}}, "unqualified_search_registries", "URI schemes are not supported"},
		{"search with namespace", Registries{UnqualifiedSearchRegistries: []string{"docker.io/library"}}, "unqualified_search_registries", "host[:port]"},
		{"search with port", Registries{UnqualifiedSearchRegistries: []string{"localhost:5000"}}, "", ""},
		{"bad mode", Registries{ShortNameMode: "prompt"}, "short_name_mode", "enforcing"},
		{"wildcard with path", Registries{Registries: []Registry{{Prefix: "*.example.com/foo", Location: "x.io"}}}, "registries", "*.example.com"},
		{"wildcard with port", Registries{Registries: []Registry{{Prefix: "*.example.com:5000"}}}, "registries", "incorrectly formatted"},
		{"wildcard in the middle", Registries{Registries: []Registry{{Prefix: "foo.*.example.com", Location: "x.io"}}}, "registries", "wildcard"},
		{"wildcard without location", Registries{Registries: []Registry{{Prefix: "*.example.com", Blocked: true}}}, "", ""},
		{"no location, plain prefix", Registries{Registries: []Registry{{Prefix: "example.com/foo"}}}, "registries", "location is unset"},
		{"nothing", Registries{Registries: []Registry{{Insecure: true}}}, "registries", "both location and prefix are unset"},
		{"location scheme", Registries{Registries: []Registry{{Location: "http://r.example.com"}}}, "registries", "URI schemes"},
		{"location upper-case repo", Registries{Registries: []Registry{{Location: "r.example.com/Foo"}}}, "registries", "repository path"},
		{"prefix with tag", Registries{Registries: []Registry{{Prefix: "docker.io/library/alpine:3", Location: "r.example.com/alpine"}}}, "", ""},
		{"mirror without location", Registries{Registries: []Registry{{Location: "docker.io", Mirrors: []Mirror{{Insecure: true}}}}}, "registries", "mirror location is unset"},
		{"mirror scheme", Registries{Registries: []Registry{{Location: "docker.io", Mirrors: []Mirror{{Location: "https://m.example.com"}}}}}, "registries", "URI schemes"},
		{"mirror pull mode", Registries{Registries: []Registry{{Location: "docker.io", Mirrors: []Mirror{{Location: "m.example.com", PullFromMirror: "digest"}}}}}, "registries", "pull-from-mirror"},
		{"duplicate prefix", Registries{Registries: []Registry{{Location: "docker.io"}, {Prefix: "docker.io", Location: "m.example.com"}}}, "registries", "defined twice"},
		{"conflicting insecure", Registries{Registries: []Registry{{Prefix: "a.io/x", Location: "r.io"}, {Prefix: "a.io/y", Location: "r.io", Insecure: true}}}, "registries", "conflicting 'insecure'"},
		{"conflicting blocked", Registries{Registries: []Registry{{Prefix: "a.io/x", Location: "r.io", Blocked: true}, {Prefix: "a.io/y", Location: "r.io"}}}, "registries", "conflicting 'blocked'"},
		{"alias name with registry", Registries{Aliases: map[string]string{"docker.io/alpine": "docker.io/library/alpine"}}, "aliases", "must not contain registry"},
		{"alias name with tag", Registries{Aliases: map[string]string{"alpine:3": "docker.io/library/alpine"}}, "aliases", "must not contain tag"},
		{"alias value without registry", Registries{Aliases: map[string]string{"alpine": "library/alpine"}}, "aliases", "must contain registry"},
		{"alias value with tag", Registries{Aliases: map[string]string{"alpine": "docker.io/library/alpine:3"}}, "aliases", "must not contain tag"},
		{"alias value with digest", Registries{Aliases: map[string]string{"alpine": "docker.io/library/alpine@sha256:abc"}}, "aliases", "digest"},
		{"alias erase", Registries{Aliases: map[string]string{"alpine": ""}}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.r
			err := r.Validate()
			if c.arg == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if _, err := r.Render(); err != nil {
					t.Fatalf("render: %v", err)
				}
				return
			}
			var ae *tasks.ArgError
			if !errors.As(err, &ae) || ae.Arg != c.arg || !strings.Contains(ae.Msg, c.msg) {
				t.Fatalf("error %v, want argument %s: ...%s...", err, c.arg, c.msg)
			}
		})
	}
}

// A drop-in read after the task's own one that changes its settings is
// reported with the file and the value podman uses; one that says the
// same, or sets something else, is not.
func TestRegistriesWarnsAboutLaterDropIns(t *testing.T) {
	sys, _ := taskstest.New(t)
	dir := "/etc/containers/registries.conf.d/"
	taskstest.WriteFile(t, sys, dir+"60-same.conf", "short-name-mode = \"enforcing\"\n")
	taskstest.WriteFile(t, sys, dir+"90-site.conf", "short-name-mode = \"disabled\"\nunqualified-search-registries = [\"quay.io\"]\n[[registry]]\nlocation = \"docker.io\"\nblocked = true\n[[registry]]\nlocation = \"other.example.com\"\n")
	r := &Registries{
		UnqualifiedSearchRegistries: []string{"docker.io"},
		ShortNameMode:               "enforcing",
		Registries:                  []Registry{{Location: "docker.io", Mirrors: []Mirror{{Location: "mirror.example.com/hub"}}}},
		Aliases:                     map[string]string{"app": "quay.io/org/app"},
	}
	p, err := r.Check(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`/etc/containers/registries.conf.d/50-provision.conf: unqualified-search-registries is overridden by /etc/containers/registries.conf.d/90-site.conf; podman uses ["quay.io"] (from /etc/containers/registries.conf.d/90-site.conf) (a file read after /etc/containers/registries.conf.d/50-provision.conf wins; change or remove it)`,
		`/etc/containers/registries.conf.d/50-provision.conf: short-name-mode is overridden by /etc/containers/registries.conf.d/90-site.conf; podman uses "disabled" (a file read after /etc/containers/registries.conf.d/50-provision.conf wins; change or remove it)`,
		`/etc/containers/registries.conf.d/50-provision.conf: [[registry]] prefix "docker.io" is overridden by /etc/containers/registries.conf.d/90-site.conf; podman uses location "docker.io", blocked (a file read after /etc/containers/registries.conf.d/50-provision.conf wins; change or remove it)`,
	}
	if !reflect.DeepEqual(p.Warnings, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(p.Warnings, "\n"), strings.Join(want, "\n"))
	}
	// An earlier drop-in loses to ours: no warning.
	if err := os.Rename(sys.MustPath(dir+"90-site.conf"), sys.MustPath(dir+"10-site.conf")); err != nil {
		t.Fatal(err)
	}
	if p, err := r.Check(context.Background(), sys); err != nil || len(p.Warnings) != 0 {
		t.Errorf("earlier drop-in: %v, %v", p.Warnings, err)
	}
}

// A value podman refuses in another file fails the task with podman's
// message and the file's position.
func TestRegistriesRefusedByPodman(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/etc/containers/registries.conf", "unqualified-search-registries = [\"docker.io\"]\nshort-name-mode = \"strict\"\n")
	taskstest.WriteFile(t, sys, "/etc/containers/registries.conf.d/70-x.conf", "[aliases]\n\"app\" = \n")
	r := &Registries{UnqualifiedSearchRegistries: []string{"docker.io"}}
	_, err := r.Check(context.Background(), sys)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`/etc/containers/registries.conf: loading registries configuration "/etc/containers/registries.conf": invalid short-name mode: "strict"`,
		`/etc/containers/registries.conf.d/70-x.conf:2:9: loading drop-in registries configuration`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// Arguments the grammar above lets through but podman's loader refuses
// are bad arguments.
func TestRegistriesValidatedByPodman(t *testing.T) {
	r := &Registries{UnqualifiedSearchRegistries: []string{"[::1]:5000"}}
	err := r.Validate()
	var ae *tasks.ArgError
	if !errors.As(err, &ae) || ae.Arg != "unqualified_search_registries" || !strings.Contains(ae.Msg, `podman would refuse the drop-in: loading drop-in registries configuration "/etc/containers/registries.conf.d/50-provision.conf": Invalid unqualified-search-registries entry "[::1]:5000"`) {
		t.Fatalf("got %v", err)
	}
	if err := (&Registries{UnqualifiedSearchRegistries: []string{"localhost:5000"}}).Validate(); err != nil {
		t.Fatal(err)
	}
}
