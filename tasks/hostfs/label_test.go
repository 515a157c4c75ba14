package hostfs

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Labels are security.selinux xattrs, which ext4 and tmpfs store without
// an SELinux kernel; setting them needs root (CAP_SYS_ADMIN).

func label(t string) string { return "system_u:object_r:" + t + ":s0" }

func (e *env) setLabel(p, l string) {
	e.t.Helper()
	if err := unix.Lsetxattr(e.h(p), labelXattr, append([]byte(l), 0), 0); err != nil {
		e.t.Fatal(err)
	}
}

// labelOf is the label of p itself (never a link's target), "" for none.
func (e *env) labelOf(p string) string {
	e.t.Helper()
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(e.h(p), labelXattr, buf)
	if err == unix.ENODATA {
		return ""
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.TrimRight(string(buf[:n]), "\x00")
}

func (e *env) wantLabel(p, want string) {
	e.t.Helper()
	if got := e.labelOf(p); got != want {
		e.t.Errorf("label of %s: %q, want %q", p, got, want)
	}
}

// testPolicy is a small file_contexts in the style of Fedora's.
const testPolicy = `# comment
/.*                              system_u:object_r:default_t:s0
/etc(/.*)?                       system_u:object_r:etc_t:s0
/etc/containers(/.*)?            system_u:object_r:container_config_t:s0
/etc/motd                        system_u:object_r:motd_t:s0
/etc/motd                        system_u:object_r:motd2_t:s0
/etc/m.td                        system_u:object_r:regex_t:s0
/etc/d(/.*)?             -d      system_u:object_r:dir_t:s0
/etc/d(/.*)?             --      system_u:object_r:file_t:s0
/etc/nolabel             --      <<none>>
/usr/lib/systemd/system(/.*)?    system_u:object_r:systemd_unit_file_t:s0
/home/[^/]+(/.*)?                system_u:object_r:user_home_t:s0
`

// policyTree puts an enforcing policy named pol into the tree.
func (e *env) policyTree(fc string) {
	e.t.Helper()
	e.file("/etc/selinux/config", "# SELinux\nSELINUX=enforcing\nSELINUXTYPE=pol\n", 0o644)
	e.file("/etc/selinux/pol/contexts/files/file_contexts", fc, 0o644)
	e.file("/etc/selinux/pol/contexts/files/file_contexts.subs_dist", "/etc/systemd/system /usr/lib/systemd/system\n", 0o644)
}

func TestLabelKeptOnReplace(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.policyTree(testPolicy)
	e.file("/etc/a.conf", "old", 0o640)
	e.setLabel("/etc/a.conf", label("kept_t"))
	if _, err := e.fs.WriteFile("/etc/a.conf", []byte("new"), Attrs{UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	if e.read("/etc/a.conf") != "new" {
		t.Fatal("not written")
	}
	e.wantLabel("/etc/a.conf", label("kept_t")) // not the policy's etc_t
}

// A long label (MLS categories) is read whole, not cut at a buffer size.
func TestLabelLong(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	long := "system_u:object_r:kept_t:s0:c0"
	for i := 1; len(long) < 1000; i++ {
		long += fmt.Sprintf(",c%d", i)
	}
	e.file("/etc/a.conf", "old", 0o644)
	e.setLabel("/etc/a.conf", long)
	if _, err := e.fs.WriteFile("/etc/a.conf", []byte("new"), Attrs{UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	e.wantLabel("/etc/a.conf", long)
}

// Through a root-owned distribution link, the target's label is kept and
// the link's own label is never copied; a replaced link's label neither.
func TestLabelNotFromLink(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.file("/etc/target.conf", "old", 0o644)
	e.setLabel("/etc/target.conf", label("target_t"))
	e.link("target.conf", "/etc/link.conf")
	e.setLabel("/etc/link.conf", label("link_t"))
	if _, err := e.fs.WriteFile("/etc/link.conf", []byte("new"), Attrs{UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	e.wantLabel("/etc/target.conf", label("target_t"))
	e.wantLabel("/etc/link.conf", label("link_t"))
	// Replacing the link: a new file, no policy in the tree, no label.
	if _, err := e.fs.WriteFile("/etc/link.conf", []byte("mine"), Attrs{UID: -1, GID: -1, ReplaceLink: true}); err != nil {
		t.Fatal(err)
	}
	e.wantLabel("/etc/link.conf", "")
	e.wantLabel("/etc/target.conf", label("target_t"))
}

// A user's link to a labelled file of root's, in the user's own directory,
// gives its label to nothing: following it is refused, replacing it makes
// a file with the policy's label for the path.
func TestLabelUserLink(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.policyTree(testPolicy)
	e.file("/etc/shadow", "secret", 0o600)
	e.setLabel("/etc/shadow", label("shadow_t"))
	e.dir("/home/alice")
	e.chown("/home/alice", alice)
	e.link("/etc/shadow", "/home/alice/f")
	e.chown("/home/alice/f", alice)
	fsys := e.fs.For(&User{UID: alice, GID: alice, Home: "/home/alice"})
	_, err := fsys.WriteFile("/home/alice/f", []byte("x"), Attrs{UID: alice, GID: alice})
	refused(t, err, "/home/alice/f")
	if _, err := fsys.WriteFile("/home/alice/f", []byte("x"), Attrs{UID: alice, GID: alice, ReplaceLink: true}); err != nil {
		t.Fatal(err)
	}
	e.wantLabel("/home/alice/f", label("user_home_t"))
	e.wantLabel("/etc/shadow", label("shadow_t"))
	if e.read("/etc/shadow") != "secret" {
		t.Error("shadow changed")
	}
}

func TestLabelNewFromPolicy(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.policyTree(testPolicy)
	for _, tt := range []struct{ path, want string }{
		{"/etc/new.conf", label("etc_t")},
		{"/etc/containers/x/y.conf", label("container_config_t")}, // and its new directory
		{"/etc/motd", label("motd2_t")},                           // exact wins, the later line first
		{"/etc/mxtd", label("regex_t")},
		{"/etc/d/f", label("file_t")},                                     // the kind decides
		{"/etc/systemd/system/web.service", label("systemd_unit_file_t")}, // .subs_dist
		{"/etc/nolabel", ""},
		{"/var/x", label("default_t")},
	} {
		if err := e.fs.MkdirAll(dirOf(tt.path), 0o755, -1, -1); err != nil {
			t.Fatal(err)
		}
		if _, err := e.fs.WriteFile(tt.path, []byte("x"), Attrs{UID: -1, GID: -1}); err != nil {
			t.Fatal(err)
		}
		e.wantLabel(tt.path, tt.want)
	}
	e.wantLabel("/etc/containers/x", label("container_config_t"))
	e.wantLabel("/etc/d", label("dir_t"))
	e.wantLabel("/etc/systemd/system", label("systemd_unit_file_t"))
}

func dirOf(p string) string { return p[:strings.LastIndexByte(p, '/')] }

// A file that has no label (an unlabelled tree) gets the policy's when it
// is replaced.
func TestLabelUnlabelledReplaced(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.policyTree(testPolicy)
	e.file("/etc/containers/storage.conf", "old", 0o644)
	if _, err := e.fs.WriteFile("/etc/containers/storage.conf", []byte("new"), Attrs{UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	e.wantLabel("/etc/containers/storage.conf", label("container_config_t"))
}

func TestLabelNoPolicy(t *testing.T) {
	needRoot(t)
	for _, config := range []string{"", "SELINUX=disabled\nSELINUXTYPE=pol\n"} {
		e := newEnv(t)
		e.dir("/etc")
		if config != "" {
			e.file("/etc/selinux/config", config, 0o644) // and no policy files
		}
		var warned []string
		e.fs.Labels = NewLabels(func(f string, a ...any) { warned = append(warned, fmt.Sprintf(f, a...)) })
		if _, err := e.fs.WriteFile("/etc/new.conf", []byte("x"), Attrs{UID: -1, GID: -1}); err != nil {
			t.Fatal(err)
		}
		e.wantLabel("/etc/new.conf", "")
		if len(warned) != 0 {
			t.Errorf("%q: warned %q", config, warned)
		}
	}
}

// SELinux enabled in the tree with a policy that cannot be read: one
// warning per run with Labels, an error of the write without.
func TestLabelPolicyUnknown(t *testing.T) {
	needRoot(t)
	for _, tt := range []struct{ name, fc, want string }{
		{"missing", "", "file_contexts: no such file"},
		{"bad line", "/etc  a  b  c\n", "file_contexts:1: want"},
		{"bad kind", "/etc -x etc_t\n", `unknown file kind "-x"`},
		{"bad regex", "/etc(\tetc_t\n", "regular expression"},
	} {
		e := newEnv(t)
		e.policyTree(tt.fc)
		if tt.fc == "" {
			os.Remove(e.h("/etc/selinux/pol/contexts/files/file_contexts"))
		}
		_, err := e.fs.WriteFile("/etc/new.conf", []byte("x"), Attrs{UID: -1, GID: -1})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "SELinux is enforcing") {
			t.Errorf("%s: want an error with %q, got %v", tt.name, tt.want, err)
		}
		e.missing("/etc/new.conf")
		var warned []string
		e.fs.Labels = NewLabels(func(f string, a ...any) { warned = append(warned, fmt.Sprintf(f, a...)) })
		for _, p := range []string{"/etc/new.conf", "/etc/other.conf"} {
			if _, err := e.fs.WriteFile(p, []byte("x"), Attrs{UID: -1, GID: -1}); err != nil {
				t.Fatal(err)
			}
		}
		if len(warned) != 1 || !strings.Contains(warned[0], tt.want) {
			t.Errorf("%s: warned %q, want once %q", tt.name, warned, tt.want)
		}
	}
}

// A label that cannot be set fails the write, which then changes nothing.
func TestLabelSetFails(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.file("/etc/a.conf", "old", 0o644)
	e.setLabel("/etc/a.conf", label("kept_t"))
	fsetxattr = func(int, string, []byte, int) error { return unix.EPERM }
	defer func() { fsetxattr = unix.Fsetxattr }()
	_, err := e.fs.WriteFile("/etc/a.conf", []byte("new"), Attrs{UID: -1, GID: -1})
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "set SELinux label "+label("kept_t")) {
		t.Fatalf("want the label error, got %v", err)
	}
	if e.read("/etc/a.conf") != "old" {
		t.Error("file changed")
	}
	ents, _ := os.ReadDir(e.h("/etc"))
	if len(ents) != 1 {
		t.Errorf("left %v", ents)
	}
}

// A distribution's file_contexts has about 6000 lines; the policy is read
// once per run, and looked up for every new file.
func BenchmarkPolicy(b *testing.B) {
	var fc strings.Builder
	for i := range 6000 {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&fc, "/usr/lib/pkg%d(/.*)?\tsystem_u:object_r:pkg%d_t:s0\n", i, i)
		case 1:
			fmt.Fprintf(&fc, "/etc/pkg%d\\.conf\t--\tsystem_u:object_r:pkg%d_conf_t:s0\n", i, i)
		default:
			fmt.Fprintf(&fc, "/var/lib/pkg%d/[^/]*\\.db\tsystem_u:object_r:pkg%d_db_t:s0\n", i, i)
		}
	}
	fc.WriteString("/etc(/.*)?\tsystem_u:object_r:etc_t:s0\n")
	data := []byte(fc.String())
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			p := &policy{}
			if err := p.addSpecs("file_contexts", data); err != nil {
				b.Fatal(err)
			}
			p.sort()
		}
	})
	b.Run("lookup", func(b *testing.B) {
		p := &policy{}
		if err := p.addSpecs("file_contexts", data); err != nil {
			b.Fatal(err)
		}
		p.sort()
		for b.Loop() {
			if l := p.lookup("/etc/containers/registries.conf.d/50-provision.conf", unix.S_IFREG); string(l) != label("etc_t")+"\x00" {
				b.Fatalf("%q", l)
			}
		}
	})
}

// A hostile image's file_contexts of short lines whose expressions
// compile to huge programs (2000 such lines, 115 KB, took 13 s and 331 MB
// at the first lookup) is refused when it is read, before any is
// compiled: labels then cannot be known, and the run warns.
func TestLabelPolicyRegexBlowUp(t *testing.T) {
	var fc strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&fc, "(.{1000}|[^/]{1000}|x{1000})%d\tsystem_u:object_r:x_t:s0\n", i)
	}
	p := &policy{}
	err := p.addSpecs("file_contexts", []byte(fc.String()))
	if err == nil || !strings.Contains(err.Error(), "file_contexts:") || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("want a too-large error naming the line, got %v", err)
	}
	// The distribution-sized policy of the benchmark stays well within.
	p = &policy{}
	var ok strings.Builder
	for i := range 6000 {
		fmt.Fprintf(&ok, "/var/lib/pkg%d/[^/]*\\.db(/.*)?\tsystem_u:object_r:pkg%d_db_t:s0\n", i, i)
	}
	if err := p.addSpecs("file_contexts", []byte(ok.String())); err != nil {
		t.Fatal(err)
	}
}
