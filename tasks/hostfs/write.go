package hostfs

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// maxFollow bounds the root-owned links WriteFile follows at the path.
const maxFollow = 8

// Attrs are the mode and owner of a file WriteFile writes.
type Attrs struct {
	// Mode 0 keeps the mode of the file replaced, or 0644 for a new file.
	Mode fs.FileMode
	// UID and GID -1 keep the owner of the file replaced, or root for a
	// new file.
	UID, GID int
	// ReplaceLink replaces a link (or special file) at the path with the
	// file instead of following it; the file then counts as new.
	ReplaceLink bool
}

// WriteFile replaces the file p atomically with data and returns the host
// path written (the target when p is a link that is followed).
func (f FS) WriteFile(p string, data []byte, a Attrs) (string, error) {
	w, name, err := f.walkFile(p, !a.ReplaceLink)
	if err != nil {
		return "", err
	}
	defer w.close()
	var st unix.Stat_t
	old := unix.Fstatat(w.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	var label []byte
	switch {
	case old && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return "", &fs.PathError{Op: "write", Path: w.join(name), Err: unix.EISDIR}
	case old && st.Mode&unix.S_IFMT == unix.S_IFREG:
		keep(&a, &st)
		if label, err = w.label(name, &st); err != nil {
			return "", err
		}
	case old && !a.ReplaceLink:
		return "", &fs.PathError{Op: "write", Path: w.join(name), Err: fmt.Errorf("is a %s, not a regular file", kindOf(st.Mode))}
	}
	if label == nil { // a new file, or one without a label: the policy's
		if label, err = f.labelFor(w.join(name), unix.S_IFREG); err != nil {
			return "", &fs.PathError{Op: "label", Path: w.join(name), Err: err}
		}
	}
	if a.Mode == 0 {
		a.Mode = 0o644
	}
	if err := w.replace(name, data, a, label); err != nil {
		return "", err
	}
	return w.join(name), nil
}

// CheckChange returns the UnsafeError a change of p (not following a final
// link) would meet, as far as the path exists now, and changes nothing:
// for a Check to report the refusal in its plan. Other errors, such as a
// missing directory, are left to the change itself.
func (f FS) CheckChange(p string) error {
	w, _, err := f.walkFile(p, false)
	if err == nil {
		w.close()
		return nil
	}
	var ue *UnsafeError
	if errors.As(err, &ue) {
		return err
	}
	return nil
}

// walkFile walks to the directory holding p. With follow, a final link
// owned by root is followed (up to maxFollow times) and any other final
// link is refused.
func (f FS) walkFile(p string, follow bool) (*walk, string, error) {
	p, err := clean(p)
	if err != nil {
		return nil, "", err
	}
	for range maxFollow {
		if p == "/" {
			return nil, "", &fs.PathError{Op: "write", Path: p, Err: unix.EISDIR}
		}
		w, err := f.walkDir(path.Dir(p), nil)
		if err != nil {
			return nil, "", err
		}
		name := path.Base(p)
		var st unix.Stat_t
		if !follow || unix.Fstatat(w.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
			return w, name, nil
		}
		link, err := w.linkTarget(name, &st)
		w.close()
		if err != nil {
			return nil, "", err
		}
		p = link
	}
	return nil, "", &fs.PathError{Op: "write", Path: p, Err: unix.ELOOP}
}

// linkTarget is the host path the root-owned link name leads to.
func (w *walk) linkTarget(name string, st *unix.Stat_t) (string, error) {
	p := w.join(name)
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return "", w.unsafe(p, "is a link owned by uid %d; only links owned by root are followed", st.Uid)
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(w.fd(), name, buf)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: p, Err: err}
	}
	t := string(buf[:n])
	if !path.IsAbs(t) {
		t = path.Join(w.top().path, t)
	}
	return path.Clean(t), nil
}

// keep fills the attributes a leaves open from the file st replaces.
func keep(a *Attrs, st *unix.Stat_t) {
	if a.Mode == 0 {
		a.Mode = fileMode(st.Mode)
	}
	if a.UID < 0 {
		a.UID = int(st.Uid)
	}
	if a.GID < 0 {
		a.GID = int(st.Gid)
	}
}

