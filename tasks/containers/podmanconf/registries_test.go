package podmanconf_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/provision-tool/provision/tasks/containers/podmanconf"
	"github.com/provision-tool/provision/tasks/containers/podmanconf/conftest"
	"github.com/provision-tool/provision/tasks/taskstest"
)

func TestMain(m *testing.M) { conftest.Main(m) }

// TestRegistriesAgreeWithLibrary checks, for every layout, that reading
// the files through hostfs and loading the staged copy gives what the
// library gives when it reads the layout itself: the same refusal with the
// same message, or the same search registries (and their origin),
// short-name mode, registries and aliases.
func TestRegistriesAgreeWithLibrary(t *testing.T) {
	for _, tc := range conftest.RegistriesCases {
		t.Run(tc.Name, func(t *testing.T) {
			sys, _ := taskstest.New(t)
			for p, content := range tc.Files {
				taskstest.WriteFile(t, sys, p, content)
			}
			want, wantErr := conftest.Oracle(t, sys.Root, tc.Files)
			_, files, err := podmanconf.RegistriesFiles(sys, conftest.AliceHome)
			if err != nil {
				t.Fatal(err)
			}
			got, err := podmanconf.LoadRegistries(files)
			if tc.Reject != "" {
				if wantErr == nil || !strings.Contains(wantErr.Error(), tc.Reject) {
					t.Fatalf("library: got %v, want an error with %q", wantErr, tc.Reject)
				}
				var le *podmanconf.LoadError
				if !errors.As(err, &le) {
					t.Fatalf("got %v (%T), want a *podmanconf.LoadError", err, err)
				}
				if le.Msg != wantErr.Error() {
					t.Errorf("message:\n got %s\nwant %s", le.Msg, wantErr)
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

func TestOverrides(t *testing.T) {
	own := podmanconf.File{Path: podmanconf.SystemRegistriesDir + "/50-provision.conf", DropIn: true, Data: []byte(`unqualified-search-registries = ["docker.io"]
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
	files := []podmanconf.File{
		{Path: podmanconf.SystemRegistries, Data: []byte(`unqualified-search-registries = ["quay.io"]`)},
		own,
		{Path: podmanconf.SystemRegistriesDir + "/60-same.conf", DropIn: true, Data: []byte("short-name-mode = \"enforcing\"\n[aliases]\n\"app\" = \"quay.io/org/app\"\n")},
		{Path: podmanconf.SystemRegistriesDir + "/70-site.conf", DropIn: true, Data: []byte("short-name-mode = \"disabled\"\n[aliases]\n\"db\" = \"\"\n")},
		{Path: podmanconf.SystemRegistriesDir + "/99-local.conf", DropIn: true, Data: []byte("[[registry]]\nlocation = \"docker.io\"\nblocked = true\n")},
	}
	got, err := podmanconf.Overrides(files, 1)
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
	if got, err := podmanconf.Overrides(files[:3], 1); err != nil || len(got) != 0 {
		t.Errorf("a later file that says the same: %v, %v", got, err)
	}
}

// A copy left by a killed process (its pid is gone) is removed by the
// sweep a process runs before its first load; a live process's copy and
// other names are kept.
func TestSweepStaleCopies(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dead := filepath.Join(tmp, "provision-registries-999999999-1")
	live := filepath.Join(tmp, fmt.Sprintf("provision-registries-%d-2", os.Getpid()))
	other := filepath.Join(tmp, "provision-registriesX-999999999-3")
	for _, d := range []string{dead, live, other} {
		if err := os.MkdirAll(filepath.Join(d, "registries.conf.d"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	podmanconf.SweepStale()
	for d, want := range map[string]bool{dead: false, live: true, other: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", d, err == nil, want)
		}
	}
}

// Another user's directory under the same name, or a link a user planted
// in /tmp, is never removed by root's sweep (nor what the link leads to):
// only copies of the sweeping user's own, as MkdirTemp makes them.
func TestSweepStaleKeepsOthersFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory to another user; CI runs it as root")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	bobs := filepath.Join(tmp, "provision-registries-999999999-bob")
	target := filepath.Join(t.TempDir(), "precious")
	link := filepath.Join(tmp, "provision-registries-999999999-link")
	for _, d := range []string{bobs + "/registries.conf.d", target} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(bobs, "registries.conf"), []byte("bob's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bobs, bobs + "/registries.conf", bobs + "/registries.conf.d"} {
		if err := os.Lchown(p, 1001, 1001); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	podmanconf.SweepStale()
	for _, p := range []string{bobs + "/registries.conf", link, target} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}

// Hostile drop-ins: a FIFO is refused without being opened (the read
// would block forever), a link out of the root is read inside it, a
// directory named *.conf is skipped; each error names the file.
func TestDropInsHostile(t *testing.T) {
	sys, _ := taskstest.New(t)
	dir := "/etc/containers/registries.conf.d"
	taskstest.WriteFile(t, sys, dir+"/10-ok.conf", "short-name-mode = \"enforcing\"\n")
	taskstest.WriteFile(t, sys, "/etc/inside.conf", "unqualified-search-registries = [\"inside.example\"]\n")
	if err := os.Symlink("/../../../../etc/inside.conf", taskstest.HostPath(sys, dir+"/20-out.conf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(taskstest.HostPath(sys, dir+"/30-dir.conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := podmanconf.DropIns(sys, dir)
	if err != nil || len(files) != 2 || !strings.Contains(string(files[1].Data), "inside.example") {
		t.Fatalf("got %v, %v", files, err)
	}
	if err := syscall.Mkfifo(taskstest.HostPath(sys, dir+"/40-fifo.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = podmanconf.DropIns(sys, dir)
	if err == nil || !strings.Contains(err.Error(), dir+"/40-fifo.conf") || !strings.Contains(err.Error(), "fifo") {
		t.Fatalf("fifo: got %v", err)
	}
}
