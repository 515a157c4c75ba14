package doctor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/users"
)

// lookPath finds an executable in the runner's PATH (tasks.BasePath) under
// the host root, then at the extra absolute paths; "" when absent.
func (e *env) lookPath(name string, extra ...string) string {
	var cands []string
	for _, dir := range filepath.SplitList(tasks.BasePath) {
		cands = append(cands, path.Join(dir, name))
	}
	cands = append(cands, extra...)
	for _, p := range cands {
		fi, err := e.sys.Stat(p)
		if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// podman returns the path of podman on the host, "" when it is missing.
func (e *env) podman() string {
	if !e.podmanOnce {
		e.podmanOnce = true
		e.podmanPath = e.lookPath("podman")
	}
	return e.podmanPath
}

// podmanSetuidRoot reports whether podman is setuid root: run by a user
// it then runs with euid 0, rootful (root's storage and configuration),
// so nothing it prints is that user's view.
func (e *env) podmanSetuidRoot() bool {
	p := e.podman()
	if p == "" {
		return false
	}
	fi, err := e.sys.Stat(p)
	return err == nil && fi.Mode()&fs.ModeSetuid != 0 && e.ownerOf(p, fi) == 0
}

// ownerHook, when set by tests, answers file ownership for host paths
// (so tests as non-root can pretend a file is root's or a user's).
var ownerHook func(hostPath string) (uid int, ok bool)

// ownerOf returns the owner UID of the host path p whose FileInfo is fi.
func (e *env) ownerOf(p string, fi fs.FileInfo) int {
	if ownerHook != nil {
		if uid, ok := ownerHook(e.sys.MustPath(p)); ok {
			return uid
		}
	}
	uid, _ := tasks.FileOwner(fi)
	return uid
}

// fileCaps reads the permitted capability set and effective flag of a
// host file from its security.capability xattr. has is false when the
// file has none (or the filesystem stores no xattrs).
func fileCaps(hostPath string) (permitted uint64, effective, has bool, err error) {
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(hostPath, "security.capability", buf)
	if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
		return 0, false, false, nil
	}
	if err != nil {
		return 0, false, false, err
	}
	return parseVFSCaps(buf[:n])
}

// parseVFSCaps decodes struct vfs_cap_data (linux/capability.h): a
// little-endian magic_etc word (revision in the top byte, bit 0 =
// effective) then {permitted, inheritable} pairs, one for revision 1 and
// two (low and high 32 capabilities) for revisions 2 and 3.
func parseVFSCaps(b []byte) (permitted uint64, effective, has bool, err error) {
	const (
		rev1 = 0x01000000
		rev2 = 0x02000000
		rev3 = 0x03000000
	)
	if len(b) < 4 {
		return 0, false, false, fmt.Errorf("security.capability xattr is %d bytes", len(b))
	}
	magic := binary.LittleEndian.Uint32(b)
	effective = magic&1 != 0
	switch magic & 0xFF000000 {
	case rev1:
		if len(b) < 12 {
			return 0, false, false, fmt.Errorf("security.capability xattr (v1) is %d bytes", len(b))
		}
		permitted = uint64(binary.LittleEndian.Uint32(b[4:]))
	case rev2, rev3:
		if len(b) < 20 {
			return 0, false, false, fmt.Errorf("security.capability xattr (v%d) is %d bytes", magic>>24, len(b))
		}
		permitted = uint64(binary.LittleEndian.Uint32(b[4:])) | uint64(binary.LittleEndian.Uint32(b[12:]))<<32
	default:
		return 0, false, false, fmt.Errorf("security.capability xattr has unknown revision %#x", magic&0xFF000000)
	}
	return permitted, effective, true, nil
}

// Capability numbers from linux/capability.h.
const (
	capSetgid = 6
	capSetuid = 7
)

// mount is one line of /proc/self/mountinfo.
type mount struct {
	point  string
	opts   []string // per-mount options: rw, nosuid, nodev, noexec, ...
	fstype string
	source string
}

func (m mount) has(opt string) bool {
	for _, o := range m.opts {
		if o == opt {
			return true
		}
	}
	return false
}

// readMounts parses the host's /proc/self/mountinfo once.
func (e *env) readMounts() ([]mount, error) {
	if !e.mountsOnce {
		e.mountsOnce = true
		data, err := e.sys.ReadFile("/proc/self/mountinfo")
		if err != nil {
			e.mountsErr = err
		} else {
			e.mounts = parseMountinfo(string(data))
		}
	}
	return e.mounts, e.mountsErr
}

// parseMountinfo parses proc(5) mountinfo lines:
// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER.
func parseMountinfo(data string) []mount {
	var out []mount
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(f) {
			continue
		}
		out = append(out, mount{point: unescapeMount(f[4]), opts: strings.Split(f[5], ","), fstype: f[sep+1], source: unescapeMount(f[sep+2])})
	}
	return out
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountFor returns the mount that holds the absolute path p: the last
// mounted of those with the longest mount point that is a prefix of p.
func mountFor(mounts []mount, p string) (mount, bool) {
	p = path.Clean(p)
	best, found := mount{}, false
	for _, m := range mounts {
		mp := m.point
		if mp == p || mp == "/" || strings.HasPrefix(p, strings.TrimSuffix(mp, "/")+"/") {
			if !found || len(mp) >= len(best.point) {
				best, found = m, true
			}
		}
	}
	return best, found
}

// idFile is /etc/subuid or /etc/subgid, parsed with the strict parser of
// the subid module.
type idFile struct {
	path     string
	exists   bool
	err      error
	ranges   []users.Range
	problems []users.ParseProblem
	mode     fs.FileMode
}

func (e *env) readIDFile(p string) *idFile {
	f := &idFile{path: p}
	data, exists, err := e.sys.ReadFileIfExists(p)
	f.exists, f.err = exists, err
	if err != nil || !exists {
		return f
	}
	if fi, err := e.sys.Stat(p); err == nil {
		f.mode = fi.Mode()
	}
	f.ranges, f.problems = users.Ranges(data)
	return f
}

func (e *env) subuid() *idFile {
	if e.subuidFile == nil {
		e.subuidFile = e.readIDFile("/etc/subuid")
	}
	return e.subuidFile
}

func (e *env) subgid() *idFile {
	if e.subgidFile == nil {
		e.subgidFile = e.readIDFile("/etc/subgid")
	}
	return e.subgidFile
}

// usable reports whether the file can be read for ranges.
func (f *idFile) usable() bool { return f.exists && f.err == nil }

// rangesOf returns the ranges owned by u (by name or numeric UID), sorted
// by start, as podman maps them.
func (e *env) rangesOf(f *idFile, u facts.User) []users.Range {
	all, _ := e.sys.Facts.Users()
	key := users.OwnerKey(all)
	want := key(u.Name)
	var out []users.Range
	for _, r := range f.ranges {
		if key(r.Owner) == want {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// unionSize counts the distinct IDs in rs.
func unionSize(rs []users.Range) int64 {
	s := append([]users.Range(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].Start < s[j].Start })
	var n, end int64
	for _, r := range s {
		start := max(r.Start, end)
		if r.End() > start {
			n += r.End() - start
			end = r.End()
		}
	}
	return n
}

func rangeList(rs []users.Range) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}