// label reads the SELinux label of the regular file name (never a link),
// if it has one.
func (w *walk) label(name string, st *unix.Stat_t) ([]byte, error) {
	fd, err := w.openSame(name, st, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	label, err := getLabel(fd)
	if err != nil {
		return nil, &fs.PathError{Op: "read SELinux label of", Path: w.join(name), Err: err}
	}
	return label, nil
}

// openSame opens name (never a link, never blocking) and checks that it is
// still the inode st describes.
func (w *walk) openSame(name string, st *unix.Stat_t, flags int) (int, error) {
	fd, err := unix.Openat(w.fd(), name, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: w.join(name), Err: err}
	}
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil || now.Dev != st.Dev || now.Ino != st.Ino {
		unix.Close(fd)
		return -1, &fs.PathError{Op: "open", Path: w.join(name), Err: errors.New("changed while in use")}
	}
	return fd, nil
}

// replace writes a temp file in the open directory and renames it over
// name, syncing file and directory.
func (w *walk) replace(name string, data []byte, a Attrs, label []byte) error {
	_ = w.sweep() // best effort: litter must not block the change
	tmp, fd, err := w.createTemp(name)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), w.join(tmp))
	err = writeAll(f, data, a, label)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(w.fd(), tmp, w.fd(), name)
	}
	if err != nil {
		unix.Unlinkat(w.fd(), tmp, 0)
		return &fs.PathError{Op: "write", Path: w.join(name), Err: err}
	}
	return w.sync()
}

func writeAll(f *os.File, data []byte, a Attrs, label []byte) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	fd := int(f.Fd())
	if err := fchownMaybe(fd, a.UID, a.GID); err != nil {
		return err
	}
	// Chmod after chown: chown clears setuid bits.
	if err := unix.Fchmod(fd, unixMode(a.Mode)); err != nil {
		return err
	}
	if label != nil {
		if err := setLabel(fd, label); err != nil {
			return err
		}
	}
	return f.Sync()
}

// createTemp creates a new private file next to name.
func (w *walk) createTemp(name string) (string, int, error) {
	for i := 0; ; i++ {
		tmp := tempName(name)
		fd, err := unix.Openat(w.fd(), tmp, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == nil {
			return tmp, fd, nil
		}
		if err != unix.EEXIST || i > 10 {
			return "", -1, &fs.PathError{Op: "create", Path: w.join(tmp), Err: err}
		}
	}
}

// sync fsyncs the open directory so that a rename in it is durable.
// Filesystems that cannot sync a directory (EINVAL) are accepted.
func (w *walk) sync() error {
	fd, err := unix.Openat(w.fd(), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil && err != unix.EINVAL {
		return &fs.PathError{Op: "sync", Path: w.top().path, Err: err}
	}
	return nil
}

// fchownMaybe chowns fd when running as root and an id is given.
func fchownMaybe(fd, uid, gid int) error {
	if os.Geteuid() != 0 || uid < 0 && gid < 0 {
		return nil
	}
	return unix.Fchown(fd, uid, gid)
}

// unixMode converts an fs.FileMode to chmod(2) bits.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		u |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		u |= unix.S_ISVTX
	}
	return u
}

// fileMode converts stat(2) mode bits to an fs.FileMode (permissions and
// setuid, setgid, sticky only).
func fileMode(u uint32) fs.FileMode {
	m := fs.FileMode(u & 0o777)
	if u&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if u&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if u&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

func kindOf(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "link"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "device"
	}
	return "special file"
}

func randName() string { return rand.Text()[:12] }

// OpenRegular opens the regular file p for a lock or a small record,
// creating it with perm (owned by the agent) when missing; flag is
// O_RDWR or O_WRONLY, with O_CREAT to create. It goes through the checked
// directories of a change, never follows a final link, and never opens
// anything but a regular file: an image's /run/provision.lock that is a
// device node or a FIFO is refused, not opened (and written to).
func (f FS) OpenRegular(p string, flag int, perm fs.FileMode) (*os.File, error) {
	w, name, err := f.walkFile(p, false)
	if err != nil {
		return nil, err
	}
	defer w.close()
	var st unix.Stat_t
	if err := unix.Fstatat(w.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &fs.PathError{Op: "open", Path: w.join(name), Err: fmt.Errorf("is a %s, not a regular file", kindOf(st.Mode))}
	}
	flag &= unix.O_RDWR | unix.O_WRONLY | unix.O_CREAT
	fd, err := unix.Openat(w.fd(), name, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, unixMode(perm))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: w.join(name), Err: err}
	}
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: w.join(name), Err: errors.New("is not a regular file")}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), w.join(name)), nil
}
