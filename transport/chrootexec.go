package transport

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/provision-tool/provision/tasks"
)

// ChrootHelper is the hidden command (`provision chroot-agent ROOT DIR`)
// that Chroot starts in new mount and PID namespaces: ChrootExec.
const ChrootHelper = "chroot-agent"

// chrootMount is one file system the agent needs inside the tree.
type chrootMount struct {
	dir      string // at the top of the tree
	source   string
	fstype   string
	flags    uintptr
	data     string
	readOnly bool
}

// chrootMounts: a /proc of the run's own PID namespace (its /proc/sys
// read-only), the build machine's /sys read-only and /dev, and an empty
// tmpfs on /run (so no socket of the build machine, its systemd or D-Bus,
// is reachable).
var chrootMounts = []chrootMount{
	{dir: "proc", source: "proc", fstype: "proc", flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	// The kernel's settings are the build machine's: a package script
	// applying its sysctl.d file (sysctl -p) must not change them.
	{dir: "proc/sys", source: "/proc/sys", flags: unix.MS_BIND | unix.MS_REC, readOnly: true},
	{dir: "sys", source: "/sys", flags: unix.MS_BIND | unix.MS_REC, readOnly: true},
	{dir: "dev", source: "/dev", flags: unix.MS_BIND | unix.MS_REC},
	{dir: "run", source: "tmpfs", fstype: "tmpfs", flags: unix.MS_NOSUID | unix.MS_NODEV, data: "mode=0755"},
}

// ChrootExec is the helper: already in a private mount namespace and a PID
// namespace of its own (Chroot starts it so), it mounts what the agent
// needs on the tree's own directories, refusing any that is a link or
// missing, chroots into root and execs the agent in DIR. It returns only
// on failure.
func ChrootExec(root, dir string) error {
	if os.Getpid() != 1 {
		return fmt.Errorf("chroot %s: the helper must run in a PID namespace of its own, as provision starts it", root)
	}
	// Go made / private when it unshared the namespace; again, so that no
	// mount below can propagate back to the build machine.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("chroot %s: make the mounts private: %w", root, err)
	}
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("chroot %s: %w", root, err)
	}
	for _, m := range chrootMounts {
		if err := m.mount(root, rootFD); err != nil {
			return err
		}
	}
	if err := unix.Chroot(root); err != nil {
		return fmt.Errorf("chroot %s: %w", root, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chroot %s: chdir /: %w", root, err)
	}
	// The parent-death signal Chroot set is the thread's that started this
	// process; exec runs on this goroutine's thread, so set it here too:
	// if provision dies, the agent (PID 1 here) dies and takes every
	// process of the namespace, and the mounts, with it.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("chroot %s: parent-death signal: %w", root, err)
	}
	env := []string{"PATH=" + tasks.BasePath, "LC_ALL=C", "LANG=C", "HOME=/root", "TMPDIR=" + path.Join("/", dir, "tmp")}
	agent := path.Join("/", dir, "provision")
	if err := unix.Exec(agent, []string{"provision", "agent"}, env); err != nil {
		return fmt.Errorf("chroot %s: run the agent %s: %w", root, agent, err)
	}
	return nil
}

// mount mounts m on the tree's directory, reached through an fd opened
// without following links: a tree whose /run is a link to the build
// machine's /run is refused, not followed.
func (m chrootMount) mount(root string, rootFD int) error {
	where := filepath.Join(root, m.dir)
	fd, err := openDirNoFollow(rootFD, m.dir)
	if err != nil {
		return fmt.Errorf("chroot %s: cannot mount /%s: %s", root, m.dir, describeMountPoint(where, err))
	}
	defer unix.Close(fd)
	target := fmt.Sprintf("/proc/self/fd/%d", fd)
	if err := unix.Mount(m.source, target, m.fstype, m.flags, m.data); err != nil {
		return fmt.Errorf("chroot %s: mount %s on %s: %w", root, m.source, where, err)
	}
	if !m.readOnly {
		return nil
	}
	top, err := openDirNoFollow(rootFD, m.dir)
	if err != nil {
		return fmt.Errorf("chroot %s: reopen %s: %w", root, where, err)
	}
	defer unix.Close(top)
	// Read-only with every mount below it (a bind remount changes the top
	// mount only: /sys/fs/cgroup, /sys/kernel/security... stayed writable).
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	err = unix.MountSetattr(top, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr)
	if err == nil {
		return nil
	}
	if err != unix.ENOSYS {
		return fmt.Errorf("chroot %s: make %s read-only: %w", root, where, err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := unix.Mount("", fmt.Sprintf("/proc/self/fd/%d", top), "", flags, ""); err != nil {
		return fmt.Errorf("chroot %s: make %s read-only: %w", root, where, err)
	}
	return nil
}

func openDirNoFollow(dirFD int, name string) (int, error) {
	return unix.Openat(dirFD, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// describeMountPoint says why a mount point was refused.
func describeMountPoint(where string, err error) string {
	if target, lerr := os.Readlink(where); lerr == nil {
		return fmt.Sprintf("%s is a link to %s, not a directory of the image: refusing to mount over it", where, target)
	}
	if errors.Is(err, unix.ENOENT) {
		return where + " is missing: the image needs the directory (mkdir it in the image)"
	}
	if errors.Is(err, unix.ENOTDIR) {
		return where + " is not a directory"
	}
	return fmt.Sprintf("%s: %v", where, err)
}
