package systemd

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"

	"github.com/provision-tool/provision/testhost"
)

const webUnit = `[Unit]
Description=web

[Service]
ExecStart=/usr/bin/web

[Install]
WantedBy=multi-user.target
RequiredBy=graphical.target
Alias=www.service
Also=web.socket
`

const webSocket = `[Socket]
ListenStream=80

[Install]
WantedBy=sockets.target
`

// links returns the symlinks under dir of the root, as path -> target.
func links(t *testing.T, root, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	base := filepath.Join(root, dir)
	filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			rel, _ := filepath.Rel(root, p)
			out["/"+rel] = target
		}
		return nil
	})
	return out
}

func TestOfflineEnableDisable(t *testing.T) {
	for _, booted := range []bool{false, true} {
		name := "not booted"
		if booted {
			name = "image root"
		}
		t.Run(name, func(t *testing.T) {
			// A host without systemd as PID 1, or an image root (--root) of
			// a booted-looking tree: both are offline.
			sys, _ := newHost(t, booted)
			if !booted {
				// The running host's root, without systemd as PID 1.
				old := imageRoot
				imageRoot = func(*tasks.System) bool { return false }
				t.Cleanup(func() { imageRoot = old })
			}
			taskstest.WriteFile(t, sys, "/lib/systemd/system/web.service", webUnit)
			taskstest.WriteFile(t, sys, "/lib/systemd/system/web.socket", webSocket)
			task := &Service{Name: "web", State: "started", Enabled: ptr(true)}
			before := taskstest.Snapshot(t, sys)
			p := check(t, sys, task)
			if !reflect.DeepEqual(before, taskstest.Snapshot(t, sys)) {
				t.Error("check changed files")
			}
			if len(p.Changes) != 1 || p.Changes[0].Field != "enabled" || p.Changes[0].Before != "false" {
				t.Fatalf("plan %s", p)
			}
			if len(p.Warnings) != 1 || p.Warnings[0] != "systemd is not running here (offline): state started of web.service is skipped" {
				t.Errorf("warnings %q", p.Warnings)
			}
			taskstest.Converge(t, sys, task)
			want := map[string]string{
				"/etc/systemd/system/multi-user.target.wants/web.service":   "/lib/systemd/system/web.service",
				"/etc/systemd/system/graphical.target.requires/web.service": "/lib/systemd/system/web.service",
				"/etc/systemd/system/www.service":                           "/lib/systemd/system/web.service",
				"/etc/systemd/system/sockets.target.wants/web.socket":       "/lib/systemd/system/web.socket",
			}
			if got := links(t, sys.Root, "/etc/systemd/system"); !reflect.DeepEqual(got, want) {
				t.Errorf("links after enable:\n got  %v\n want %v", got, want)
			}
			off := &Service{Name: "web", Enabled: ptr(false)}
			taskstest.Converge(t, sys, off)
			if got := links(t, sys.Root, "/etc/systemd/system"); len(got) != 0 {
				t.Errorf("links after disable: %v", got)
			}
		})
	}
}

