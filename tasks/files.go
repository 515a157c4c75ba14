package tasks

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"

	"github.com/provision-tool/provision/tasks/hostfs"
)

// FileAttrs are the ownership and permissions of a file to write. A
// negative UID or GID keeps the current owner (or root for a new file); a
// zero Mode keeps the current mode (or 0644 for a new file). Only a regular
// file's attributes are kept, never a link's.
type FileAttrs struct {
	Mode fs.FileMode
	UID  int
	GID  int
	// ReplaceLink replaces a symlink or special file at the path with the
	// new file. Without it a symlink owned by root is written through (a
	// distribution's /etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf) and
	// any other link or special file is refused.
	ReplaceLink bool
	// For is the user the file is written for, whose own directories the
	// write may go through (a home's ~/.config); nil is root.
	For *hostfs.User
}

// KeepOwner is FileAttrs that keep owner, group and mode of an existing
// file.
var KeepOwner = FileAttrs{UID: -1, GID: -1}

// WriteFile replaces the host file p atomically: the data goes to a temp
// file in the same directory, is synced, renamed over p, and the directory
// is synced. Readers see the old or the new file, never a mix. When backup
// is not "", the old content is first kept there (atomically too), as
// shadow keeps /etc/subuid-. Missing parent directories are an error. See
// package hostfs for the rules on links and directories on the way.
func (s *System) WriteFile(p string, data []byte, attrs FileAttrs, backup string) error {
	fsys := s.FS().For(attrs.For)
	if backup != "" {
		if err := s.backup(fsys, p, backup); err != nil {
			return err
		}
	}
	_, err := fsys.WriteFile(p, data, hostfs.Attrs{Mode: attrs.Mode, UID: attrs.UID, GID: attrs.GID, ReplaceLink: attrs.ReplaceLink})
	return err
}

// backup copies the regular file p, with its mode and owner, to backup.
func (s *System) backup(fsys hostfs.FS, p, backup string) error {
	// One handle for the stat and the read, never through a link: the
	// directory may be a user's, who could swap the file for a link to
	// /etc/shadow in between, and the backup gets the file's owner.
	old, st, err := fsys.ReadFileNoFollow(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, hostfs.ErrNotRegular) {
		return nil
	}
	if err != nil {
		return err
	}
	uid, gid := FileOwner(st)
	if _, err := fsys.WriteFile(backup, old, hostfs.Attrs{Mode: st.Mode().Perm(), UID: uid, GID: gid}); err != nil {
		return fmt.Errorf("backup %s: %w", backup, err)
	}
	return nil
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
