package hostfs

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// tempInfix is in every temp name a change makes: ".NAME.provision-"
// followed by tempRandLen characters of rand.Text's alphabet.
const (
	tempInfix   = ".provision-"
	tempRandLen = 12
)

// tempName is the temp name for name: hidden, recognisable by IsTemp.
func tempName(name string) string { return "." + name + tempInfix + randName() }

// IsTemp reports whether name is a temp file name of provision's own
// (".NAME.provision-XXXXXXXXXXXX"), which only a run of provision makes
// and which a finished change never leaves behind.
func IsTemp(name string) bool {
	i := strings.LastIndex(name, tempInfix)
	if len(name) < 2 || name[0] != '.' || i < 2 || len(name)-i-len(tempInfix) != tempRandLen {
		return false
	}
	for _, c := range name[i+len(tempInfix):] {
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// A Sweeper removes the temp files a killed run left behind, once per run
// in every directory the run changes a file in, before the change. It
// removes only names IsTemp recognises, only files and links (unlinkat,
// which never follows a link), and only those last changed before the
// run began, so a concurrent writer's live temp file is left alone. Use
// one per run, with the run's lock held.
type Sweeper struct {
	mu    sync.Mutex
	since time.Time
	done  map[string]bool // host paths of directories swept
	// Removed counts the files removed, for tests and logs.
	Removed int
}

// NewSweeper returns a Sweeper for a run that began at since.
func NewSweeper(since time.Time) *Sweeper {
	return &Sweeper{since: since, done: map[string]bool{}}
}

// Sweep removes leftover temp files from the directory p now (a missing
// directory is not an error). Changes through an FS with a Sweeper sweep
// their directory by themselves.
func (f FS) Sweep(p string) error {
	if f.Sweeper == nil {
		return nil
	}
	w, err := f.walkDir(p, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer w.close()
	return w.sweep()
}

// sweep sweeps the directory the walk holds, once per run.
func (w *walk) sweep() error {
	s := w.fs.Sweeper
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := w.top().path
	if s.done[dir] {
		return nil
	}
	s.done[dir] = true
	fd, err := unix.Openat(w.fd(), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "sweep", Path: dir, Err: err}
	}
	d := os.NewFile(uintptr(fd), dir)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return &fs.PathError{Op: "sweep", Path: dir, Err: err}
	}
	for _, name := range names {
		if IsTemp(name) && s.stale(fd, name) && unix.Unlinkat(fd, name, 0) == nil {
			s.Removed++
		}
	}
	return nil
}

// stale reports whether name is a file or link last changed before the
// run began.
func (s *Sweeper) stale(dirfd int, name string) bool {
	var st unix.Stat_t
	if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return false
	}
	if k := st.Mode & unix.S_IFMT; k != unix.S_IFREG && k != unix.S_IFLNK {
		return false
	}
	return time.Unix(st.Ctim.Unix()).Before(s.since)
}