// TestOfflineMatchesSystemctl compares the links with those the real
// `systemctl --root` makes for the same tree, when systemctl is here.
func TestOfflineMatchesSystemctl(t *testing.T) {
	systemctl, err := exec.LookPath("systemctl")
	if err != nil {
		testhost.Skipf(t, "systemctl is not installed")
	}
	units := map[string]string{
		"/lib/systemd/system/web.service":    webUnit,
		"/lib/systemd/system/web.socket":     webSocket,
		"/lib/systemd/system/getty@.service": "[Service]\nExecStart=/sbin/agetty %I\n[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n",
		"/etc/systemd/system/local.service":  "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=default.target\n",
	}
	for _, unit := range []string{"web.service", "getty@tty3.service", "getty@.service", "local.service"} {
		t.Run(unit, func(t *testing.T) {
			real := t.TempDir()
			for p, c := range units {
				os.MkdirAll(filepath.Join(real, filepath.Dir(p)), 0o755)
				os.WriteFile(filepath.Join(real, p), []byte(c), 0o644)
			}
			out, err := exec.Command(systemctl, "--root="+real, "enable", unit).CombinedOutput()
			if err != nil {
				testhost.Skipf(t, "systemctl --root enable: %v: %s", err, out)
			}
			sys, _ := newHost(t, false)
			for p, c := range units {
				taskstest.WriteFile(t, sys, p, c)
			}
			taskstest.Converge(t, sys, &Service{Name: unit, Enabled: ptr(true)})
			got, want := links(t, sys.Root, "/etc/systemd/system"), links(t, real, "/etc/systemd/system")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("links:\n provision %v\n systemctl %v", got, want)
			}
			// systemctl's own links count as enabled: nothing to do.
			sys2 := &tasks.System{Root: real, Runner: sys.Runner, Facts: sys.Facts}
			if p := check(t, sys2, &Service{Name: unit, Enabled: ptr(true)}); !p.Empty() {
				t.Errorf("provision wants to change systemctl's enablement: %s", p)
			}
			exec.Command(systemctl, "--root="+real, "disable", unit).Run()
			taskstest.Converge(t, sys, &Service{Name: unit, Enabled: ptr(false)})
			got, want = links(t, sys.Root, "/etc/systemd/system"), links(t, real, "/etc/systemd/system")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("links after disable:\n provision %v\n systemctl %v", got, want)
			}
		})
	}
}

func TestOfflineTemplates(t *testing.T) {
	sys, _ := newHost(t, false)
	taskstest.WriteFile(t, sys, "/lib/systemd/system/getty@.service", "[Install]\nWantedBy=getty.target\n")
	taskstest.Converge(t, sys, &Service{Name: "getty@tty2.service", Enabled: ptr(true)})
	want := map[string]string{"/etc/systemd/system/getty.target.wants/getty@tty2.service": "/lib/systemd/system/getty@.service"}
	if got := links(t, sys.Root, "/etc"); !reflect.DeepEqual(got, want) {
		t.Errorf("links %v", got)
	}
	_, err := (&Service{Name: "getty@.service", Enabled: ptr(true)}).Check(context.Background(), sys)
	if err == nil || !strings.Contains(err.Error(), "getty@.service is a template and has no DefaultInstance=") {
		t.Errorf("template without instance: %v", err)
	}
}

// TestOfflineMergedUsr: on a merged-/usr tree (/lib -> usr/lib) a link
// made by systemctl to /lib/... and one to /usr/lib/... are the same.
func TestOfflineMergedUsr(t *testing.T) {
	sys, _ := newHost(t, false)
	taskstest.WriteFile(t, sys, "/usr/lib/systemd/system/web.service", "[Install]\nWantedBy=multi-user.target\n")
	if err := os.Symlink("usr/lib", sys.MustPath("/lib")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(sys.MustPath("/etc/systemd/system/multi-user.target.wants"), 0o755)
	os.Symlink("/usr/lib/systemd/system/web.service", sys.MustPath("/etc/systemd/system/multi-user.target.wants/web.service"))
	if p := check(t, sys, &Service{Name: "web", Enabled: ptr(true)}); !p.Empty() {
		t.Errorf("plan %s", p)
	}
	// An absolute /lib -> /usr/lib link resolves inside the root too.
	os.Remove(sys.MustPath("/lib"))
	os.Symlink("/usr/lib", sys.MustPath("/lib"))
	if p := check(t, sys, &Service{Name: "web", Enabled: ptr(true)}); !p.Empty() {
		t.Errorf("plan with an absolute /lib link: %s", p)
	}
}

func TestOfflineStaticAndMissing(t *testing.T) {
	sys, _ := newHost(t, false)
	taskstest.WriteFile(t, sys, "/lib/systemd/system/static.service", "[Service]\nExecStart=/bin/true\n")
	p := check(t, sys, &Service{Name: "static", Enabled: ptr(true)})
	if !p.Empty() || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "no [Install] section (static)") {
		t.Errorf("static: plan %s, warnings %q", p, p.Warnings)
	}
	task := &Service{Name: "later", Enabled: ptr(true)}
	p = check(t, sys, task)
	wantChanges(t, p, "enabled: (no unit file) -> true")
	if err := task.Apply(context.Background(), sys, p); err == nil || !strings.Contains(err.Error(), "no unit file for later.service") {
		t.Errorf("apply without a unit file: %v", err)
	}
	// An earlier task wrote it meanwhile (check mode's view): Apply plans again.
	taskstest.WriteFile(t, sys, "/etc/systemd/system/later.service", "[Install]\nWantedBy=multi-user.target\n")
	if err := task.Apply(context.Background(), sys, p); err != nil {
		t.Fatal(err)
	}
	if got := links(t, sys.Root, "/etc"); got["/etc/systemd/system/multi-user.target.wants/later.service"] != "/etc/systemd/system/later.service" {
		t.Errorf("links %v", got)
	}
}

