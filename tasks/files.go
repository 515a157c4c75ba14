package tasks

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// FileAttrs are the ownership and permissions of a file to write. A
// negative UID or GID keeps the current owner (or root for a new file); a
// zero Mode keeps the current mode (or 0644 for a new file).
type FileAttrs struct {
	Mode fs.FileMode
	UID  int
	GID  int
}

// KeepOwner is FileAttrs that keep owner, group and mode of an existing
// file.
var KeepOwner = FileAttrs{UID: -1, GID: -1}

// WriteFile replaces the host file p atomically: the data goes to a temp
// file in the same directory, is synced, renamed over p, and the directory
// is synced. Readers see the old or the new file, never a mix. When backup
// is not "", the old content is first kept there (atomically too), as
// shadow keeps /etc/subuid-. Missing parent directories are an error.
func (s *System) WriteFile(p string, data []byte, attrs FileAttrs, backup string) error {
	hp, err := s.Path(p)
	if err != nil {
		return err
	}
	mode, uid, gid := attrs.Mode, attrs.UID, attrs.GID
	if st, err := os.Lstat(hp); err == nil {
		if mode == 0 {
			mode = st.Mode().Perm() | st.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			if uid < 0 {
				uid = int(sys.Uid)
			}
			if gid < 0 {
				gid = int(sys.Gid)
			}
		}
		if backup != "" && st.Mode().IsRegular() {
			old, err := os.ReadFile(hp)
			if err != nil {
				return err
			}
			if err := s.WriteFile(backup, old, FileAttrs{Mode: st.Mode().Perm(), UID: uid, GID: gid}, ""); err != nil {
				return fmt.Errorf("backup %s: %w", backup, err)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if mode == 0 {
		mode = 0o644
	}
	if uid < 0 {
		uid = 0
	}
	if gid < 0 {
		gid = 0
	}
	return writeAtomic(hp, data, mode, uid, gid)
}

func writeAtomic(hp string, data []byte, mode fs.FileMode, uid, gid int) (err error) {
	dir := filepath.Dir(hp)
	f, err := os.CreateTemp(dir, "."+filepath.Base(hp)+".provision-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if err = f.Chown(uid, gid); err != nil {
			return err
		}
	}
	// Chmod after chown: chown clears setuid bits.
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, hp); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so that a rename in it is durable.
// Filesystems that cannot sync a directory (EINVAL) are accepted.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// FileOwner returns the numeric owner and group of a host path.
func FileOwner(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}

// ResolveOwner turns a user name or number into a UID using the host's
// facts; "" gives -1 (keep).
func (s *System) ResolveOwner(name string) (int, error) {
	if name == "" {
		return -1, nil
	}
	u, ok := s.Facts.LookupUser(name)
	if !ok {
		if id, err := strconv.Atoi(name); err == nil && id >= 0 {
			return id, nil
		}
		return 0, fmt.Errorf("no such user %q", name)
	}
	return int(u.UID), nil
}

// ResolveGroup turns a group name or number into a GID using the host's
// facts; "" gives -1 (keep).
func (s *System) ResolveGroup(name string) (int, error) {
	if name == "" {
		return -1, nil
	}
	g, ok := s.Facts.LookupGroup(name)
	if !ok {
		if id, err := strconv.Atoi(name); err == nil && id >= 0 {
			return id, nil
		}
		return 0, fmt.Errorf("no such group %q", name)
	}
	return int(g.GID), nil
}
