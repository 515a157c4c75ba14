package hostfs

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzPaths walks, resolves and writes fuzzed paths through a fuzzed link
// in a small tree, and checks that nothing ever leaves the root: Resolve
// stays under it, the directory a change holds open really is where the
// walk says, inside the root, and the outside never changes. As root it
// also checks that a change for alice (whose home holds a second fuzzed
// link) never lands outside her home.
func FuzzPaths(f *testing.F) {
	base := f.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{root + "/etc/sysctl.d", root + "/home/alice/.config", root + "/run", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.WriteFile(outside+"/secret", []byte("s"), 0o600); err != nil {
		f.Fatal(err)
	}
	for link, target := range map[string]string{"/etc/up": "../../..", "/etc/abs": "/", "/var": "/run", "/etc/out": outside, "/etc/loop": "loop"} {
		if err := os.Symlink(target, root+link); err != nil {
			f.Fatal(err)
		}
	}
	for _, s := range [][2]string{{"../sysctl.conf", "/etc/sysctl.d/fz"}, {outside, "/etc/fz/secret"}, {"/../..", "/etc/fz/x/../../y"}, {"/proc/self/root", "/etc/fz/etc"}, {"", "/etc/up/up/x"}} {
		f.Add(s[0], s[1])
	}
	asRoot := os.Geteuid() == 0
	if asRoot {
		for _, d := range []string{"/home/alice", "/home/alice/.config"} {
			if err := os.Chown(root+d, 1000, 1000); err != nil {
				f.Fatal(err)
			}
		}
	}
	fsys := FS{Root: root}
	aliceFS := fsys.For(&User{UID: 1000, GID: 1000, Home: "/home/alice"})
	inside := func(p string) bool { return p == root || strings.HasPrefix(p, root+"/") }
	f.Fuzz(func(t *testing.T, target, p string) {
		link := root + "/etc/fz"
		os.Remove(link)
		if target != "" && !strings.ContainsRune(target, 0) {
			if err := os.Symlink(target, link); err != nil {
				t.Skip()
			}
		}
		p = "/" + p
		if asRoot {
			alink := root + "/home/alice/.config/fz"
			os.Remove(alink)
			if target != "" && !strings.ContainsRune(target, 0) && os.Symlink(target, alink) == nil {
				os.Lchown(alink, 1000, 1000)
			}
			if w, err := aliceFS.walkDir(p, nil); err == nil {
				real, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(w.fd()))
				w.close()
				if !strings.HasPrefix(real+"/", root+"/home/alice/") {
					t.Fatalf("a change of %q for alice lands in %s", p, real)
				}
			}
		}
		if r, err := fsys.Resolve(p); err == nil && !inside(r) {
			t.Fatalf("Resolve(%q) = %s, outside %s", p, r, root)
		}
		if w, err := fsys.walkDir(p, nil); err == nil {
			real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(w.fd()))
			want := filepath.Join(root, w.top().path)
			w.close()
			if err != nil || real != want || !inside(real) {
				t.Fatalf("walk(%q) holds %s (%v), says %s", p, real, err, want)
			}
		}
		fsys.WriteFile(p, []byte("x"), Attrs{UID: -1, GID: -1})
		if data, err := os.ReadFile(outside + "/secret"); err != nil || string(data) != "s" {
			t.Fatalf("the outside changed after writing %q through %q", p, target)
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 1 {
			t.Fatalf("a file appeared outside after writing %q through %q", p, target)
		}
	})
}

// FuzzPolicy reads a hostile file_contexts (an image's) and looks a path
// up: an error or a label, never a panic, and a label only from a line.
func FuzzPolicy(f *testing.F) {
	f.Add(testPolicy, "/etc/containers/x.conf")
	f.Add("/a(/.*)? -d x\n/a\\.b y\n/(\tz\n", "/a/b")
	f.Add("/etc/[^/]+ <<none>>\n", "/etc/x")
	f.Fuzz(func(t *testing.T, fc, p string) {
		pol := &policy{}
		if pol.addSpecs("file_contexts", []byte(fc)) != nil {
			return
		}
		pol.sort()
		l := pol.lookup(p, unix.S_IFREG)
		if l != nil && !strings.Contains(fc, string(l[:len(l)-1])) {
			t.Errorf("label %q is not in the policy", l)
		}
	})
}
