package transport

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The image's /sys is read-only with every mount below it (a bind
// remount changed only the top one, and a package script could write the
// build machine's /sys/fs/cgroup), and so is /proc/sys (a package script
// running sysctl -p changed the build machine's settings).
func TestChrootSysAndProcSysReadOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	root := t.TempDir()
	for _, d := range []string{"proc", "sys", "dev", "run"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		mountinfo string
		err       error
	}
	done := make(chan result)
	go func() {
		// This thread gets a mount namespace of its own and is never
		// given back to the scheduler (no UnlockOSThread): it ends with
		// the goroutine, and the namespace with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			done <- result{err: err}
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			done <- result{err: err}
			return
		}
		rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer unix.Close(rootFD)
		for _, m := range chrootMounts {
			if err := m.mount(root, rootFD); err != nil {
				done <- result{err: err}
				return
			}
		}
		data, err := os.ReadFile("/proc/thread-self/mountinfo")
		done <- result{string(data), err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, dir := range []string{root + "/sys", root + "/proc/sys"} {
		n := 0
		for _, line := range strings.Split(r.mountinfo, "\n") {
			f := strings.Fields(line)
			if len(f) < 6 || f[4] != dir && !strings.HasPrefix(f[4], dir+"/") {
				continue
			}
			n++
			if !strings.HasPrefix(f[5], "ro") {
				t.Errorf("%s is mounted %s", f[4], f[5])
			}
		}
		if n == 0 {
			t.Errorf("no mount on %s:\n%s", dir, r.mountinfo)
		}
	}
}
