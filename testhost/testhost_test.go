package testhost

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTB records Skip and Fatalf instead of stopping the goroutine.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Skip(args ...any)               { f.skipped = fmt.Sprint(args...) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.failed = fmt.Sprintf(format, a...) }
func (f *fakeTB) Logf(string, ...any)            {}

func TestRequireSkipsOrFailsWithOneLine(t *testing.T) {
	saved := tools
	t.Cleanup(func() { tools = saved })
	tools = append(append([]tool{}, saved...), tool{"no-such-tool-for-testhost", "no-such-package"})

	miss := Missing()
	joined := strings.Join(miss, "; ")
	if !strings.Contains(joined, "no-such-tool-for-testhost") || !strings.Contains(joined, "apt-get install -y --no-install-recommends ") || !strings.Contains(joined, " no-such-package") {
		t.Fatalf("Missing() = %q, want the tool and an install hint naming its package", miss)
	}

	t.Setenv(EnvRequired, "")
	f := &fakeTB{TB: t}
	Require(f)
	if f.failed != "" || !strings.Contains(f.skipped, "no-such-tool-for-testhost") || strings.Contains(f.skipped, "\n") {
		t.Errorf("Require without %s: skipped %q, failed %q; want one skip line", EnvRequired, f.skipped, f.failed)
	}

	t.Setenv(EnvRequired, "required")
	f = &fakeTB{TB: t}
	Require(f)
	if f.skipped != "" || !strings.Contains(f.failed, "no-such-tool-for-testhost") {
		t.Errorf("Require with %s=required: skipped %q, failed %q; want a failure", EnvRequired, f.skipped, f.failed)
	}
}

func TestBusyboxTar(t *testing.T) {
	var buf bytes.Buffer
	if err := writeBusyboxTar(&buf, []byte("ELF"), []string{"/bin/sh", "/usr/bin/awk", "/bin/sh", "/sbin/../../etc/x"}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			got[hdr.Name] = "-> " + hdr.Linkname
		case tar.TypeReg:
			b, _ := io.ReadAll(tr)
			got[hdr.Name] = string(b)
		case tar.TypeDir:
			got[hdr.Name] = "dir"
		}
	}
	want := map[string]string{
		"bin/busybox": "ELF",
		"bin/sh":      "-> /bin/busybox",
		"usr/bin/awk": "-> /bin/busybox",
		"tmp/":        "dir",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["etc/x"]; ok {
		t.Errorf("an applet path with .. was written")
	}
	if !strings.HasPrefix(got["etc/passwd"], "root:x:0:0:") {
		t.Errorf("etc/passwd: %q", got["etc/passwd"])
	}
}

func TestParseMountsUnder(t *testing.T) {
	info := `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
90 22 0:50 / /var/cache/pe/run/r1/mem rw - tmpfs tmpfs rw
91 22 0:51 / /var/cache/pe/run/r1/hosts/debian-1/root rw - overlay overlay rw
92 22 0:52 / /var/cache/pe/run/r1/a\040b rw - tmpfs tmpfs rw
93 22 0:53 / /var/cache/pe2 rw - tmpfs tmpfs rw
`
	got := parseMountsUnder(info, "/var/cache/pe/")
	want := []string{"/var/cache/pe/run/r1/hosts/debian-1/root", "/var/cache/pe/run/r1/mem", "/var/cache/pe/run/r1/a b"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("parseMountsUnder:\n got %q\nwant %q", got, want)
	}
}

func TestKeys(t *testing.T) {
	if hashKey([]byte("ab"), []byte("c")) == hashKey([]byte("a"), []byte("bc")) {
		t.Error("hashKey does not separate its parts")
	}
	src := []byte("Types: deb\n")
	k1 := imageKey("debian", src)
	saved := DebRepoPackages
	t.Cleanup(func() { DebRepoPackages = saved })
	DebRepoPackages = append(append([]string{}, saved...), "crun")
	if k2 := imageKey("debian", src); k2 == k1 {
		t.Error("the Debian image key ignores the repository's package list")
	}
	if imageKey("fedora", src) == imageKey("debian", src) {
		t.Error("fedora and debian share a key")
	}
	if imageKey("debian", []byte("Types: deb\nURIs: http://other\n")) == imageKey("debian", src) {
		t.Error("the key ignores the apt sources")
	}
	// Every image has a key of its own: same packages on another suite
	// is another image.
	seen := map[string]string{}
	for _, k := range append(append([]Kind{}, Kinds...), DebianPy) {
		sp, err := spec(k)
		if err != nil {
			t.Fatal(err)
		}
		key := imageKey(sp.image, src)
		if other, ok := seen[key]; ok && other != sp.image {
			t.Errorf("images %s and %s share the key %s", sp.image, other, key)
		}
		seen[key] = sp.image
	}
	if len(seen) != 6 {
		t.Errorf("%d images, want 6: %v", len(seen), seen)
	}
	if _, err := spec("centos"); err == nil {
		t.Error("an unknown kind has a spec")
	}
}

