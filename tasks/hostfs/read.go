package hostfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// FS is a host's file system seen through Root.
type FS struct {
	// Root is the directory that stands for "/"; "" means "/".
	Root string
	// User is the account changes are made for; nil means root (the
	// agent itself). See the package documentation.
	User *User
	// Sweeper, when set, removes the temp files of killed runs from each
	// directory a change writes in (see Sweeper).
	Sweeper *Sweeper
	// Labels, when set, reads the tree's SELinux policy once for every
	// change through this FS; nil reads it at each new file.
	Labels *Labels
}

// User is an account that may own the directories a change goes through.
type User struct {
	UID, GID int
	// Home, when set, is the host path every change must land in.
	Home string
}

// For returns f making its changes for u.
func (f FS) For(u *User) FS {
	f.User = u
	return f
}

func (f FS) root() string {
	if f.Root == "" {
		return "/"
	}
	return filepath.Clean(f.Root)
}

// clean checks that p is an absolute host path and cleans it lexically.
func clean(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("path %q is not absolute", p)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("path %q contains NUL", p)
	}
	return filepath.Clean(p), nil
}

// Resolve returns the path under Root that the host path p names, with
// every symlink resolved inside Root. The result is a string, so it is only
// as safe as the tree is still when it is used: prefer the other methods.
func (f FS) Resolve(p string) (string, error) {
	p, err := clean(p)
	if err != nil {
		return "", err
	}
	return securejoin.SecureJoin(f.root(), p)
}

// open returns an O_PATH handle on p, following links inside Root.
func (f FS) open(p string) (*os.File, error) {
	p, err := clean(p)
	if err != nil {
		return nil, err
	}
	h, err := openat2InRoot(f.root(), p, unix.O_PATH)
	if errors.Is(err, errNoOpenat2) {
		h, err = pathrs.OpenInRoot(f.root(), p)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: unwrapErrno(err)}
	}
	return h, nil
}

// openNoFollow returns an O_PATH handle on p itself: links on the way are
// followed inside Root, a final link is not.
func (f FS) openNoFollow(p string) (*os.File, error) {
	p, err := clean(p)
	if err != nil {
		return nil, err
	}
	if p == "/" {
		return f.open(p)
	}
	dir, err := f.open(filepath.Dir(p))
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	fd, err := unix.Openat(int(dir.Fd()), filepath.Base(p), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// unwrapErrno keeps the errno of err so that errors.Is works on it.
func unwrapErrno(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// Stat stats p, following links inside Root.
func (f FS) Stat(p string) (fs.FileInfo, error) {
	h, err := f.open(p)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return h.Stat()
}

// Lstat stats p without following a final link.
func (f FS) Lstat(p string) (fs.FileInfo, error) {
	h, err := f.openNoFollow(p)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return h.Stat()
}

// ReadFile reads the regular file p, following links inside Root. Anything
// but a regular file is an error, and is never opened for reading.
func (f FS) ReadFile(p string) ([]byte, error) {
	return f.readBounded(p, MaxReadFile)
}

// readBounded is ReadFile with a bound of max bytes: a larger file is
// ErrTooLarge.
func (f FS) readBounded(p string, max int64) ([]byte, error) {
	h, err := f.open(p)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	r, err := f.reopen(p, h, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readAll(r, p, max)
}

// MaxReadFile bounds every read of a host file (ReadFile,
// ReadFileNoFollow): a larger file is an error (ErrTooLarge), refused
// before it is read into memory when its size shows it.
const MaxReadFile = 64 << 20

// readAll reads r, at most max bytes; more is ErrTooLarge.
func readAll(r *os.File, p string, max int64) ([]byte, error) {
	tooLarge := &fs.PathError{Op: "read", Path: p, Err: fmt.Errorf("%w: larger than %d bytes", ErrTooLarge, max)}
	if fi, err := r.Stat(); err == nil && fi.Size() > max {
		return nil, tooLarge
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, tooLarge
	}
	return data, nil
}

// ReadFileNoFollow reads the regular file p itself, never through a final
// link, and returns its stat from the same handle: what is read is the
// file described (a backup of a user's file must not read the link to
// /etc/shadow the user swapped in after a Lstat).
func (f FS) ReadFileNoFollow(p string) ([]byte, fs.FileInfo, error) {
	h, err := f.openNoFollow(p)
	if err != nil {
		return nil, nil, err
	}
	defer h.Close()
	fi, err := h.Stat()
	if err != nil {
		return nil, nil, err
	}
	r, err := f.reopen(p, h, unix.O_RDONLY)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	data, err := readAll(r, p, MaxReadFile)
	return data, fi, err
}

// ReadDir lists the directory p sorted by name, following links inside
// Root.
func (f FS) ReadDir(p string) ([]fs.DirEntry, error) {
	h, err := f.open(p)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	d, err := f.reopen(p, h, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	ents, err := d.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// Readlink returns the target of the link p.
func (f FS) Readlink(p string) (string, error) {
	h, err := f.openNoFollow(p)
	if err != nil {
		return "", err
	}
	defer h.Close()
	return readlinkFd(int(h.Fd()), p)
}

func readlinkFd(fd int, p string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: p, Err: err}
	}
	return string(buf[:n]), nil
}

// Kind names the type of a file for messages: file, directory, link,
// fifo, socket, device.
func Kind(fi fs.FileInfo) string {
	switch m := fi.Mode(); {
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "link"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
