// Package files provides the file, copy and template modules. They share one
// planner: Check compares the host path with the wanted type, content, mode,
// owner and group and returns one Change per difference; Apply carries out
// the single operation Check recorded in Plan.Data (an atomic write, a mkdir,
// a chmod/chown, a removal or an atomic symlink swap).
//
// None of the modules follows a symlink at the managed path: a link there is
// replaced (copy, template, file with content), refused (state directory) or
// managed as the link itself (state link, absent). Following links would let
// a path in an image root escape that root.
package files

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"unicode/utf8"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/hostfs"
)

// Default modes for what the modules create when no mode is given. They do
// not depend on the agent's umask, so runs are reproducible.
const (
	defaultFileMode = 0o644
	defaultDirMode  = 0o755
)

// attrs is the wanted mode, owner and group of a path. A nil Mode and a
// negative UID or GID leave that attribute alone.
type attrs struct {
	Mode     *uint32
	UID, GID int
	Owner    string // as written in the task, for the plan
	Group    string
	// UnknownOwner and UnknownGroup mark a name the host does not know
	// yet: an earlier task may create the account, so Check plans the
	// change with a warning and Apply resolves the name again.
	UnknownOwner, UnknownGroup bool
}

// resolveAttrs parses mode and resolves owner and group against the host's
// accounts. A number that is not in /etc/passwd (or /etc/group) is used as
// is, like chown does.
func resolveAttrs(sys *tasks.System, mode, owner, group string) (attrs, error) {
	a := attrs{UID: -1, GID: -1, Owner: owner, Group: group}
	if mode != "" {
		m, err := tasks.ParseMode(mode)
		if err != nil {
			return a, err
		}
		a.Mode = &m
	}
	var err error
	a.UID, a.UnknownOwner, err = resolveID(sys.ResolveOwner, owner)
	if err != nil {
		return a, tasks.BadArg("owner", err.Error())
	}
	a.GID, a.UnknownGroup, err = resolveID(sys.ResolveGroup, group)
	if err != nil {
		return a, tasks.BadArg("group", err.Error())
	}
	return a, nil
}

// resolveID resolves a user or group name or number; "" gives -1. A name
// the host does not know gives unknown=true.
func resolveID(resolve func(string) (int, error), name string) (id int, unknown bool, err error) {
	if name == "" {
		return -1, false, nil
	}
	if id, err := resolve(name); err == nil {
		return id, false, nil
	}
	if n, err := strconv.Atoi(name); err == nil {
		if n < 0 {
			return 0, false, fmt.Errorf("negative id %d", n)
		}
		return n, false, nil
	}
	return -1, true, nil
}

// validateAttrs checks mode, owner and group without touching the host.
func validateAttrs(mode, owner, group string) error {
	if _, err := tasks.ParseMode(mode); err != nil {
		return err
	}
	if len(owner) > 0 && owner[0] == '-' {
		return tasks.BadArg("owner", "must not start with '-'")
	}
	if len(group) > 0 && group[0] == '-' {
		return tasks.BadArg("group", "must not start with '-'")
	}
	return nil
}

// validatePath checks that an argument is an absolute path.
func validatePath(arg, p string, required bool) error {
	if p == "" {
		if required {
			return tasks.BadArg(arg, "is required")
		}
		return nil
	}
	if !filepath.IsAbs(p) {
		return tasks.BadArg(arg, "must be an absolute path: "+p)
	}
	return nil
}

// op is what Apply does, decided by Check and carried in Plan.Data.
type op struct {
	Kind    opKind
	Path    string
	Content []byte
	Mode    *uint32 // nil: keep (or the default for a new path)
	UID     int     // -1: keep
	GID     int     // -1: keep
	Backup  string  // for opWrite: where to keep the old content
	Target  string  // for opLink
	// OwnerName and GroupName are names Check could not resolve; Apply
	// resolves them into UID and GID.
	OwnerName, GroupName string
	// ForUID and ForGID are the owner and group the task asks for, changed
	// or not (-1 or 0: none): the change is made for that user.
	ForUID, ForGID int
}

