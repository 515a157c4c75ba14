package hostfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// Chown sets the owner and group of p (-1 keeps one) and then, when mode
// is not nil, its mode. A link at p is chowned itself and cannot be
// chmodded; a regular file with more than one hard link is refused, as
// its other names may be anywhere.
func (f FS) Chown(p string, uid, gid int, mode *fs.FileMode) error {
	w, name, err := f.walkFile(p, false)
	if err != nil {
		return err
	}
	defer w.close()
	var st unix.Stat_t
	if err := unix.Fstatat(w.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "chown", Path: w.join(name), Err: err}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		if mode != nil {
			return &fs.PathError{Op: "chmod", Path: w.join(name), Err: fmt.Errorf("is a link")}
		}
		if os.Geteuid() != 0 || uid < 0 && gid < 0 {
			return nil
		}
		return unix.Fchownat(w.fd(), name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	case unix.S_IFREG, unix.S_IFDIR:
	default: // fifo, socket, device: never opened
		return w.chownSpecial(name, &st, uid, gid, mode)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink > 1 {
		return w.unsafe(w.join(name), "has %d hard links; refusing to change a file shared with other paths", st.Nlink)
	}
	fd, err := w.openSame(name, &st, unix.O_RDONLY)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := setAttrs(fd, &st, uid, gid, mode); err != nil {
		return &fs.PathError{Op: "chown", Path: w.join(name), Err: err}
	}
	return nil
}

// attrStep is called after each step of setAttrs; tests observe the
// intermediate states with it.
var attrStep = func(fd int) {}

// setAttrs changes the owner and mode of the open file fd, whose stat is
// st, in an order that never passes through a state more permissive than
// both the old and the new: when the owner changes, the mode first drops
// to the bits old and new share (so the new owner never gets the old,
// wider mode, nor the old owner the new one), then the owner changes,
// then the mode is set (chown also clears setuid and setgid bits).
func setAttrs(fd int, st *unix.Stat_t, uid, gid int, mode *fs.FileMode) error {
	defer attrStep(fd)
	old := st.Mode &^ unix.S_IFMT
	chown := os.Geteuid() == 0 && (uid >= 0 && uint32(uid) != st.Uid || gid >= 0 && uint32(gid) != st.Gid)
	if chown && mode != nil {
		if shared := old & unixMode(*mode); shared != old {
			if err := unix.Fchmod(fd, shared); err != nil {
				return err
			}
			attrStep(fd)
		}
	}
	if chown {
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return err
		}
		attrStep(fd)
	}
	if mode == nil || !chown && unixMode(*mode) == old {
		return nil
	}
	return unix.Fchmod(fd, unixMode(*mode))
}

// chownSpecial changes a fifo, socket or device, which is never opened for
// I/O, through an O_PATH handle checked to be the inode st describes: the
// directory may be the User's, who could otherwise swap in a link between
// the check and chmod, which follows links.
func (w *walk) chownSpecial(name string, st *unix.Stat_t, uid, gid int, mode *fs.FileMode) error {
	p := w.join(name)
	specialStep()
	fd, err := unix.Openat(w.fd(), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "chown", Path: p, Err: err}
	}
	defer unix.Close(fd)
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil || now.Dev != st.Dev || now.Ino != st.Ino || now.Mode&unix.S_IFMT != st.Mode&unix.S_IFMT {
		return &fs.PathError{Op: "chown", Path: p, Err: errors.New("changed while in use")}
	}
	chown := os.Geteuid() == 0 && (uid >= 0 || gid >= 0)
	if chown && mode != nil {
		// As setAttrs: never wider than both old and new on the way.
		shared := now.Mode &^ unix.S_IFMT & unixMode(*mode)
		if err := chmodPath(fd, shared); err != nil {
			return &fs.PathError{Op: "chmod", Path: p, Err: err}
		}
	}
	if chown {
		if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
			return &fs.PathError{Op: "chown", Path: p, Err: err}
		}
	}
	if mode == nil {
		return nil
	}
	if err := chmodPath(fd, unixMode(*mode)); err != nil {
		return &fs.PathError{Op: "chmod", Path: p, Err: err}
	}
	return nil
}

