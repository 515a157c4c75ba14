package facts

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func write(t *testing.T, root, path, content string) {
	t.Helper()
	p := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOSFamilies(t *testing.T) {
	cases := []struct{ osRelease, id, family string }{
		{"ID=debian\nVERSION_ID=\"12\"\n", "debian", "debian"},
		{"ID=ubuntu\nID_LIKE=debian\n", "ubuntu", "debian"},
		{"ID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"9\"\n", "centos", "redhat"},
		{"ID=fedora\nVERSION_ID=39\n", "fedora", "redhat"},
		{"ID=rocky\nID_LIKE=\"rhel centos fedora\"\n", "rocky", "redhat"},
		{"ID=arch\n", "arch", "arch"},
	}
	for _, c := range cases {
		root := t.TempDir()
		write(t, root, "/etc/os-release", c.osRelease)
		o := New(root).OS()
		if o.ID != c.id || o.Family != c.family {
			t.Errorf("%q: got %+v", c.osRelease, o)
		}
	}
}

func TestPackageManager(t *testing.T) {
	cases := []struct {
		files map[string]string
		links map[string]string
		want  string
	}{
		{files: map[string]string{"/usr/bin/apt-get": ""}, want: "apt"},
		{files: map[string]string{"/usr/bin/dnf-3": "", "/usr/bin/yum": ""}, links: map[string]string{"/usr/bin/dnf": "dnf-3"}, want: "dnf"},
		{files: map[string]string{"/usr/bin/dnf5": ""}, links: map[string]string{"/usr/bin/dnf": "dnf5"}, want: "dnf5"},
		{files: map[string]string{"/usr/bin/yum": ""}, want: "yum"},
		{want: ""},
		{files: map[string]string{"/etc/os-release": "ID=debian\n", "/usr/bin/apt-get": "", "/usr/bin/dnf-3": ""}, links: map[string]string{"/usr/bin/dnf": "dnf-3"}, want: "apt"},
	}
	for _, c := range cases {
		root := t.TempDir()
		for p, content := range c.files {
			write(t, root, p, content)
		}
		for p, target := range c.links {
			if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
				t.Fatal(err)
			}
		}
		if got := New(root).PackageManager(); got != c.want {
			t.Errorf("%v %v: got %q, want %q", c.files, c.links, got, c.want)
		}
	}
}

func TestLoginDefsAndKernel(t *testing.T) {
	root := t.TempDir()
	write(t, root, "/etc/login.defs", "# comment\nSUB_UID_MIN\t\t  524288\nSUB_GID_COUNT 131072\nUID_MIN 1000\n")
	write(t, root, "/proc/sys/kernel/osrelease", "4.18.0-553.el8_10.x86_64\n")
	f := New(root)
	ld := f.LoginDefs()
	if ld.SubUIDMin != 524288 || ld.SubGIDCount != 131072 || ld.SubUIDMax != 600100000 || ld.SubUIDCount != 65536 {
		t.Errorf("login.defs: %+v", ld)
	}
	if f.KernelAtLeast(5, 13) || !f.KernelAtLeast(4, 18) {
		t.Errorf("kernel %q compared wrongly", f.Kernel())
	}
	if maj, min := KernelVersion("6.1.0-25-amd64"); maj != 6 || min != 1 {
		t.Errorf("KernelVersion: %d.%d", maj, min)
	}
}

func TestUsersRefreshWhenPasswdChanges(t *testing.T) {
	root := t.TempDir()
	write(t, root, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
	write(t, root, "/etc/group", "root:x:0:\nwheel:x:10:alice,bob\n")
	f := New(root)
	if _, ok := f.LookupUser("alice"); ok {
		t.Fatal("alice found before she exists")
	}
	write(t, root, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n")
	u, ok := f.LookupUser("alice")
	if !ok || u.UID != 1000 || u.Home != "/home/alice" {
		t.Fatalf("alice after passwd changed: %+v %v", u, ok)
	}
	if u2, ok := f.LookupUser("1000"); !ok || u2.Name != "alice" {
		t.Errorf("lookup by uid: %+v", u2)
	}
	if g := f.SupplementaryGroups("bob"); len(g) != 1 || g[0] != 10 {
		t.Errorf("groups of bob: %v", g)
	}
}

func TestParseEnvFile(t *testing.T) {
	kv := ParseEnvFile([]byte("A=\"x y\"\nB='z'\n# c\nC=plain\nbad\n"))
	if kv["A"] != "x y" || kv["B"] != "z" || kv["C"] != "plain" || len(kv) != 3 {
		t.Errorf("%v", kv)
	}
}

// TestHostnameAndUserID: under a root, the hostname is ROOT/etc/hostname
// and the user is the one of our UID in ROOT/etc/passwd.
func TestHostnameAndUserID(t *testing.T) {
	root := t.TempDir()
	write(t, root, "/etc/hostname", "builder\n")
	write(t, root, "/etc/passwd", "me:x:"+strconv.Itoa(os.Geteuid())+":0::/:/bin/sh\n")
	f := New(root)
	if f.Hostname() != "builder" || f.UserID() != "me" {
		t.Errorf("hostname %q, user %q", f.Hostname(), f.UserID())
	}
	if m := f.Map(); m["hostname"] != "builder" || m["user_id"] != "me" {
		t.Errorf("Map: %v %v", m["hostname"], m["user_id"])
	}
}

// An image's /etc/hostname or /proc/sys/kernel/osrelease linking to a file
// of the build machine must not be read (its content became a fact shown
// by `provision facts` and written into the image by templates), nor an
// os-release that is a FIFO (the run hung).
func TestImageFactsStayInTheRoot(t *testing.T) {
	base := t.TempDir()
	secret := filepath.Join(base, "build-secret")
	if err := os.WriteFile(secret, []byte("build-machine-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(base, "root")
	for _, d := range []string{"etc", "proc/sys/kernel"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"etc/hostname", "proc/sys/kernel/osrelease", "etc/login.defs"} {
		if err := os.Symlink(secret, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(root, "etc/os-release"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := New(root)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if h, k := f.Hostname(), f.Kernel(); strings.Contains(h+k, "secret") {
			t.Errorf("hostname %q, kernel %q: read outside the root", h, k)
		}
		f.OS()
		f.LoginDefs()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reading the image's facts hangs on a FIFO")
	}
}
