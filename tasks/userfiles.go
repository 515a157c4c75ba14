package tasks

import (
	"errors"
	"io/fs"

	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/tasks/hostfs"
)

// Bounds on what is read of a user's files.
const (
	MaxUserFile    = 1 << 20 // bytes of one file
	MaxUserDirSize = 4096    // entries of one directory
)

// UserFiles reads host files with the rights of one user, as that user's
// podman or systemd would read them (hostfs.ReadFileAs): every read of a
// file in a user's home, or of anything a user's configuration points
// to, goes through it, so that a link the user planted to a file only root
// may read (~/.config/containers/storage.conf -> /etc/shadow) is refused
// with a *hostfs.UserReadError naming the path, never read as root.
type UserFiles struct {
	sys  *System
	cred hostfs.Cred
	name string
}

// AsUser returns the reader of u's files; u's supplementary groups are
// those /etc/group of the host lists u in.
func (s *System) AsUser(u facts.User) UserFiles {
	c := hostfs.Cred{UID: int(u.UID), GID: int(u.GID)}
	if s.Facts != nil {
		for _, g := range s.Facts.SupplementaryGroups(u.Name) {
			c.Groups = append(c.Groups, int(g))
		}
	}
	return UserFiles{sys: s, cred: c, name: u.Name}
}

// Cred is the identity the reads are made with.
func (r UserFiles) Cred() hostfs.Cred { return r.cred }

// ReadFile reads the regular file p with the user's rights (at most
// MaxUserFile bytes).
func (r UserFiles) ReadFile(p string) ([]byte, error) {
	return r.sys.FS().ReadFileAs(r.cred, p, MaxUserFile)
}

// ReadFileIfExists is ReadFile with exists=false and no error for a
// missing file (one the user may not see is an error, not a missing file).
func (r UserFiles) ReadFileIfExists(p string) ([]byte, bool, error) {
	data, err := r.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	return data, err == nil, err
}

// ReadDir lists the directory p with the user's rights.
func (r UserFiles) ReadDir(p string) ([]fs.DirEntry, error) {
	return r.sys.FS().ReadDirAs(r.cred, p, MaxUserDirSize)
}
