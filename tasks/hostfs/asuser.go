package hostfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Cred is an account whose rights a read is made with: what podman or
// systemd running as that user could read, provision reads; nothing more.
type Cred struct {
	UID, GID int
	// Groups are the supplementary groups (the primary one may be among
	// them). Fewer groups than the user really has only refuse more.
	Groups []int
}

// UserReadError is a read refused because the user it was made for could
// not read the file (a link in a home to /etc/shadow, a directory the user
// cannot search), or because provision could not take the user's rights.
type UserReadError struct {
	Path string
	UID  int
	Err  error
}

func (e *UserReadError) Error() string {
	return fmt.Sprintf("%s: refused: uid %d cannot read it (%v); a user's files are read with the user's rights", e.Path, e.UID, e.Err)
}

func (e *UserReadError) Unwrap() error { return e.Err }

// ErrTooLarge is matched by the error of a bounded read of a larger file.
var ErrTooLarge = errors.New("file too large")

// ReadFileAs reads the regular file p, following links inside Root, with
// the rights of c: the file system uid, gid and groups of one locked OS
// thread are c's while the file is opened, so that the kernel checks every
// directory searched, every link followed and the file itself against c
// (mode bits, ACLs, protected_symlinks), as it would for the user's own
// podman. A file larger than max bytes is an error (ErrTooLarge). Anything
// c could not read is a *UserReadError naming p; a missing file matches
// fs.ErrNotExist.
func (f FS) ReadFileAs(c Cred, p string, max int64) ([]byte, error) {
	r, err := f.openAs(c, p, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readAll(r, p, max)
}

// ReadDirAs lists the directory p, sorted by name, with the rights of c
// (see ReadFileAs), returning at most max entries (more is an error).
func (f FS) ReadDirAs(c Cred, p string, max int) ([]fs.DirEntry, error) {
	d, err := f.openAs(c, p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	ents, err := d.ReadDir(max + 1)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	if len(ents) > max {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: fmt.Errorf("more than %d entries", max)}
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, nil
}

// openAs opens p for reading with c's rights. The root itself is opened
// with the agent's own (it may sit in a directory the user cannot search,
// which the user's podman never sees); everything under it with c's.
func (f FS) openAs(c Cred, p string, flags int) (*os.File, error) {
	p, err := clean(p)
	if err != nil {
		return nil, err
	}
	if c.UID == 0 || c.UID == os.Geteuid() || os.Geteuid() != 0 {
		// Root's own files, the user's own run, or a run without root:
		// the agent's rights are no more than the user running it has.
		h, err := f.open(p)
		if err != nil {
			return nil, err
		}
		defer h.Close()
		return f.reopen(p, h, flags)
	}
	if _, err := procRoot(); err != nil {
		return nil, &UserReadError{Path: p, UID: c.UID, Err: err}
	}
	root, err := unix.Open(f.root(), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: f.root(), Err: err}
	}
	defer unix.Close(root)
	var r *os.File
	err = withCred(c, func() error {
		h, err := openat2At(root, p, unix.O_PATH)
		if err != nil {
			return err
		}
		defer h.Close()
		r, err = f.reopen(p, h, flags)
		return err
	})
	switch {
	case err == nil:
		return r, nil
	case errors.Is(err, errNoOpenat2):
		return nil, &UserReadError{Path: p, UID: c.UID, Err: errors.New("reading with a user's rights needs openat2 (Linux 5.6 or later)")}
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrNotRegular):
		return nil, err
	}
	return nil, &UserReadError{Path: p, UID: c.UID, Err: unwrapErrno(err)}
}

// withCred runs fn on a fresh goroutine locked to its OS thread, with
// that thread's file system uid, gid and groups set to c's. Linux keeps
// these per thread (the raw system calls, unlike glibc's or Go's syscall
// package's setuid, do not change the other threads), the Go runtime
// starts no new thread from a locked one, and only fn runs on it. Once
// fn returns the root's credentials are put back; if that fails, the
// goroutine exits still locked and the runtime ends the thread, so no
// other code ever runs with c's rights.
func withCred(c Cred, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		old, err := saveCred()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		err = setCred(c)
		if err == nil {
			err = fn()
		}
		if restoreCred(old) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// savedCred is the thread's own file system credentials.
type savedCred struct {
	fsuid, fsgid int
	groups       []uint32
}

func saveCred() (savedCred, error) {
	groups, err := getgroups()
	if err != nil {
		return savedCred{}, err
	}
	return savedCred{fsuid: getfsid(unix.SYS_SETFSUID), fsgid: getfsid(unix.SYS_SETFSGID), groups: groups}, nil
}

// setCred sets the calling thread's groups, fsgid and fsuid, in that
// order (setgroups needs CAP_SETGID, which a non-zero fsuid does not
// drop), and checks each took.
func setCred(c Cred) error {
	gids := make([]uint32, 0, len(c.Groups)+1)
	for _, g := range append([]int{c.GID}, c.Groups...) {
		if !slices.Contains(gids, uint32(g)) {
			gids = append(gids, uint32(g))
		}
	}
	if err := setgroups(gids); err != nil {
		return err
	}
	if err := setfsid(unix.SYS_SETFSGID, c.GID); err != nil {
		return err
	}
	return setfsid(unix.SYS_SETFSUID, c.UID)
}

// restoreCred puts the thread's credentials back: fsuid first, which
// gives back the capabilities a non-zero fsuid dropped.
func restoreCred(s savedCred) error {
	if err := setfsid(unix.SYS_SETFSUID, s.fsuid); err != nil {
		return err
	}
	if err := setgroups(s.groups); err != nil {
		return err
	}
	return setfsid(unix.SYS_SETFSGID, s.fsgid)
}

// getfsid asks setfsuid or setfsgid for the current id: with an invalid
// id they change nothing and return the current one.
func getfsid(trap uintptr) int {
	now, _, _ := unix.RawSyscall(trap, uintptr(^uint32(0)), 0, 0)
	return int(uint32(now))
}

// setfsid calls setfsuid or setfsgid, which return no error, and checks
// the new id took.
func setfsid(trap uintptr, id int) error {
	unix.RawSyscall(trap, uintptr(id), 0, 0)
	if now := getfsid(trap); now != id {
		return fmt.Errorf("cannot set the file system id to %d (it is %d)", id, now)
	}
	return nil
}

func setgroups(gids []uint32) error {
	var p unsafe.Pointer
	if len(gids) > 0 {
		p = unsafe.Pointer(&gids[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), uintptr(p), 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	return nil
}

func getgroups() ([]uint32, error) {
	n, _, e := unix.RawSyscall(unix.SYS_GETGROUPS, 0, 0, 0)
	if e != 0 {
		return nil, fmt.Errorf("getgroups: %w", e)
	}
	gids := make([]uint32, n)
	if n > 0 {
		m, _, e := unix.RawSyscall(unix.SYS_GETGROUPS, n, uintptr(unsafe.Pointer(&gids[0])), 0)
		if e != 0 {
			return nil, fmt.Errorf("getgroups: %w", e)
		}
		gids = gids[:m]
	}
	return gids, nil
}