type opKind int

const (
	opWrite     opKind = iota + 1 // write a regular file atomically
	opAttrs                       // chown/chmod an existing path
	opMkdir                       // create a directory and its parents
	opRemove                      // remove a file, link or empty directory
	opRemoveAll                   // remove a directory tree
	opLink                        // create or replace a symlink atomically
)

// unixMode returns the permission bits of fi with setuid, setgid and sticky
// as in chmod(1).
func unixMode(fi fs.FileInfo) uint32 {
	m := fi.Mode()
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// fileMode converts chmod(1) bits to an fs.FileMode for os.Chmod.
func fileMode(u uint32) fs.FileMode {
	m := fs.FileMode(u & 0o777)
	if u&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if u&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if u&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

func fmtMode(u uint32) string { return fmt.Sprintf("%04o", u) }

// userName renders a UID for the plan: the user's name when the host knows
// it, else the number.
func userName(sys *tasks.System, uid int) string {
	s := strconv.Itoa(uid)
	if u, ok := sys.Facts.LookupUser(s); ok {
		return u.Name
	}
	return s
}

// groupName renders a GID for the plan like userName.
func groupName(sys *tasks.System, gid int) string {
	s := strconv.Itoa(gid)
	if g, ok := sys.Facts.LookupGroup(s); ok {
		return g.Name
	}
	return s
}

// planAttrs adds mode, owner and group changes to p and records them in o.
// fi is the existing path, or nil when it will be created, in which case
// every requested attribute is a change from "".
func planAttrs(sys *tasks.System, p *tasks.Plan, o *op, fi fs.FileInfo, a attrs) {
	o.ForUID, o.ForGID = a.UID, a.GID
	if a.Mode != nil {
		switch {
		case fi == nil:
			p.Add("mode", "", fmtMode(*a.Mode))
			o.Mode = a.Mode
		case unixMode(fi) != *a.Mode:
			p.Add("mode", fmtMode(unixMode(fi)), fmtMode(*a.Mode))
			o.Mode = a.Mode
		}
	}
	uid, gid := -1, -1
	if fi != nil {
		uid, gid = tasks.FileOwner(fi)
	}
	if a.UnknownOwner || a.UID >= 0 && (fi == nil || uid != a.UID) {
		before := ""
		if fi != nil {
			before = userName(sys, uid)
		}
		p.Add("owner", before, a.Owner)
		o.UID = a.UID
		if a.UnknownOwner {
			o.OwnerName = a.Owner
			p.Warn(fmt.Sprintf("no such user %q (applying fails unless an earlier task creates it)", a.Owner))
		}
	}
	if a.UnknownGroup || a.GID >= 0 && (fi == nil || gid != a.GID) {
		before := ""
		if fi != nil {
			before = groupName(sys, gid)
		}
		p.Add("group", before, a.Group)
		o.GID = a.GID
		if a.UnknownGroup {
			o.GroupName = a.Group
			p.Warn(fmt.Sprintf("no such group %q (applying fails unless an earlier task creates it)", a.Group))
		}
	}
}

// checkParent makes sure the directory a new path goes into exists: like
// Ansible, the file-writing modules do not create missing parents.
func checkParent(sys *tasks.System, p string) error {
	parent := filepath.Dir(filepath.Clean(p))
	fi, err := sys.Stat(parent)
	if missing(err) {
		return fmt.Errorf("parent directory %s does not exist", parent)
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("parent %s is not a directory", parent)
	}
	return nil
}

// warnParent warns in the plan when the directory a new path goes into
// does not exist. It is a warning, not an error, so that check mode can
// show a file an earlier task's (only planned) directory would hold; Apply
// then fails with checkParent's error unless that directory exists by then.
func warnParent(sys *tasks.System, p *tasks.Plan, path string) {
	if err := checkParent(sys, path); err != nil {
		p.Warn(err.Error() + " (applying fails unless an earlier task creates it)")
	}
}

// regularFile describes a regular file the modules want at Path. A nil
// Content means "keep whatever is there" (the file module without content),
// which requires the file to exist.
type regularFile struct {
	Path    string
	Content []byte
	Attrs   attrs
	Backup  bool
}

// planRegular is the shared Check of file (state file), copy and template.
func planRegular(sys *tasks.System, w regularFile) (tasks.Plan, error) {
	var p tasks.Plan
	o := &op{Kind: opWrite, Path: w.Path, Content: w.Content, UID: -1, GID: -1}
	fi, err := sys.Lstat(w.Path)
	switch {
	case missing(err):
		if w.Content == nil {
			return p, fmt.Errorf("%s does not exist (give content, or use state: directory)", w.Path)
		}
		warnParent(sys, &p, w.Path)
		p.Add("state", "absent", "file")
		p.Changes = append(p.Changes, contentChange(w.Path, nil, w.Content))
		planAttrs(sys, &p, o, nil, w.Attrs)
	case err != nil:
		return p, err
	case fi.IsDir():
		return p, fmt.Errorf("%s is a directory", w.Path)
	case !fi.Mode().IsRegular():
		if w.Content == nil {
			return p, fmt.Errorf("%s is a %s, not a regular file", w.Path, hostfs.Kind(fi))
		}
		// A link or special file is replaced by the new file. Its own
		// mode and owner mean nothing for the file, so plan as for a new one.
		p.Add("state", hostfs.Kind(fi), "file")
		p.Changes = append(p.Changes, contentChange(w.Path, nil, w.Content))
		planAttrs(sys, &p, o, nil, w.Attrs)
	default:
		rewrite := false
		if w.Content != nil {
			// The file Lstat saw, never a link swapped in since (its
			// target's content would be shown in the diff).
			old, now, err := sys.FS().ReadFileNoFollow(w.Path)
			if err != nil {
				return p, err
			}
			if !os.SameFile(fi, now) {
				return p, fmt.Errorf("%s changed while it was being read", w.Path)
			}
			if !bytes.Equal(old, w.Content) {
				rewrite = true
				p.Changes = append(p.Changes, contentChange(w.Path, old, w.Content))
				if w.Backup {
					o.Backup = w.Path + "~"
				}
			}
		}
		planAttrs(sys, &p, o, fi, w.Attrs)
		if p.Empty() {
			return p, nil
		}
		if !rewrite {
			// Only attributes differ: chown/chmod in place.
			o.Kind, o.Content = opAttrs, nil
		}
	}
	if o.Kind == opWrite && o.Mode == nil && (fi == nil || !fi.Mode().IsRegular()) {
		m := uint32(defaultFileMode)
		o.Mode = &m
	}
	p.Data = o
	return p, nil
}

// contentChange renders a content difference. Text goes in full with Path
// set, so --diff shows a unified diff; when either side is binary (not
// UTF-8, or containing NUL) both sides are summarized instead.
func contentChange(path string, before, after []byte) tasks.Change {
	if isBinary(before) || isBinary(after) {
		return tasks.Change{Field: "content", Before: summarize(before), After: summarize(after)}
	}
	return tasks.Change{Field: "content", Path: path, Before: string(before), After: string(after)}
}

func isBinary(b []byte) bool {
	return !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0
}

// summarize describes content by size and hash; nil (absent) gives "".
func summarize(b []byte) string {
	if b == nil {
		return ""
	}
	sum := sha256.Sum256(b)
	what := "text"
	if isBinary(b) {
		what = "binary"
	}
	return fmt.Sprintf("(%s, %d bytes, sha256 %s)", what, len(b), hex.EncodeToString(sum[:]))
}

// apply carries out the operation Check recorded in the plan.
func apply(sys *tasks.System, p tasks.Plan) error {
	if p.Empty() {
		return nil
	}
	o, ok := p.Data.(*op)
	if !ok || o == nil {
		return errors.New("plan has no file operation (was it made by Check?)")
	}
	if o.Kind == opWrite || o.Kind == opLink {
		if err := checkParent(sys, o.Path); err != nil {
			return err
		}
	}
	if o.OwnerName != "" {
		uid, err := sys.ResolveOwner(o.OwnerName)
		if err != nil {
			return err
		}
		o.UID = uid
	}
	if o.GroupName != "" {
		gid, err := sys.ResolveGroup(o.GroupName)
		if err != nil {
			return err
		}
		o.GID = gid
	}
	fsys := sys.FS().For(owner(o))
	switch o.Kind {
	case opWrite:
		fa := tasks.FileAttrs{UID: o.UID, GID: o.GID, ReplaceLink: true, For: owner(o)}
		if o.Mode != nil {
			fa.Mode = fileMode(*o.Mode)
		}
		if err := sys.WriteFile(o.Path, o.Content, fa, o.Backup); err != nil {
			return err
		}
		if o.Mode != nil && *o.Mode == 0 {
			// WriteFile reads a zero mode as "keep": set 0000 ourselves.
			var zero fs.FileMode
			return fsys.Chown(o.Path, -1, -1, &zero)
		}
		return nil
	case opAttrs:
		return setAttrs(fsys, o)
	case opMkdir:
		if err := fsys.MkdirAll(o.Path, defaultDirMode, -1, -1); err != nil {
			return err
		}
		m := uint32(defaultDirMode)
		if o.Mode == nil {
			o.Mode = &m
		}
		return setAttrs(fsys, o)
	case opRemove:
		return fsys.Remove(o.Path)
	case opRemoveAll:
		return fsys.RemoveAll(o.Path)
	case opLink:
		return fsys.Symlink(o.Target, o.Path, o.UID, o.GID)
	}
	return fmt.Errorf("unknown file operation %d", o.Kind)
}

// owner is the user a change is made for: the user the task gives the
// path to, whose own directories it may then go through; nil is root.
func owner(o *op) *hostfs.User {
	uid, gid := o.ForUID, o.ForGID
	if o.UID > 0 {
		uid, gid = o.UID, o.GID
	}
	if uid <= 0 {
		return nil
	}
	return &hostfs.User{UID: uid, GID: gid}
}

// refusal returns a filter for a Check's result that fails the plan now,
// rather than at Apply, when its change would be refused for going
// through someone else's directory or link (hostfs.UnsafeError).
func refusal(sys *tasks.System) func(tasks.Plan, error) (tasks.Plan, error) {
	return func(p tasks.Plan, err error) (tasks.Plan, error) {
		o, ok := p.Data.(*op)
		if err != nil || !ok || o == nil {
			return p, err
		}
		if err := sys.FS().For(owner(o)).CheckChange(o.Path); err != nil {
			return tasks.Plan{}, err
		}
		return p, nil
	}
}

// setAttrs chowns and then chmods o.Path on one open file, never through a
// link (chown clears setuid bits, so chmod comes last). When no mode is
// wanted, setuid and setgid bits that chown cleared are put back: a chown
// alone must not change the mode.
func setAttrs(fsys hostfs.FS, o *op) error {
	var mode *fs.FileMode
	if o.Mode != nil {
		m := fileMode(*o.Mode)
		mode = &m
	} else if o.UID >= 0 || o.GID >= 0 {
		if fi, err := fsys.Lstat(o.Path); err == nil && fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			m := fileMode(unixMode(fi))
			mode = &m
		}
	}
	return fsys.Chown(o.Path, o.UID, o.GID, mode)
}

// missing reports whether err says a path does not exist, including the
// ENOTDIR of a path whose parent is a file.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
