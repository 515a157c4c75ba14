package hostfs

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests build a host tree in a temp root next to an "outside"
// directory that stands for the build machine's own files. Every test
// checks at its end that nothing outside changed and that no
// world-writable file appeared in the root.

const alice = 1000

type env struct {
	t       *testing.T
	root    string
	outside string
	fs      FS
}

func newEnv(t *testing.T) *env {
	t.Helper()
	base := t.TempDir()
	e := &env{t: t, root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	e.fs = FS{Root: e.root}
	for _, d := range []string{e.root, e.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.file(e.outside+"/secret", "outside\n", 0o600)
	e.dir(e.outside + "/systemd/system")
	before := tree(t, e.outside)
	t.Cleanup(func() {
		if after := tree(t, e.outside); after != before {
			t.Errorf("the outside changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		noWorldWritable(t, e.root)
	})
	return e
}

// needRoot skips a test that chowns to another user.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown files to another user; CI runs it as root")
	}
}

// h is the real path of a host path in the tree, for setup.
func (e *env) h(p string) string {
	if strings.HasPrefix(p, e.outside) || strings.HasPrefix(p, e.root) {
		return p
	}
	return filepath.Join(e.root, p)
}

func (e *env) dir(p string) {
	e.t.Helper()
	if err := os.MkdirAll(e.h(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) file(p, content string, mode fs.FileMode) {
	e.t.Helper()
	e.dir(filepath.Dir(p))
	if err := os.WriteFile(e.h(p), []byte(content), mode); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Chmod(e.h(p), mode); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) link(target, p string) {
	e.t.Helper()
	e.dir(filepath.Dir(p))
	if err := os.Symlink(target, e.h(p)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) chown(p string, uid int) {
	e.t.Helper()
	if err := os.Lchown(e.h(p), uid, uid); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) read(p string) string {
	e.t.Helper()
	data, err := os.ReadFile(e.h(p))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(data)
}

func (e *env) lstat(p string) fs.FileInfo {
	e.t.Helper()
	fi, err := os.Lstat(e.h(p))
	if err != nil {
		e.t.Fatal(err)
	}
	return fi
}

func (e *env) missing(p string) {
	e.t.Helper()
	if _, err := os.Lstat(e.h(p)); !errors.Is(err, fs.ErrNotExist) {
		e.t.Errorf("%s exists (%v)", p, err)
	}
}

// refused asserts err is an UnsafeError naming component.
func refused(t *testing.T, err error, component string) {
	t.Helper()
	var ue *UnsafeError
	if !errors.As(err, &ue) {
		t.Fatalf("want a refusal naming %s, got %v", component, err)
	}
	if ue.Component != component {
		t.Errorf("refusal names %s, want %s (%v)", ue.Component, component, err)
	}
}

// tree describes every path under dir with its type, mode, owner and a
// hash of its content.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		fmt.Fprintf(&b, "%s %v %d:%d", p, fi.Mode(), st.Uid, st.Gid)
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %x", sha256.Sum256(data))
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func noWorldWritable(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.Mode().Perm()&0o002 != 0 && fi.Mode()&fs.ModeSticky == 0 {
			t.Errorf("%s is world-writable: %v", p, fi.Mode())
		}
		return nil
	})
}

var keepAll = Attrs{UID: -1, GID: -1}

// Debian's /etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf: the target is
// written, keeps its own mode, and the link stays.
func TestAttackDistributionLinkKeepsTargetMode(t *testing.T) {
	e := newEnv(t)
	e.file("/etc/sysctl.conf", "old\n", 0o640)
	e.link("../sysctl.conf", "/etc/sysctl.d/99-sysctl.conf")
	got, err := e.fs.WriteFile("/etc/sysctl.d/99-sysctl.conf", []byte("new\n"), keepAll)
	if err != nil {
		t.Fatal(err)
	}
	if got != "/etc/sysctl.conf" {
		t.Errorf("wrote %s", got)
	}
	if e.lstat("/etc/sysctl.d/99-sysctl.conf").Mode()&fs.ModeSymlink == 0 {
		t.Error("the link was replaced")
	}
	if fi := e.lstat("/etc/sysctl.conf"); fi.Mode() != 0o640 || e.read("/etc/sysctl.conf") != "new\n" {
		t.Errorf("target: %v %q", fi.Mode(), e.read("/etc/sysctl.conf"))
	}
}

// A new file, or one replacing a link, is 0644 and never takes the
// link's 0777.
func TestAttackNewFileIsNot0777(t *testing.T) {
	e := newEnv(t)
	e.file("/etc/motd", "x", 0o644)
	e.link("motd", "/etc/motd.link")
	if _, err := e.fs.WriteFile("/etc/new.conf", []byte("x"), keepAll); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.WriteFile("/etc/motd.link", []byte("y"), Attrs{UID: -1, GID: -1, ReplaceLink: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/etc/new.conf", "/etc/motd.link"} {
		if m := e.lstat(p).Mode(); m != 0o644 {
			t.Errorf("%s: %v", p, m)
		}
	}
	if e.read("/etc/motd") != "x" {
		t.Error("the link's target changed")
	}
}

// A link at the path owned by a user is not followed.
func TestAttackUserOwnedFinalLinkRefused(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.file("/etc/shadow", "root:x\n", 0o600)
	e.dir("/home/alice")
	e.chown("/home/alice", alice)
	e.link("/etc/shadow", "/etc/app.conf")
	e.chown("/etc/app.conf", alice)
	_, err := e.fs.WriteFile("/etc/app.conf", []byte("pwned\n"), keepAll)
	refused(t, err, "/etc/app.conf")
	if e.read("/etc/shadow") != "root:x\n" {
		t.Error("the link's target was written")
	}
}

// alice makes ~/.config/systemd/user a link to /etc/systemd/system: root
// writing her unit must not land in /etc.
func TestAttackUserUnitDirLinkToEtc(t *testing.T) {
	needRoot(t)
	// The first directory the link leads to that is not alice's is named.
	for target, first := range map[string]string{"/etc/systemd/system": "/etc", "../../../../etc/systemd/system": "/etc", "/": "/"} {
		t.Run(target, func(t *testing.T) {
			e := newEnv(t)
			e.dir("/etc/systemd/system")
			e.dir("/home/alice/.config/systemd")
			for _, d := range []string{"/home/alice", "/home/alice/.config", "/home/alice/.config/systemd"} {
				e.chown(d, alice)
			}
			e.link(target, "/home/alice/.config/systemd/user")
			e.chown("/home/alice/.config/systemd/user", alice)
			u := e.fs.For(&User{UID: alice, GID: alice, Home: "/home/alice"})
			_, err := u.WriteFile("/home/alice/.config/systemd/user/app.service", []byte("[Unit]\n"), Attrs{Mode: 0o644, UID: alice, GID: alice})
			refused(t, err, first)
			err = u.MkdirAll("/home/alice/.config/systemd/user/default.target.wants", 0o755, alice, alice)
			refused(t, err, first)
			e.missing("/etc/systemd/system/app.service")
			e.missing("/etc/systemd/system/default.target.wants")
		})
	}
}

// A link of alice's that leads out of her home, even to a directory she
// owns, is refused for her units.
func TestAttackUserLinkLeavesHome(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.dir("/home/alice/.config/systemd")
	e.dir("/srv/alice")
	for _, d := range []string{"/home/alice", "/home/alice/.config", "/home/alice/.config/systemd", "/srv/alice"} {
		e.chown(d, alice)
	}
	e.link("/srv/alice", "/home/alice/.config/systemd/user")
	e.chown("/home/alice/.config/systemd/user", alice)
	u := e.fs.For(&User{UID: alice, GID: alice, Home: "/home/alice"})
	_, err := u.WriteFile("/home/alice/.config/systemd/user/app.service", []byte("x"), Attrs{Mode: 0o644, UID: alice, GID: alice})
	refused(t, err, "/srv")
	e.missing("/srv/alice/app.service")

	// Her own real directories are fine.
	if err := os.Remove(e.h("/home/alice/.config/systemd/user")); err != nil {
		t.Fatal(err)
	}
	if err := u.MkdirAll("/home/alice/.config/systemd/user", 0o755, alice, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := u.WriteFile("/home/alice/.config/systemd/user/app.service", []byte("x"), Attrs{Mode: 0o644, UID: alice, GID: alice}); err != nil {
		t.Fatal(err)
	}
	if st := e.lstat("/home/alice/.config/systemd/user/app.service").Sys().(*syscall.Stat_t); st.Uid != alice {
		t.Errorf("owner %d", st.Uid)
	}
}

// Root does not write through a directory a user owns, unless the change
// is made for that user.
func TestAttackRootThroughUserDirectory(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.dir("/home/alice/x")
	e.chown("/home/alice", alice)
	_, err := e.fs.WriteFile("/home/alice/x/app.conf", []byte("x"), keepAll)
	refused(t, err, "/home/alice")
	if err := e.fs.MkdirAll("/home/alice/y", 0o755, 0, 0); err == nil {
		t.Error("mkdir through alice's home as root")
	}
	e.missing("/home/alice/x/app.conf")
	e.missing("/home/alice/y")
}

// World- and group-writable directories are refused; sticky ones are not.
func TestAttackWritableDirectories(t *testing.T) {
	e := newEnv(t)
	e.dir("/etc/open")
	e.dir("/tmp")
	if err := os.Chmod(e.h("/etc/open"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(e.h("/tmp"), fs.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	_, err := e.fs.WriteFile("/etc/open/app.conf", []byte("x"), keepAll)
	refused(t, err, "/etc/open")
	if _, err := e.fs.WriteFile("/tmp/app.conf", []byte("x"), keepAll); err != nil {
		t.Errorf("sticky /tmp: %v", err)
	}
	if err := os.Chmod(e.h("/etc/open"), 0o755); err != nil { // for noWorldWritable
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		e.dir("/etc/grp")
		if err := os.Chown(e.h("/etc/grp"), 0, 4242); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(e.h("/etc/grp"), 0o775); err != nil {
			t.Fatal(err)
		}
		_, err := e.fs.WriteFile("/etc/grp/app.conf", []byte("x"), keepAll)
		refused(t, err, "/etc/grp")
	}
}

// alice's link in the sticky /tmp is not followed by root (as the
// kernel's protected_symlinks would not), nor for bob.
func TestAttackUserLinkInStickyDir(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.dir("/etc")
	e.dir("/tmp")
	if err := os.Chmod(e.h("/tmp"), fs.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	e.link("/etc", "/tmp/x")
	e.chown("/tmp/x", alice)
	for _, fsys := range []FS{e.fs, e.fs.For(&User{UID: 1001, GID: 1001})} {
		_, err := fsys.WriteFile("/tmp/x/app.conf", []byte("x"), keepAll)
		refused(t, err, "/tmp/x")
	}
	e.missing("/etc/app.conf")
}

// --root: an absolute link in the tree resolves inside the tree, for
// reads and writes alike; so does /etc itself being a link.
func TestAttackAbsoluteLinkUnderRoot(t *testing.T) {
	e := newEnv(t)
	e.dir("/etc/containers")
	e.link(e.outside+"/systemd", "/etc/containers/registries.conf.d")
	e.link(e.outside, "/opt")
	for _, p := range []string{"/opt/secret", "/opt/new"} {
		if _, err := e.fs.WriteFile(p, []byte("x"), keepAll); err == nil {
			t.Errorf("wrote %s through a link to a directory missing in the root", p)
		}
	}
	if _, err := e.fs.WriteFile("/etc/containers/registries.conf.d/x.conf", []byte("x"), keepAll); err == nil {
		// Only allowed if it landed inside the root.
		e.read(filepath.Join(e.root, e.outside, "systemd/x.conf"))
	}
	if err := e.fs.MkdirAll("/etc/containers/registries.conf.d/system", 0o755, 0, 0); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(e.root, e.outside, "systemd/system")); err != nil || !fi.IsDir() {
		t.Errorf("mkdir did not land inside the root: %v", err)
	}
	if data, err := e.fs.ReadFile("/opt/secret"); err == nil {
		t.Errorf("read the outside through an absolute link: %q", data)
	}
	if r, err := e.fs.Resolve("/opt/secret"); err != nil || !strings.HasPrefix(r, e.root+"/") {
		t.Errorf("resolve: %s %v", r, err)
	}
	if _, err := e.fs.WriteFile("/opt/new", []byte("x"), keepAll); err != nil {
		t.Fatal(err)
	}
	e.read(filepath.Join(e.root, e.outside, "new")) // inside the root
}

func TestAttackEtcIsAbsoluteLink(t *testing.T) {
	e := newEnv(t)
	e.link(e.outside, "/etc")
	if _, err := e.fs.WriteFile("/etc/secret", []byte("x"), keepAll); err == nil {
		t.Error("wrote through /etc -> outside")
	}
	if err := e.fs.Remove("/etc/secret"); err == nil {
		t.Error("removed through /etc -> outside")
	}
	if err := e.fs.Chown("/etc/secret", -1, -1, ptr(fs.FileMode(0o777))); err == nil {
		t.Error("chmod through /etc -> outside")
	}
}

// Debian images ship /var/run -> /run: under --root that is the tree's
// /run.
func TestAttackVarRunUnderRoot(t *testing.T) {
	e := newEnv(t)
	e.dir("/run")
	e.link("/run", "/var/run")
	if _, err := e.fs.WriteFile("/var/run/app.pid", []byte("1"), keepAll); err != nil {
		t.Fatal(err)
	}
	if e.read("/run/app.pid") != "1" {
		t.Error("not written to the tree's /run")
	}
}

// ".." never climbs out of the root, lexically or through links.
func TestAttackDotDot(t *testing.T) {
	e := newEnv(t)
	e.dir("/etc")
	e.link("../../../../../../..", "/etc/up")
	rel, _ := filepath.Rel(e.root, e.outside)
	for _, p := range []string{"/../../" + rel + "/secret", "/etc/up/" + rel + "/secret", "/etc/../../" + rel + "/secret"} {
		if _, err := e.fs.WriteFile(p, []byte("x"), keepAll); err == nil {
			t.Errorf("%s: written", p)
		}
		if err := e.fs.Chown(p, -1, -1, ptr(fs.FileMode(0o666))); err == nil {
			t.Errorf("%s: chmod", p)
		}
		if r, err := e.fs.Resolve(p); err == nil && !strings.HasPrefix(r, e.root+"/") {
			t.Errorf("%s resolves to %s", p, r)
		}
	}
	if _, err := e.fs.WriteFile("/etc/up/etc/x", []byte("x"), keepAll); err != nil {
		t.Fatal(err)
	}
	if e.read("/etc/x") != "x" {
		t.Error("../.. did not stop at the root")
	}
}

// A file replaced by a link between Check (Lstat) and Apply (chmod): the
// link is not followed.
func TestAttackSwapToLinkBeforeChmod(t *testing.T) {
	e := newEnv(t)
	e.file("/srv/app.conf", "x", 0o644)
	if fi, err := e.fs.Lstat("/srv/app.conf"); err != nil || !fi.Mode().IsRegular() {
		t.Fatal(fi, err)
	}
	if err := os.Remove(e.h("/srv/app.conf")); err != nil {
		t.Fatal(err)
	}
	e.link(e.outside+"/secret", "/srv/app.conf")
	if err := e.fs.Chown("/srv/app.conf", 0, 0, ptr(fs.FileMode(0o666))); err == nil {
		t.Error("chmod went through the swapped-in link")
	}
	if _, err := e.fs.WriteFile("/srv/app.conf", []byte("y"), keepAll); err == nil {
		t.Error("write through a link to the outside")
	}
}

// A hard link to a file outside: replacing it makes a new inode, and
// changing its mode in place is refused.
func TestAttackHardLinkOutside(t *testing.T) {
	e := newEnv(t)
	e.dir("/etc")
	if err := os.Link(e.outside+"/secret", e.h("/etc/app.conf")); err != nil {
		t.Skip("no hard links across the temp dirs:", err)
	}
	err := e.fs.Chown("/etc/app.conf", 0, 0, ptr(fs.FileMode(0o644)))
	refused(t, err, "/etc/app.conf")
	if _, err := e.fs.WriteFile("/etc/app.conf", []byte("new"), keepAll); err != nil {
		t.Fatal(err)
	}
	if e.read("/etc/app.conf") != "new" {
		t.Error("not replaced")
	}
}

// Links into /proc of this machine stay in the tree's /proc.
func TestAttackProcLinks(t *testing.T) {
	e := newEnv(t)
	e.dir("/etc")
	e.link("/proc/self/root"+e.outside+"/secret", "/etc/a")
	e.link("/proc/1/root"+e.outside, "/etc/b")
	e.link("/proc/self/cwd", "/etc/c")
	for _, p := range []string{"/etc/a", "/etc/b/secret", "/etc/c/x"} {
		if data, err := e.fs.ReadFile(p); err == nil {
			t.Errorf("%s read %q", p, data)
		}
		if _, err := e.fs.WriteFile(p, []byte("x"), keepAll); err == nil {
			t.Errorf("%s written", p)
		}
	}
}

// A FIFO or a device in place of a file is never opened: no read blocks,
// and a write refuses (or replaces it when asked).
func TestAttackFIFOAndDevice(t *testing.T) {
	e := newEnv(t)
	e.dir("/etc")
	if err := unix.Mkfifo(e.h("/etc/fifo.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	special := []string{"/etc/fifo.conf"}
	if os.Geteuid() == 0 {
		if err := unix.Mknod(e.h("/etc/zero.conf"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5))); err == nil {
			special = append(special, "/etc/zero.conf")
		}
	}
	for _, p := range special {
		done := make(chan error, 1)
		go func() {
			_, err := e.fs.ReadFile(p)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: read", p)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: read blocked", p)
		}
		if _, err := e.fs.WriteFile(p, []byte("x"), keepAll); err == nil {
			t.Errorf("%s: written through", p)
		}
		if err := e.fs.Overwrite(p, []byte("x")); err == nil {
			t.Errorf("%s: overwritten", p)
		}
		if _, err := e.fs.WriteFile(p, []byte("x"), Attrs{UID: -1, GID: -1, ReplaceLink: true}); err != nil {
			t.Errorf("%s: replace: %v", p, err)
		}
		if !e.lstat(p).Mode().IsRegular() {
			t.Errorf("%s: not replaced", p)
		}
	}
}

// A dangling root-owned link: its target is created inside the root; a
// dangling link to a missing outside path creates nothing outside.
func TestAttackDanglingLink(t *testing.T) {
	e := newEnv(t)
	e.dir("/etc")
	e.link("/etc/real.conf", "/etc/a.conf")
	e.link(e.outside+"/new.conf", "/etc/b.conf")
	if _, err := e.fs.WriteFile("/etc/a.conf", []byte("a"), keepAll); err != nil {
		t.Fatal(err)
	}
	if e.read("/etc/real.conf") != "a" || e.lstat("/etc/real.conf").Mode() != 0o644 {
		t.Error("target not created 0644")
	}
	if _, err := e.fs.WriteFile("/etc/b.conf", []byte("b"), keepAll); err == nil {
		e.read(filepath.Join(e.root, e.outside, "new.conf")) // inside the root
	}
	if _, err := os.Lstat(e.outside + "/new.conf"); err == nil {
		t.Error("created outside")
	}
	if _, err := e.fs.ReadFile("/etc/b.conf"); !errors.Is(err, fs.ErrNotExist) && err != nil {
		t.Errorf("read dangling: %v", err)
	}
}

// Chown of a link changes the link, never its target; Remove removes the
// link, never the target.
func TestAttackChownRemoveLinkItself(t *testing.T) {
	e := newEnv(t)
	e.dir("/etc")
	e.link(e.outside+"/secret", "/etc/l")
	if err := e.fs.Chown("/etc/l", 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.fs.Chown("/etc/l", 0, 0, ptr(fs.FileMode(0o644))); err == nil {
		t.Error("chmod of a link")
	}
	if err := e.fs.RemoveAll("/etc/l"); err != nil {
		t.Fatal(err)
	}
	e.missing("/etc/l")
	e.dir("/etc/d")
	e.link(e.outside, "/etc/d/out")
	if err := e.fs.RemoveAll("/etc/d"); err != nil {
		t.Fatal(err)
	}
	e.missing("/etc/d")
}

func ptr[T any](v T) *T { return &v }

// TestAttacksWithoutOpenat2 runs the read attacks again on securejoin's
// walk, which kernels without openat2(2) (before 5.6) or a seccomp filter
// that refuses it get.
func TestAttacksWithoutOpenat2(t *testing.T) {
	noOpenat2.Store(true)
	t.Cleanup(func() { noOpenat2.Store(false) })
	for name, attack := range map[string]func(*testing.T){
		"absolute link": TestAttackAbsoluteLinkUnderRoot, "etc is a link": TestAttackEtcIsAbsoluteLink,
		"var/run": TestAttackVarRunUnderRoot, "dot-dot": TestAttackDotDot, "proc links": TestAttackProcLinks,
		"fifo and device": TestAttackFIFOAndDevice, "dangling link": TestAttackDanglingLink,
	} {
		t.Run(name, attack)
	}
}

// TestOpenat2InUse: where the kernel has openat2(2), reads take it (one
// system call), not the walk.
func TestOpenat2InUse(t *testing.T) {
	if !probeOpenat2() {
		t.Skip("no openat2(2) here: reads take securejoin's walk (TestAttacksWithoutOpenat2)")
	}
	h, err := openat2InRoot(t.TempDir(), "/", unix.O_PATH)
	if err != nil || noOpenat2.Load() {
		t.Fatalf("openat2 not used: %v", err)
	}
	h.Close()
}

// A user swaps the fifo in their home for a link to root's file after
// Chown saw the fifo: chmod must not follow it (it did, by name).
func TestAttackSwapSpecialToLinkBeforeChmod(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.dir("/home/alice")
	e.chown("/home/alice", alice)
	p := e.h("/home/alice/fifo")
	if err := unix.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	specialStep = func() {
		os.Remove(p)
		if err := os.Symlink(e.outside+"/secret", p); err != nil {
			t.Error(err)
		}
	}
	defer func() { specialStep = func() {} }()
	err := e.fs.For(&User{UID: alice, GID: alice}).Chown("/home/alice/fifo", alice, alice, ptr(fs.FileMode(0o644)))
	if err == nil || !strings.Contains(err.Error(), "changed while in use") {
		t.Fatalf("Chown = %v, want changed while in use", err)
	}
}

// Chown of a fifo still changes it, through its handle.
func TestChownSpecialThroughHandle(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.dir("/home/alice")
	e.chown("/home/alice", alice)
	if err := unix.Mkfifo(e.h("/home/alice/fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.fs.For(&User{UID: alice, GID: alice}).Chown("/home/alice/fifo", alice, alice, ptr(fs.FileMode(0o640))); err != nil {
		t.Fatal(err)
	}
	fi := e.lstat("/home/alice/fifo")
	if fi.Mode().Perm() != 0o640 || fi.Sys().(*syscall.Stat_t).Uid != alice {
		t.Fatalf("fifo is %v uid %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid)
	}
}

// A user swaps the file being read for a link to a FIFO (or a device)
// between the O_PATH handle and the open for reading: the FIFO must never
// be opened (the reopen by name opened it within a second).
func TestAttackSwapToFIFOBeforeRead(t *testing.T) {
	e := newEnv(t)
	e.dir("/home/alice")
	fifo := e.h("/fifo")
	unix.Mkfifo(fifo, 0o600)
	p := e.h("/home/alice/f")
	var stop atomic.Bool
	var opened atomic.Int64
	go func() {
		for !stop.Load() {
			fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK, 0)
			if err == nil {
				opened.Add(1)
				unix.Close(fd)
			}
		}
	}()
	go func() {
		for !stop.Load() {
			os.WriteFile(p+".new", []byte("x"), 0o644)
			os.Rename(p+".new", p)
			os.Symlink("/fifo", p+".l")
			os.Rename(p+".l", p)
		}
	}()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) && opened.Load() == 0 {
		e.fs.ReadFile("/home/alice/f")
	}
	stop.Store(true)
	time.Sleep(10 * time.Millisecond)
	os.Remove(p)
	if n := opened.Load(); n > 0 {
		t.Fatalf("the fifo was opened for reading %d times", n)
	}
}

// ReadFileNoFollow (backups) reads the file itself: a link swapped in for
// a user's file is refused, never read through, and stat and data come
// from one handle.
func TestAttackReadNoFollowLink(t *testing.T) {
	e := newEnv(t)
	e.dir("/home/alice")
	e.link(e.outside+"/secret", "/home/alice/.bashrc")
	data, _, err := e.fs.ReadFileNoFollow("/home/alice/.bashrc")
	if !errors.Is(err, ErrNotRegular) || len(data) != 0 {
		t.Fatalf("ReadFileNoFollow of a link = %q, %v; want ErrNotRegular", data, err)
	}
	e.file("/home/alice/.profile", "mine\n", 0o644)
	data, fi, err := e.fs.ReadFileNoFollow("/home/alice/.profile")
	if err != nil || string(data) != "mine\n" || fi.Mode().Perm() != 0o644 {
		t.Fatalf("ReadFileNoFollow = %q, %v, %v", data, fi, err)
	}
}