func TestOfflineMask(t *testing.T) {
	sys, _ := newHost(t, false)
	taskstest.WriteFile(t, sys, "/lib/systemd/system/web.service", webUnit)
	taskstest.WriteFile(t, sys, "/lib/systemd/system/web.socket", webSocket)
	p := taskstest.Converge(t, sys, &Service{Name: "web", Masked: ptr(true)})
	wantChanges(t, p, "masked: false -> true")
	if got := links(t, sys.Root, "/etc"); !reflect.DeepEqual(got, map[string]string{"/etc/systemd/system/web.service": "/dev/null"}) {
		t.Errorf("links %v", got)
	}
	if _, err := (&Service{Name: "web", Enabled: ptr(true)}).Check(context.Background(), sys); err == nil || !strings.Contains(err.Error(), "masked") {
		t.Errorf("enable a masked unit: %v", err)
	}
	p = taskstest.Converge(t, sys, &Service{Name: "web", Masked: ptr(false), Enabled: ptr(true)})
	if len(p.Changes) != 2 || p.Changes[0].Field != "masked" || p.Changes[1].Field != "enabled" {
		t.Errorf("plan %s", p)
	}
	if got := links(t, sys.Root, "/etc"); got["/etc/systemd/system/web.service"] != "" || len(got) != 4 {
		t.Errorf("links after unmask and enable %v", got)
	}
	// A unit file in /etc cannot be masked over.
	taskstest.WriteFile(t, sys, "/etc/systemd/system/mine.service", "[Service]\n")
	if _, err := (&Service{Name: "mine", Masked: ptr(true)}).Check(context.Background(), sys); err == nil || !strings.Contains(err.Error(), "cannot mask mine.service") {
		t.Errorf("mask over a file: %v", err)
	}
}

func TestOfflineUserScope(t *testing.T) {
	sys, _ := newHost(t, false)
	taskstest.WriteFile(t, sys, "/home/alice/.config/systemd/user/app.service", "[Service]\nExecStart=/bin/app\n[Install]\nWantedBy=default.target\n")
	taskstest.Converge(t, sys, &Service{Name: "app", Scope: "user", User: "alice", Enabled: ptr(true)})
	want := map[string]string{"/home/alice/.config/systemd/user/default.target.wants/app.service": "/home/alice/.config/systemd/user/app.service"}
	if got := links(t, sys.Root, "/home"); !reflect.DeepEqual(got, want) {
		t.Errorf("links %v", got)
	}
	// Quadlet files are enabled by the generator at boot.
	p := check(t, sys, &Service{Name: "web.container", Scope: "user", User: "alice", Enabled: ptr(true), State: "started"})
	if !p.Empty() || len(p.Warnings) != 2 {
		t.Errorf("quadlet offline: plan %s warnings %q", p, p.Warnings)
	}
}

func TestExpandSpecifiers(t *testing.T) {
	for _, c := range []struct{ in, name, want, err string }{
		{"multi-user.target", "a.service", "multi-user.target", ""},
		{"%p-%i.target", "foo@bar.service", "foo-bar.target", ""},
		{"%N and %n %%", "foo@bar.service", "foo@bar and foo@bar.service %", ""},
		{"%j", "a-b-c@x.service", "c", ""},
		{"%H", "a.service", "", "specifier %H"},
	} {
		got, err := expandSpecifiers(c.in, c.name)
		if got != c.want || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("expand(%q, %q) = %q, %v", c.in, c.name, got, err)
		}
	}
}
