package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks/hostfs"
	"github.com/provision-tool/provision/tasks/taskstest"
)

// alice makes ~/.config/systemd/user (or the Quadlet directory) a link to
// /etc/systemd/system: her unit must not become a system unit owned by
// her.
func TestUserUnitDirLinkRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the home to alice; CI runs it as root")
	}
	for name, dir := range map[string]string{"app.service": "/home/alice/.config/systemd/user", "app.container": "/home/alice/.config/containers/systemd"} {
		t.Run(name, func(t *testing.T) {
			sys, _ := newHost(t, false)
			for _, d := range []string{"/etc/systemd/system", "/etc/containers/systemd", "/home/alice/.config/systemd", "/home/alice/.config/containers"} {
				if err := os.MkdirAll(taskstest.HostPath(sys, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, d := range []string{"/home/alice", "/home/alice/.config", "/home/alice/.config/systemd", "/home/alice/.config/containers"} {
				if err := os.Chown(taskstest.HostPath(sys, d), 1000, 1000); err != nil {
					t.Fatal(err)
				}
			}
			target := "/etc/systemd/system"
			if name == "app.container" {
				target = "/etc/containers/systemd"
			}
			if err := os.Symlink(target, taskstest.HostPath(sys, dir)); err != nil {
				t.Fatal(err)
			}
			if err := os.Lchown(taskstest.HostPath(sys, dir), 1000, 1000); err != nil {
				t.Fatal(err)
			}
			content := "[Unit]\n"
			u := &Unit{Name: name, Scope: "user", User: "alice", Content: &content}
			p, err := u.Check(context.Background(), sys)
			if err == nil {
				err = u.Apply(context.Background(), sys, p)
			}
			var ue *hostfs.UnsafeError
			if !errors.As(err, &ue) || ue.Component != "/etc" {
				t.Fatalf("want a refusal naming /etc, got %v", err)
			}
			if _, err := os.Lstat(taskstest.HostPath(sys, target+"/"+name)); err == nil {
				t.Errorf("%s/%s was written", target, name)
			}
		})
	}
}

// A user links the unit directory of their home to a directory only root
// may read: the unit's old content there is refused, never shown in the
// plan's diff.
func TestUserUnitDirLinkToRootOnlyNotRead(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to read as another user; CI runs it as root")
	}
	sys, _ := newHost(t, false)
	secret := taskstest.HostPath(sys, "/root/private/app.service")
	if err := os.MkdirAll(filepath.Dir(secret), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(taskstest.HostPath(sys, "/root"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("[Service]\nEnvironment=TOKEN=SECRETTOKEN\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(taskstest.HostPath(sys, "/home/alice/.config/systemd"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/home/alice", "/home/alice/.config", "/home/alice/.config/systemd"} {
		if err := os.Chown(taskstest.HostPath(sys, d), 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	dir := taskstest.HostPath(sys, "/home/alice/.config/systemd/user")
	if err := os.Symlink("/root/private", dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(dir, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	content := "[Unit]\n"
	u := &Unit{Name: "app.service", Scope: "user", User: "alice", Content: &content}
	p, err := u.Check(context.Background(), sys)
	if strings.Contains(fmt.Sprint(p.Changes), "SECRETTOKEN") || err != nil && strings.Contains(err.Error(), "SECRETTOKEN") {
		t.Fatalf("the plan shows root's file: %v, %v", p.Changes, err)
	}
	var ue *hostfs.UserReadError
	if !errors.As(err, &ue) || ue.Path != "/home/alice/.config/systemd/user/app.service" {
		t.Fatalf("want a refusal naming the unit, got %v", err)
	}
}
