package sysctl

import (
	"os"
	"testing"

	"github.com/provision-tool/provision/tasks/taskstest"
)

// Debian ships /etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf. A task on
// the link writes /etc/sysctl.conf, which keeps its mode; the link stays
// and no 0777 file appears.
func TestSysctlThroughDistributionLink(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/etc/sysctl.conf", "# Debian\n")
	if err := os.Chmod(taskstest.HostPath(sys, "/etc/sysctl.conf"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(taskstest.HostPath(sys, "/etc/sysctl.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../sysctl.conf", taskstest.HostPath(sys, "/etc/sysctl.d/99-sysctl.conf")); err != nil {
		t.Fatal(err)
	}
	s := &Sysctl{Name: "vm.swappiness", Value: "10", ApplyLive: no(), File: "/etc/sysctl.d/99-sysctl.conf"}
	taskstest.Converge(t, sys, s)
	fi, err := os.Lstat(taskstest.HostPath(sys, "/etc/sysctl.d/99-sysctl.conf"))
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi.Mode(), err)
	}
	fi, err = os.Lstat(taskstest.HostPath(sys, "/etc/sysctl.conf"))
	if err != nil || fi.Mode() != 0o640 {
		t.Fatalf("/etc/sysctl.conf: %v %v", fi.Mode(), err)
	}
	if got := taskstest.ReadFile(t, sys, "/etc/sysctl.conf"); got != "# Debian\nvm.swappiness = 10\n" {
		t.Errorf("/etc/sysctl.conf: %q", got)
	}
}
