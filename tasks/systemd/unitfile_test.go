package systemd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

func TestUnitFilePaths(t *testing.T) {
	cases := []struct {
		task Unit
		path string
	}{
		{Unit{Name: "web.service"}, "/etc/systemd/system/web.service"},
		{Unit{Name: "web.service", Dropin: "memory"}, "/etc/systemd/system/web.service.d/memory.conf"},
		{Unit{Name: "web.service", Dropin: "10-env.conf"}, "/etc/systemd/system/web.service.d/10-env.conf"},
		{Unit{Name: "app.timer", Scope: "user", User: "alice"}, "/home/alice/.config/systemd/user/app.timer"},
		{Unit{Name: "web.container"}, "/etc/containers/systemd/web.container"},
		{Unit{Name: "data.volume"}, "/etc/containers/systemd/data.volume"},
		{Unit{Name: "web.container", Scope: "user", User: "alice"}, "/home/alice/.config/containers/systemd/web.container"},
		{Unit{Name: "web.container", Scope: "user", User: "alice", Dropin: "env"}, "/home/alice/.config/containers/systemd/web.container.d/env.conf"},
		{Unit{Name: "net.network", Scope: "user", User: "alice"}, "/home/alice/.config/containers/systemd/net.network"},
		{Unit{Name: "web.service", Path: "/run/systemd/system/web.service"}, "/run/systemd/system/web.service"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			sys, _ := newHost(t, false)
			content := "[Unit]\nDescription=test\n"
			c.task.Content = &content
			before := taskstest.Snapshot(t, sys)
			p := check(t, sys, &c.task)
			if !reflect.DeepEqual(before, taskstest.Snapshot(t, sys)) {
				t.Error("check changed files")
			}
			want := []tasks.Change{{Field: "content", Path: c.path, Before: "", After: content}}
			if !reflect.DeepEqual(p.Changes, want) {
				t.Fatalf("plan %+v, want %+v", p.Changes, want)
			}
			taskstest.Converge(t, sys, &c.task)
			if got := taskstest.ReadFile(t, sys, c.path); got != content {
				t.Errorf("%s: %q", c.path, got)
			}
			fi, err := sys.Stat(c.path)
			if err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("mode of %s: %v %v", c.path, fi.Mode(), err)
			}
			if os.Geteuid() == 0 && c.task.Scope == "user" {
				// The file and the directories made for it are alice's.
				for p := c.path; p != "/home/alice"; p = filepath.Dir(p) {
					fi, err := sys.Lstat(p)
					if err != nil {
						t.Fatal(err)
					}
					if uid, gid := tasks.FileOwner(fi); uid != 1000 || gid != 1000 {
						t.Errorf("%s is owned by %d:%d", p, uid, gid)
					}
				}
			}
		})
	}
}

func TestUnitFileUpdate(t *testing.T) {
	sys, _ := newHost(t, false)
	taskstest.WriteFile(t, sys, "/etc/systemd/system/web.service", "[Service]\nExecStart=/bin/old\n")
	if err := os.Chmod(sys.MustPath("/etc/systemd/system/web.service"), 0o600); err != nil {
		t.Fatal(err)
	}
	content := "[Service]\nExecStart=/bin/new\n"
	task := &Unit{Name: "web.service", Content: &content}
	p := taskstest.Converge(t, sys, task)
	if len(p.Changes) != 2 || p.Changes[0].Before != "[Service]\nExecStart=/bin/old\n" || p.Changes[1].Field != "mode" ||
		p.Changes[1].Before != "0600" || p.Changes[1].After != "0644" {
		t.Errorf("plan %+v", p.Changes)
	}
	if p := check(t, sys, task); !p.Empty() {
		t.Errorf("second check %s", p)
	}
	// Only the mode differs: the content is not rewritten.
	os.Chmod(sys.MustPath("/etc/systemd/system/web.service"), 0o640)
	task.Mode = "0640"
	if p := check(t, sys, task); !p.Empty() {
		t.Errorf("mode 0640 wanted and present: %s", p)
	}
	task.Mode = "0644"
	p = taskstest.Converge(t, sys, task)
	wantChanges(t, p, "mode: 0640 -> 0644")

	p = taskstest.Converge(t, sys, &Unit{Name: "web.service", State: "absent"})
	if len(p.Changes) != 1 || p.Changes[0].After != "" || p.Changes[0].Before != content {
		t.Errorf("absent plan %+v", p.Changes)
	}
	if sys.Exists("/etc/systemd/system/web.service") {
		t.Error("file still there")
	}
	if p := check(t, sys, &Unit{Name: "web.service", State: "absent"}); !p.Empty() {
		t.Errorf("absent twice: %s", p)
	}
}

