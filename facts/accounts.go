package facts

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/provision-tool/provision/tasks/hostfs"
)

// User is one /etc/passwd entry.
type User struct {
	Name  string `json:"name"`
	UID   int64  `json:"uid"`
	GID   int64  `json:"gid"`
	Home  string `json:"home"`
	Shell string `json:"shell"`
}

// Group is one /etc/group entry.
type Group struct {
	Name    string   `json:"name"`
	GID     int64    `json:"gid"`
	Members []string `json:"members"`
}

// accounts caches /etc/passwd and /etc/group, re-reading a file when its
// size or mtime changes, since tasks such as user change them mid-run.
type accounts struct {
	mu     sync.Mutex
	passwd cachedFile
	group  cachedFile
	users  []User
	groups []Group
	// Indexes of users and groups by name and by id (the first entry
	// wins, as getpwnam does), built once per read of the file.
	userIdx  map[string]int
	uidIdx   map[int64]int
	groupIdx map[string]int
	gidIdx   map[int64]int
}

type cachedFile struct {
	size  int64
	mtime time.Time
	ino   uint64
	ctime syscall.Timespec
	valid bool
}

func (c *cachedFile) fresh(fsys hostfs.FS, path string) (bool, error) {
	st, err := fsys.Stat(path)
	if os.IsNotExist(err) {
		ok := c.valid && c.size == -1
		*c = cachedFile{size: -1, valid: true}
		return ok, nil
	}
	if err != nil {
		return false, err
	}
	// Atomic writers (useradd, provision) replace the file, so the inode
	// changes even when size and mtime do not.
	var ino uint64
	var ctime syscall.Timespec
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		ino, ctime = sys.Ino, sys.Ctim
	}
	ok := c.valid && c.size == st.Size() && c.mtime.Equal(st.ModTime()) && c.ino == ino && c.ctime == ctime
	*c = cachedFile{size: st.Size(), mtime: st.ModTime(), ino: ino, ctime: ctime, valid: true}
	return ok, nil
}

// Users returns the local users from /etc/passwd.
func (f *Facts) Users() ([]User, error) {
	f.acct.mu.Lock()
	defer f.acct.mu.Unlock()
	return f.usersLocked()
}

func (f *Facts) usersLocked() ([]User, error) {
	a := &f.acct
	p := "/etc/passwd"
	ok, err := a.passwd.fresh(f.fsys(), p)
	if err != nil {
		return nil, err
	}
	if !ok {
		a.users, err = readPasswd(f.fsys(), p)
		if err != nil {
			a.passwd.valid = false
			return nil, err
		}
		a.userIdx, a.uidIdx = index(a.users, func(u User) (string, int64) { return u.Name, u.UID })
	}
	return a.users, nil
}

// Groups returns the local groups from /etc/group.
func (f *Facts) Groups() ([]Group, error) {
	f.acct.mu.Lock()
	defer f.acct.mu.Unlock()
	return f.groupsLocked()
}

func (f *Facts) groupsLocked() ([]Group, error) {
	a := &f.acct
	p := "/etc/group"
	ok, err := a.group.fresh(f.fsys(), p)
	if err != nil {
		return nil, err
	}
	if !ok {
		a.groups, err = readGroup(f.fsys(), p)
		if err != nil {
			a.group.valid = false
			return nil, err
		}
		a.groupIdx, a.gidIdx = index(a.groups, func(g Group) (string, int64) { return g.Name, g.GID })
	}
	return a.groups, nil
}

// index maps each name and id in list to the position of its first entry.
func index[T any](list []T, key func(T) (string, int64)) (map[string]int, map[int64]int) {
	byName, byID := make(map[string]int, len(list)), make(map[int64]int, len(list))
	for i, e := range list {
		name, id := key(e)
		if _, dup := byName[name]; !dup {
			byName[name] = i
		}
		if _, dup := byID[id]; !dup {
			byID[id] = i
		}
	}
	return byName, byID
}

// lookup finds name in an index, then, when it is a number, the id.
func lookup(name string, byName map[string]int, byID map[int64]int) (int, bool) {
	if i, ok := byName[name]; ok {
		return i, true
	}
	if id, err := strconv.ParseInt(name, 10, 64); err == nil {
		i, ok := byID[id]
		return i, ok
	}
	return 0, false
}

// LookupUser finds a user by name, or by numeric UID when name is a number.
// It uses an index built once per read of /etc/passwd.
func (f *Facts) LookupUser(name string) (User, bool) {
	a := &f.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	users, _ := f.usersLocked()
	if i, ok := lookup(name, a.userIdx, a.uidIdx); ok && i < len(users) {
		return users[i], true
	}
	return User{}, false
}

// LookupGroup finds a group by name, or by numeric GID when name is a number.
// It uses an index built once per read of /etc/group.
func (f *Facts) LookupGroup(name string) (Group, bool) {
	a := &f.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	groups, _ := f.groupsLocked()
	if i, ok := lookup(name, a.groupIdx, a.gidIdx); ok && i < len(groups) {
		return groups[i], true
	}
	return Group{}, false
}

// SupplementaryGroups returns the GIDs of the groups that list user as a
// member.
func (f *Facts) SupplementaryGroups(user string) []int64 {
	groups, _ := f.Groups()
	var out []int64
	for _, g := range groups {
		for _, m := range g.Members {
			if m == user {
				out = append(out, g.GID)
			}
		}
	}
	return out
}

func readPasswd(fsys hostfs.FS, path string) ([]User, error) {
	data, err := fsys.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []User
	for i, line := range strings.Split(string(data), "\n") {
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 7 {
			return nil, fmt.Errorf("%s:%d: want 7 fields, have %d", path, i+1, len(f))
		}
		uid, err1 := strconv.ParseInt(f[2], 10, 64)
		gid, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s:%d: bad uid or gid", path, i+1)
		}
		out = append(out, User{Name: f[0], UID: uid, GID: gid, Home: f[5], Shell: f[6]})
	}
	return out, nil
}

func readGroup(fsys hostfs.FS, path string) ([]Group, error) {
	data, err := fsys.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Group
	for i, line := range strings.Split(string(data), "\n") {
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 4 {
			return nil, fmt.Errorf("%s:%d: want 4 fields, have %d", path, i+1, len(f))
		}
		gid, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: bad gid", path, i+1)
		}
		var members []string
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		out = append(out, Group{Name: f[0], GID: gid, Members: members})
	}
	return out, nil
}
