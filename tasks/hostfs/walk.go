package hostfs

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// maxHops bounds the links one walk follows, like the kernel's ELOOP.
const maxHops = 40

// UnsafeError is a change refused because a directory or link on the way
// is controlled by someone the change is not made for.
type UnsafeError struct {
	Path      string // the host path the change was for
	Component string // the host path of the directory or link refused
	Reason    string
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("refusing to change %s: %s %s", e.Path, e.Component, e.Reason)
}

// dirent is a directory the walk holds open.
type dirent struct {
	f    *os.File
	path string // host path, free of links
	uid  int
}

// walk resolves a host path one component at a time inside Root, checking
// every directory it enters (see the package documentation).
type walk struct {
	fs      FS
	target  string // for errors
	stack   []dirent
	tainted bool   // a link in a directory of the User was followed
	home    string // the User's home, free of links, when it has one
	hops    int
	mk      *dirSpec
}

// dirSpec is how walkDir creates missing directories.
type dirSpec struct {
	mode     fs.FileMode
	uid, gid int
}

// walkDir opens the directory p for a change, creating missing
// directories when mk is not nil. The caller closes the walk.
func (f FS) walkDir(p string, mk *dirSpec) (*walk, error) {
	p, err := clean(p)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenFile(f.root(), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	w := &walk{fs: f, target: p, mk: mk, stack: []dirent{{f: root, path: "/"}}}
	if f.User != nil && f.User.Home != "" {
		w.home, err = f.realHome()
	}
	if err == nil {
		err = w.run(p)
	}
	if err == nil {
		err = w.checkHome()
	}
	if err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *walk) close() {
	for _, d := range w.stack {
		d.f.Close()
	}
	w.stack = nil
}

func (w *walk) top() dirent { return w.stack[len(w.stack)-1] }
func (w *walk) fd() int     { return int(w.top().f.Fd()) }

// join is the host path of name in the current directory.
func (w *walk) join(name string) string { return path.Join(w.top().path, name) }

func (w *walk) pop(depth int) {
	for len(w.stack) > depth {
		w.top().f.Close()
		w.stack = w.stack[:len(w.stack)-1]
	}
}

func (w *walk) unsafe(component, format string, args ...any) error {
	return &UnsafeError{Path: w.target, Component: component, Reason: fmt.Sprintf(format, args...)}
}

// run walks the components of p, following links inside Root.
func (w *walk) run(p string) error {
	todo := strings.Split(p, "/")
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			w.pop(max(1, len(w.stack)-1))
			if err := w.checkTaint(w.top().path, w.top().uid); err != nil {
				return err
			}
			continue
		}
		link, err := w.step(c)
		if err != nil {
			return err
		}
		if link == "" {
			continue
		}
		if w.hops++; w.hops > maxHops {
			return &fs.PathError{Op: "open", Path: w.target, Err: unix.ELOOP}
		}
		if path.IsAbs(link) {
			w.pop(1)
			if err := w.checkTaint("/", 0); err != nil {
				return err
			}
		}
		todo = append(strings.Split(link, "/"), todo...)
	}
	return nil
}