func TestUnitFileTemplate(t *testing.T) {
	sys, _ := newHost(t, false)
	if err := os.WriteFile(filepath.Join(sys.SourceDir, "web.container.tmpl"), []byte("[Container]\nImage={{ image }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sys.Render = func(s string) (string, error) { return strings.ReplaceAll(s, "{{ image }}", "localhost/bb"), nil }
	taskstest.Converge(t, sys, &Unit{Name: "web.container", Src: "web.container.tmpl"})
	if got := taskstest.ReadFile(t, sys, "/etc/containers/systemd/web.container"); got != "[Container]\nImage=localhost/bb\n" {
		t.Errorf("rendered %q", got)
	}
	_, err := (&Unit{Name: "x.service", Src: "missing.tmpl"}).Check(context.Background(), sys)
	var ae *tasks.ArgError
	if err == nil || !errors.As(err, &ae) || ae.Arg != "src" {
		t.Errorf("missing src: %v", err)
	}
}

func TestUnitFileNotRegular(t *testing.T) {
	sys, _ := newHost(t, false)
	os.MkdirAll(sys.MustPath("/etc/systemd/system/web.service"), 0o755)
	c := "x"
	if _, err := (&Unit{Name: "web.service", Content: &c}).Check(context.Background(), sys); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("error %v", err)
	}
}

func TestUnitFileValidate(t *testing.T) {
	c := "x"
	cases := []struct {
		task Unit
		err  string
	}{
		{Unit{Name: "web.service", Content: &c}, ""},
		{Unit{Name: "web.container", Src: "t", Scope: "user", User: "alice"}, ""},
		{Unit{Name: "web.service", State: "absent"}, ""},
		{Unit{Name: "web", Content: &c}, "name: web has no unit suffix (.service .socket .target .timer .mount .automount .path .slice .scope .swap .device) or Quadlet suffix (.container .volume .network .kube .pod .image .build)"},
		{Unit{Name: "web.service"}, "content: content or src is required"},
		{Unit{Name: "web.service", Content: &c, Src: "t"}, "src: give content or src, not both"},
		{Unit{Name: "web.service", Content: &c, State: "absent"}, "state: absent takes no content or src"},
		{Unit{Name: "web.service", State: "gone"}, "state: must be present or absent, not gone"},
		{Unit{Name: "web.service", Content: &c, Dropin: "../x"}, "dropin: is not a drop-in file name: ../x"},
		{Unit{Name: "web.service", Content: &c, Path: "rel/x"}, "path: must be an absolute path: rel/x"},
		{Unit{Name: "web.service", Content: &c, Mode: "999"}, "mode: not an octal mode: 999"},
		{Unit{Name: "web.service", Content: &c, Scope: "user"}, "user: is required with scope: user"},
	}
	for _, c := range cases {
		err := c.task.Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.err {
			t.Errorf("%s: error %q, want %q", c.task.Name, got, c.err)
		}
	}
}

// TestUnknownUser: in check mode a user an earlier task creates does not
// exist yet: the plan says where the file goes, relative to the user's
// home; Apply fails plainly if the user is still missing.
func TestUnknownUser(t *testing.T) {
	sys, _ := newHost(t, false)
	c := "x"
	task := &Unit{Name: "a.container", Content: &c, Scope: "user", User: "bob"}
	p := check(t, sys, task)
	want := []tasks.Change{{Field: "content", Path: "~bob/.config/containers/systemd/a.container", After: "x"}}
	if !reflect.DeepEqual(p.Changes, want) || len(p.Warnings) != 1 || p.Warnings[0] != "user bob does not exist yet" {
		t.Errorf("plan %+v warnings %q", p.Changes, p.Warnings)
	}
	if err := task.Apply(context.Background(), sys, p); err == nil || err.Error() != `no such user "bob"` {
		t.Errorf("apply: %v", err)
	}
	taskstest.WriteFile(t, sys, "/etc/passwd", passwd+"bob:x:1001:1001::/home/bob:/bin/sh\n")
	if err := task.Apply(context.Background(), sys, p); err != nil {
		t.Fatal(err)
	}
	if got := taskstest.ReadFile(t, sys, "/home/bob/.config/containers/systemd/a.container"); got != "x" {
		t.Errorf("file %q", got)
	}
}