func TestSourcesFor(t *testing.T) {
	deb822 := "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z bookworm\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n"
	want := "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z bookworm\nURIs: http://deb.debian.org/debian\nSuites: trixie trixie-updates\nComponents: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: trixie-security\n"
	if got := string(sourcesFor([]byte(deb822), "trixie")); got != want {
		t.Errorf("deb822:\n%s\nwant\n%s", got, want)
	}
	list := "deb http://deb.debian.org/debian bookworm main\ndeb http://security.debian.org/debian-security bookworm-security main\n"
	wantList := "deb http://deb.debian.org/debian bullseye main\ndeb http://security.debian.org/debian-security bullseye-security main\n"
	if got := string(sourcesFor([]byte(list), "bullseye")); got != wantList {
		t.Errorf("one-line:\n%s\nwant\n%s", got, wantList)
	}
}

func TestSpecsEmbedded(t *testing.T) {
	for _, name := range []string{"podman", "shadow-utils", "fuse-overlayfs", "fedora-release"} {
		b, err := rpmSpecs.ReadFile("rpm-specs/" + name + ".spec")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Contains(b, []byte("Name:           "+name+"\n")) || !bytes.Contains(b, []byte("AutoReqProv:    no")) {
			t.Errorf("%s.spec lacks its Name or AutoReqProv: no", name)
		}
	}
}

func TestSettingsRestore(t *testing.T) {
	cache := t.TempDir()
	f := filepath.Join(cache, "dev-node")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := chmodRecorded(cache, f, 0o666); err != nil {
		t.Fatal(err)
	}
	// A second change must keep the first original.
	if err := chmodRecorded(cache, f, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := loadSettings(cache)
	if err != nil || s.FileMode[f] != 0o600 {
		t.Fatalf("recorded %v, %v; want 0600", s.FileMode, err)
	}
	if err := restoreSettings(cache); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(f)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after restore %o, want 600", fi.Mode().Perm())
	}
	if fileExists(settingsPath(cache)) {
		t.Error("restore.json left after a full restore")
	}
}

func TestHostPath(t *testing.T) {
	h := &Host{root: "/r/root", home: "/r/home"}
	for guest, want := range map[string]string{
		"/etc/subuid":              "/r/root/etc/subuid",
		"/home/carol/x.tar":        "/r/home/carol/x.tar",
		"/home":                    "/r/home",
		"/tmp/play.yml":            "",
		"/run/provision/lock":      "",
		"/usr/local/bin/provision": "/r/root/usr/local/bin/provision",
		"/etc/../etc/hosts":        "/r/root/etc/hosts",
	} {
		got, err := h.hostPath(guest)
		if err != nil || got != want {
			t.Errorf("hostPath(%q) = %q, %v; want %q", guest, got, err, want)
		}
	}
	if _, err := h.hostPath("etc/x"); err == nil {
		t.Error("a relative guest path was accepted")
	}
}

func TestShellQuote(t *testing.T) {
	if got := shellQuote("it's"); got != `'it'\''s'` {
		t.Errorf("shellQuote: %s", got)
	}
}

func TestFilterJournal(t *testing.T) {
	in := `Nov 29 08:46:25 debian-1 systemd[1]: Started session-456.scope - Session 456 of User root.
Nov 29 08:46:25 debian-1 sshd[40]: Accepted publickey for root
Nov 29 08:46:25 debian-1 podman[90]: error: something real
Nov 29 08:46:25 debian-1 systemd-logind[34]: Removed session 456.
Nov 29 08:46:26 debian-1 systemd[1]: apt-daily.service: Failed
Nov 29 08:46:26 debian-1 systemd[1]: session-460.scope: Deactivated successfully.
`
	got := filterJournal(in, 1)
	if got != "Nov 29 08:46:26 debian-1 systemd[1]: apt-daily.service: Failed" {
		t.Errorf("filterJournal(n=1) = %q", got)
	}
	if got := filterJournal(in, 10); strings.Count(got, "\n") != 1 || !strings.Contains(got, "something real") {
		t.Errorf("filterJournal(n=10) = %q", got)
	}
}
