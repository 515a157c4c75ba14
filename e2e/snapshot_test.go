//go:build e2e

package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/provision-tool/provision/testhost"
)

// treeEntry is what a snapshot records about one path: everything a write, a
// chmod, a chown, a rename or a touch would change.
type treeEntry struct {
	typ      string // "f", "d", "l", "c" (an overlay whiteout), ...
	mode     fs.FileMode
	uid, gid uint32
	size     int64
	mtime    int64 // nanoseconds
	ctime    int64 // nanoseconds
	ino      uint64
	nlink    uint64
	sha      string // regular files
	link     string // symlinks
}

func (e treeEntry) String() string {
	s := fmt.Sprintf("%s %04o %d:%d size=%d mtime=%d ctime=%d ino=%d", e.typ, e.mode.Perm(), e.uid, e.gid, e.size, e.mtime, e.ctime, e.ino)
	if e.sha != "" {
		s += " sha256=" + e.sha[:16]
	}
	if e.link != "" {
		s += " -> " + e.link
	}
	return s
}

// treeSnap maps a guest path to its entry.
type treeSnap map[string]treeEntry

// takeSnapshot walks dir (a host-side directory showing the guest's tree at
// guestPrefix) and records every path, hashing regular files. skip lists
// guest paths (and their subtrees) left out; the directories above them are
// walked but their own metadata is not recorded, since it changes with
// theirs.
func takeSnapshot(t testing.TB, dir, guestPrefix string, skip ...string) treeSnap {
	t.Helper()
	snap := treeSnap{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		guest := filepath.Join(guestPrefix, rel)
		for _, s := range skip {
			if guest == s || strings.HasPrefix(guest, s+"/") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if d.IsDir() && slices.ContainsFunc(skip, func(s string) bool { return strings.HasPrefix(s, guest+"/") || guest == "/" }) {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := treeEntry{mode: fi.Mode(), uid: st.Uid, gid: st.Gid, size: fi.Size(),
			mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), ino: st.Ino, nlink: uint64(st.Nlink)}
		switch {
		case fi.Mode().IsRegular():
			e.typ = "f"
			if e.sha, err = sha256File(p); err != nil {
				return err
			}
		case fi.IsDir():
			e.typ = "d"
			e.size = 0 // directory sizes on tmpfs follow their entry count
		case fi.Mode()&fs.ModeSymlink != 0:
			e.typ = "l"
			if e.link, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeCharDevice != 0:
			e.typ = fmt.Sprintf("c%d", st.Rdev)
		default:
			e.typ = fi.Mode().Type().String()
		}
		snap[guest] = e
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot of %s: %v", dir, err)
	}
	return snap
}

func sha256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// diff lists the paths that differ between two snapshots, one line each,
// sorted.
func (a treeSnap) diff(b treeSnap) []string {
	var out []string
	for p, ea := range a {
		eb, ok := b[p]
		switch {
		case !ok:
			out = append(out, p+": removed (was "+ea.String()+")")
		case ea != eb:
			out = append(out, p+": "+ea.String()+"  =>  "+eb.String())
		}
	}
	for p, eb := range b {
		if _, ok := a[p]; !ok {
			out = append(out, p+": created ("+eb.String()+")")
		}
	}
	sort.Strings(out)
	return out
}

// etcSnapshot hashes and stats every path under the guest's /etc, read on
// the host side through the guest's root overlay.
func etcSnapshot(t testing.TB, h *testhost.Host) treeSnap {
	t.Helper()
	return takeSnapshot(t, filepath.Join(h.Root(), "etc"), "/etc")
}

// diskNoise are guest paths that change while provision checks a host
// without provision changing them, left out of diskSnapshot:
//
//   - the persistent journal, where journald logs everything, the
//     harness's own SSH logins included;
//   - what dnf and yum write when provision apply runs them (the metadata
//     cache, dnf's logs; provision check writes neither, which
//     TestCheckLeavesRPMHostUntouched proves without this list), and the
//     SQLite shared-memory and write-ahead files rpm -q makes when it opens
//     the rpmdb (provision's own state under /var/lib/provision and
//     everything under /etc stay in);
//   - root's own container storage, whose lock files podman rewrites
//     whenever it starts: Debian's podman enables podman-restart.service
//     for every user manager, and the harness's SSH logins start root's
//     (`podman start --all` at 14:18:34.6 wrote storage.lock, layers.lock
//     and .has-mount-program after a check that ended at 34.1). provision
//     never runs podman as root, and its files are elsewhere.
var diskNoise = []string{
	"/var/log/journal",
	"/var/lib/containers/storage",
	"/var/cache/dnf", "/var/log/dnf.log", "/var/log/dnf.librepo.log", "/var/log/dnf.rpm.log", "/var/log/hawkey.log",
	"/var/cache/libdnf5", "/var/log/dnf5.log", // dnf5's (its repoquery rewrites both)
	"/var/lib/rpm/rpmdb.sqlite-shm", "/var/lib/rpm/rpmdb.sqlite-wal",
}

// diskSnapshot records everything the guest has written to its disk: the
// upper directory of its root overlay (every write, chmod, chown and
// delete of the guest lands there, deletes as whiteouts, so an unchanged
// upper directory is an unchanged root filesystem) and its /home, less
// diskNoise.
func diskSnapshot(t testing.TB, h *testhost.Host) treeSnap {
	t.Helper()
	upper := overlayUpper(t, h.Root())
	snap := takeSnapshot(t, upper, "/", diskNoise...)
	for p, e := range takeSnapshot(t, h.Home(), "/home") {
		snap["home:"+p] = e
	}
	return snap
}

// overlayUpper returns the upperdir of the overlay mounted on root, from
// /proc/self/mountinfo.
func overlayUpper(t testing.TB, root string) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || unescapeMount(fields[4]) != root {
			continue
		}
		for i, f := range fields {
			if f != "-" || i+3 >= len(fields) || fields[i+1] != "overlay" {
				continue
			}
			for _, o := range strings.Split(fields[i+3], ",") {
				if v, ok := strings.CutPrefix(o, "upperdir="); ok {
					return unescapeMount(v)
				}
			}
		}
	}
	t.Fatalf("no overlay with an upperdir mounted on %s", root)
	return ""
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