// specialStep is called before chownSpecial opens its handle; tests swap
// the file for a link there.
var specialStep = func() {}

// chmodPath changes the mode of the inode an O_PATH handle (never a link)
// holds: with fchmodat2 where the kernel has it (6.6), else through the
// handle's /proc/self/fd entry, which leads to that inode only.
func chmodPath(fd int, mode uint32) error {
	err := unix.Fchmodat(fd, "", mode, unix.AT_EMPTY_PATH)
	if err != unix.EOPNOTSUPP && err != unix.ENOSYS {
		return err
	}
	return unix.Chmod(fmt.Sprintf("/proc/self/fd/%d", fd), mode)
}

// MkdirAll creates the directory p and its missing parents with mode,
// owned by uid:gid when running as root. Existing directories are left
// as they are.
func (f FS) MkdirAll(p string, mode fs.FileMode, uid, gid int) error {
	w, err := f.walkDir(p, &dirSpec{mode: mode, uid: uid, gid: gid})
	if err != nil {
		return err
	}
	w.close()
	return nil
}

// Remove removes the file, link or empty directory p (not a link's
// target). A missing p is not an error.
func (f FS) Remove(p string) error {
	return f.remove(p, false)
}

// RemoveAll removes p and, when it is a directory, everything in it,
// never following a link. A missing p is not an error.
func (f FS) RemoveAll(p string) error {
	return f.remove(p, true)
}

func (f FS) remove(p string, all bool) error {
	w, name, err := f.walkFile(p, false)
	if err != nil {
		return err
	}
	defer w.close()
	if err := removeAt(w.fd(), name, all); err != nil {
		return &fs.PathError{Op: "remove", Path: w.join(name), Err: err}
	}
	return w.sync()
}

// removeAt unlinks name in dirfd; with all, a directory's contents first.
func removeAt(dirfd int, name string, all bool) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	if all {
		if err := removeContents(dirfd, name); err != nil {
			return err
		}
	}
	err = unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
	if err == unix.ENOENT {
		return nil
	}
	return err
}

func removeContents(dirfd int, name string) error {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := removeAt(fd, n, true); err != nil {
			return err
		}
	}
	return nil
}

// Symlink makes p a link to target atomically (a temp link renamed over
// p), owned by uid:gid when running as root and an id is given.
func (f FS) Symlink(target, p string, uid, gid int) error {
	w, name, err := f.walkFile(p, false)
	if err != nil {
		return err
	}
	defer w.close()
	_ = w.sweep() // best effort: litter must not block the change
	tmp := tempName(name)
	if err := unix.Symlinkat(target, w.fd(), tmp); err != nil {
		return &fs.PathError{Op: "symlink", Path: w.join(name), Err: err}
	}
	err = nil
	if os.Geteuid() == 0 && (uid >= 0 || gid >= 0) {
		err = unix.Fchownat(w.fd(), tmp, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err == nil {
		err = unix.Renameat(w.fd(), tmp, w.fd(), name)
	}
	if err != nil {
		unix.Unlinkat(w.fd(), tmp, 0)
		return &fs.PathError{Op: "symlink", Path: w.join(name), Err: err}
	}
	return w.sync()
}

// Overwrite writes data into the existing regular file p in place,
// without creating or replacing it: for kernel files such as /proc/sys.
func (f FS) Overwrite(p string, data []byte) error {
	w, name, err := f.walkFile(p, false)
	if err != nil {
		return err
	}
	defer w.close()
	var st unix.Stat_t
	if err := unix.Fstatat(w.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "open", Path: w.join(name), Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return &fs.PathError{Op: "open", Path: w.join(name), Err: fmt.Errorf("is a %s, not a regular file", kindOf(st.Mode))}
	}
	fd, err := w.openSame(name, &st, unix.O_WRONLY|unix.O_TRUNC)
	if err != nil {
		return err
	}
	file := os.NewFile(uintptr(fd), path.Join(w.top().path, name))
	_, err = file.Write(data)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return err
}