// step enters the directory name, or returns the target of the link name.
func (w *walk) step(name string) (link string, err error) {
	p := w.join(name)
	fd, err := unix.Openat(w.fd(), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT && w.mk != nil {
		if herr := w.checkHome(); herr != nil {
			return "", herr
		}
		fd, err = w.mkdir(name)
	}
	if err != nil {
		return "", &fs.PathError{Op: "open", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return "", err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := w.trust(p, &st); err != nil {
			f.Close()
			return "", err
		}
		w.stack = append(w.stack, dirent{f: f, path: p, uid: int(st.Uid)})
		return "", nil
	case unix.S_IFLNK:
		defer f.Close()
		if err := w.followLink(p, int(st.Uid)); err != nil {
			return "", err
		}
		link, err := readlinkFd(fd, p)
		if err == nil && link == "" {
			err = &fs.PathError{Op: "readlink", Path: p, Err: unix.ENOENT}
		}
		return link, err
	}
	f.Close()
	return "", &fs.PathError{Op: "open", Path: p, Err: unix.ENOTDIR}
}

// followLink decides whether the link p, owned by uid, may be followed:
// a link of the User, or in a directory of the User, taints the walk (it
// may lead anywhere); a link of anyone else (in a sticky /tmp) is refused.
func (w *walk) followLink(p string, uid int) error {
	mine := func(id int) bool { return id == 0 || id == os.Geteuid() }
	if mine(uid) && mine(w.top().uid) {
		return nil
	}
	if u := w.fs.User; u != nil && (uid == u.UID || mine(uid)) {
		w.tainted = true
		return nil
	}
	return w.unsafe(p, "is a link owned by uid %d", uid)
}

// mkdir creates the missing directory name with w.mk's owner and mode,
// chowning before chmod so that it is never open to others.
func (w *walk) mkdir(name string) (int, error) {
	if err := unix.Mkdirat(w.fd(), name, 0o700); err != nil {
		if err == unix.EEXIST {
			return unix.Openat(w.fd(), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		return -1, err
	}
	fd, err := unix.Openat(w.fd(), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err = fchownMaybe(fd, w.mk.uid, w.mk.gid); err == nil {
		err = unix.Fchmod(fd, unixMode(w.mk.mode))
	}
	if err == nil {
		err = w.fs.labelNew(fd, w.join(name), unix.S_IFDIR)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// trust checks a directory the walk enters.
func (w *walk) trust(p string, st *unix.Stat_t) error {
	uid, gid := int(st.Uid), int(st.Gid)
	if err := w.checkTaint(p, uid); err != nil {
		return err
	}
	u := w.fs.User
	if uid != 0 && uid != os.Geteuid() && (u == nil || uid != u.UID) {
		return w.unsafe(p, "is owned by uid %d, not by root or the user the change is for", uid)
	}
	if st.Mode&unix.S_ISVTX != 0 {
		return nil
	}
	if st.Mode&0o002 != 0 {
		return w.unsafe(p, "is writable by everyone")
	}
	if st.Mode&0o020 != 0 && gid != 0 && gid != os.Getegid() && (u == nil || gid != u.GID) {
		return w.unsafe(p, "is writable by group %d", gid)
	}
	return nil
}

// checkTaint refuses, once a link of the User was followed, a directory
// the User does not own: the link must not lead to root's directories.
// The way to the User's home (/, /home) may be passed through.
func (w *walk) checkTaint(p string, uid int) error {
	u := w.fs.User
	switch {
	case !w.tainted, u != nil && uid == u.UID:
		return nil
	case w.home != "" && (p == "/" || w.home == p || strings.HasPrefix(w.home, p+"/")):
		return nil
	}
	return w.unsafe(p, "is reached through a link in a directory of uid %d but owned by uid %d", u.uidOr(-1), uid)
}

func (u *User) uidOr(def int) int {
	if u == nil {
		return def
	}
	return u.UID
}

// realHome is the User's home, free of links.
func (f FS) realHome() (string, error) {
	hw, err := f.For(&User{UID: f.User.UID, GID: f.User.GID}).walkDir(f.User.Home, nil)
	if err != nil {
		return "", err
	}
	defer hw.close()
	return hw.top().path, nil
}

// checkHome makes sure a change for a User with a Home lands inside that
// home. (Links of the User to root's directories inside the home are
// refused by checkTaint.)
func (w *walk) checkHome() error {
	if w.home == "" {
		return nil
	}
	for _, d := range w.stack {
		if d.path == w.home {
			return nil
		}
	}
	return w.unsafe(w.top().path, "is outside the home %s of uid %d", w.home, w.fs.User.UID)
}
