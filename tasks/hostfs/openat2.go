package hostfs

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// noOpenat2 is set once openat2(2) turned out to be missing (kernels
// before 5.6, or a seccomp filter); securejoin's walk is used from then on.
var noOpenat2 atomic.Bool

// errNoOpenat2 says to take the fallback.
var errNoOpenat2 = errors.New("openat2 is not available")

// openat2InRoot opens p (clean, absolute) inside root with openat2(2) and
// RESOLVE_IN_ROOT: the kernel resolves every link and ".." as if root were
// "/", and refuses /proc's magic links. One system call instead of a walk:
// the no-op run reads dozens of files.
func openat2InRoot(root, p string, flags int) (*os.File, error) {
	if noOpenat2.Load() {
		return nil, errNoOpenat2
	}
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(dir)
	return openat2At(dir, p, flags)
}

// openat2At is openat2InRoot with the root already open as dir.
func openat2At(dir int, p string, flags int) (*os.File, error) {
	rel := strings.TrimPrefix(p, "/")
	if rel == "" {
		rel = "."
	}
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	for try := 0; ; try++ {
		fd, err := unix.Openat2(dir, rel, how)
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), p), nil
		case errors.Is(err, unix.EAGAIN) && try < 16:
			// A rename raced with "..": the kernel asks to try again.
			continue
		case errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) && try == 0 && !probeOpenat2():
			noOpenat2.Store(true)
			return nil, errNoOpenat2
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
}

// probeOpenat2 tells a seccomp filter's EPERM from a real one.
func probeOpenat2() bool {
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC})
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// reopen opens the regular file or directory that the O_PATH handle h on
// p refers to for real I/O. Anything else (a FIFO, a device) is never
// opened. The handle itself is reopened (through procfs, as runc does),
// never p again: p may have been swapped for a link to a FIFO or a device
// since h was taken, and opening that by name would open it, even if it
// were closed at once (a watchdog starts when opened).
func (f FS) reopen(p string, h *os.File, flags int) (*os.File, error) {
	fi, err := h.Stat()
	if err != nil {
		return nil, err
	}
	want := fi.Mode().IsRegular()
	if flags&unix.O_DIRECTORY != 0 {
		want = fi.IsDir()
	}
	if !want {
		return nil, &fs.PathError{Op: "open", Path: p, Err: notRegular(Kind(fi))}
	}
	flags |= unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
	r, err := reopenFD(h, flags)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: unwrapErrno(err)}
	}
	if ri, err := r.Stat(); err != nil || !os.SameFile(fi, ri) {
		r.Close()
		return nil, &fs.PathError{Op: "open", Path: p, Err: errors.New("replaced while it was being opened")}
	}
	return r, nil
}

// procRoot is an O_PATH handle on /proc, checked once to be procfs (not
// something mounted in its place), for reopenFD.
var procRoot = sync.OnceValues(func() (int, error) {
	fd, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil || st.Type != unix.PROC_SUPER_MAGIC {
		unix.Close(fd)
		return -1, errors.New("/proc is not procfs")
	}
	return fd, nil
})

// reopenFD opens the very file the O_PATH handle h holds, through its
// /proc/self/fd magic link (one system call; the link names the open
// file, not a path, so nothing swapped in since can be opened instead).
// Without a usable /proc it takes securejoin's Reopen, which checks more
// and costs more.
func reopenFD(h *os.File, flags int) (*os.File, error) {
	proc, err := procRoot()
	if err != nil {
		return pathrs.Reopen(h, flags)
	}
	fd, err := unix.Openat(proc, "self/fd/"+strconv.Itoa(int(h.Fd())), flags, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), h.Name()), nil
}

// ErrNotRegular is matched (errors.Is) by the error of a read refused
// because the file is not a regular file (or, listing, a directory).
var ErrNotRegular = errors.New("not a regular file")

// notRegular says what the file is instead; it is ErrNotRegular.
type notRegular string

func (k notRegular) Error() string        { return "is a " + string(k) }
func (k notRegular) Is(target error) bool { return target == ErrNotRegular }
