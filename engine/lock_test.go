package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/provision-tool/provision/tasks/taskstest"
)

// An image's /run/provision.lock may be a device node (a tarball
// extracted as root keeps them) or a link to one inside the image: the
// lock must not open it, as it wrote the PID at offset 0 of whatever
// device it was (8:0 is the build machine's first disk).
func TestLockRefusesSpecialFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a device node")
	}
	for _, tc := range []struct {
		name  string
		setup func(run string) error
	}{
		{"device", func(run string) error {
			return unix.Mknod(filepath.Join(run, "provision.lock"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3)))
		}},
		{"fifo", func(run string) error { return unix.Mkfifo(filepath.Join(run, "provision.lock"), 0o644) }},
		{"link to a device", func(run string) error {
			if err := unix.Mknod(filepath.Join(run, "null"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))); err != nil {
				return err
			}
			return os.Symlink("/run/null", filepath.Join(run, "provision.lock"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys, _ := taskstest.New(t)
			run := filepath.Join(sys.Root, "run")
			if err := os.MkdirAll(run, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tc.setup(run); err != nil {
				t.Fatal(err)
			}
			l, err := AcquireLock(sys, DefaultLockPath)
			if err == nil {
				l.Release()
				t.Fatal("the lock opened a special file")
			}
			if !strings.Contains(err.Error(), "not a regular file") {
				t.Fatalf("error %v does not say why", err)
			}
		})
	}
}
