package facts

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
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
}

type cachedFile struct {
	size  int64
	mtime time.Time
	ino   uint64
	ctime syscall.Timespec
	valid bool
}

func (c *cachedFile) fresh(path string) (bool, error) {
	st, err := os.Stat(path)
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
	a := &f.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	p := f.path("/etc/passwd")
	ok, err := a.passwd.fresh(p)
	if err != nil {
		return nil, err
	}
	if !ok {
		a.users, err = readPasswd(p)
		if err != nil {
			a.passwd.valid = false
			return nil, err
		}
	}
	return a.users, nil
}

// Groups returns the local groups from /etc/group.
func (f *Facts) Groups() ([]Group, error) {
	a := &f.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	p := f.path("/etc/group")
	ok, err := a.group.fresh(p)
	if err != nil {
		return nil, err
	}
	if !ok {
		a.groups, err = readGroup(p)
		if err != nil {
			a.group.valid = false
			return nil, err
		}
	}
	return a.groups, nil
}

// LookupUser finds a user by name, or by numeric UID when name is a number.
func (f *Facts) LookupUser(name string) (User, bool) {
	users, _ := f.Users()
	uid, numErr := strconv.ParseInt(name, 10, 64)
	for _, u := range users {
		if u.Name == name || numErr == nil && u.UID == uid {
			return u, true
		}
	}
	return User{}, false
}

// LookupGroup finds a group by name, or by numeric GID when name is a number.
func (f *Facts) LookupGroup(name string) (Group, bool) {
	groups, _ := f.Groups()
	gid, numErr := strconv.ParseInt(name, 10, 64)
	for _, g := range groups {
		if g.Name == name || numErr == nil && g.GID == gid {
			return g, true
		}
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

func readPasswd(path string) ([]User, error) {
	data, err := os.ReadFile(path)
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

func readGroup(path string) ([]Group, error) {
	data, err := os.ReadFile(path)
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
