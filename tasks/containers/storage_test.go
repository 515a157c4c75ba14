package containers

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

const (
	rhel8Kernel  = "4.18.0-553.el8"
	debianKernel = "6.1.0-25-amd64"
)

// newHost returns a test system whose kernel is release; the kernel must
// be written before the first fact is read.
func newHost(t *testing.T, release string) (*tasks.System, *taskstest.FakeRunner) {
	t.Helper()
	sys, run := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/proc/sys/kernel/osrelease", release+"\n")
	return sys, run
}

func str(s string) *string { return &s }

func check(t *testing.T, sys *tasks.System, task tasks.Task) tasks.Plan {
	t.Helper()
	return taskstest.Check(t, sys, task)
}

func wantChanges(t *testing.T, p tasks.Plan, want []tasks.Change) {
	t.Helper()
	taskstest.WantChanges(t, p, want)
}

// A shortened storage.conf in the shape Fedora and RHEL ship.
const fedoraStorageConf = `# This file is the configuration file for all tools
# that use the containers/storage library.
[storage]

# Default Storage Driver, Must be set for proper operation.
driver = "vfs" # set by hand

# Temporary storage location
runroot = "/run/containers/storage"

# Primary Read/Write location of container storage
graphroot = "/var/lib/containers/storage"

[storage.options]
# Storage options to be passed to underlying storage drivers

# AdditionalImageStores is used to pass paths to additional Read/Only image stores
additionalimagestores = [
]

pull_options = {enable_partial_images = "true", use_hard_links = "false", ostree_repos=""}

[storage.options.overlay]
# ignore_chown_errors can be set to allow a non privileged user running with
# a single UID within a user namespace to run containers.
#ignore_chown_errors = "false"

# Path to an helper program to use for mounting the file system instead of mounting it
# directly.
#mount_program = "/usr/bin/fuse-overlayfs"

# mountopt specifies comma separated list of extra mount options
mountopt = "nodev,metacopy=on"

[storage.options.thinpool]
# Storage Options for thinpool
# autoextend_percent = "20"
`

func TestStorageKernelDecidesMountProgram(t *testing.T) {
	t.Run("rhel8 needs fuse-overlayfs", func(t *testing.T) {
		sys, _ := newHost(t, rhel8Kernel)
		taskstest.WriteFile(t, sys, FuseOverlayfs, "")
		s := &Storage{}
		p := check(t, sys, s)
		want := minimalStorageConf + "\n[storage.options.overlay]\nmount_program = \"/usr/bin/fuse-overlayfs\"\n"
		wantChanges(t, p, []tasks.Change{
			{Field: "storage.options.overlay.mount_program", After: FuseOverlayfs},
			{Field: "content", Path: StorageConf, After: want},
		})
		if len(p.Warnings) != 0 {
			t.Errorf("warnings: %q", p.Warnings)
		}
		taskstest.Converge(t, sys, s)
		if got := taskstest.ReadFile(t, sys, StorageConf); got != want {
			t.Fatalf("file:\n%s", got)
		}
	})
	t.Run("debian has native overlay", func(t *testing.T) {
		sys, _ := newHost(t, debianKernel)
		s := &Storage{}
		p := check(t, sys, s)
		// No storage.conf anywhere: podman would run on compiled-in
		// defaults (vfs on Debian), so the file is written.
		wantChanges(t, p, []tasks.Change{{Field: "content", Path: StorageConf, After: minimalStorageConf}})
		taskstest.Converge(t, sys, s)
	})
	t.Run("the distribution default already matches", func(t *testing.T) {
		sys, _ := newHost(t, debianKernel)
		taskstest.WriteFile(t, sys, StorageConfDefault, minimalStorageConf)
		p := check(t, sys, &Storage{})
		wantChanges(t, p, nil)
		if sys.Exists(StorageConf) {
			t.Fatal("wrote a storage.conf that changes nothing")
		}
	})
	t.Run("native kernel removes a configured mount program", func(t *testing.T) {
		sys, _ := newHost(t, debianKernel)
		old := "[storage]\ndriver = \"overlay\"\n\n[storage.options]\nmount_program = \"/usr/bin/fuse-overlayfs\"\n\n[storage.options.overlay]\nmount_program = \"/usr/bin/fuse-overlayfs\"\nmountopt = \"nodev\"\n"
		taskstest.WriteFile(t, sys, StorageConf, old)
		s := &Storage{MountProgram: str("auto")}
		p := check(t, sys, s)
		want := "[storage]\ndriver = \"overlay\"\n\n[storage.options]\n\n[storage.options.overlay]\nmountopt = \"nodev\"\n"
		wantChanges(t, p, []tasks.Change{
			{Field: "storage.options.overlay.mount_program", Before: FuseOverlayfs},
			{Field: "content", Path: StorageConf, Before: old, After: want},
		})
		taskstest.Converge(t, sys, s)
		if got := taskstest.ReadFile(t, sys, StorageConf); got != want {
			t.Fatalf("file:\n%s", got)
		}
	})
	t.Run("missing fuse-overlayfs is a warning", func(t *testing.T) {
		sys, _ := newHost(t, rhel8Kernel)
		p := check(t, sys, &Storage{})
		if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "fuse-overlayfs") {
			t.Fatalf("warnings %q", p.Warnings)
		}
	})
}

func TestStoragePreservesFile(t *testing.T) {
	sys, _ := newHost(t, rhel8Kernel)
	taskstest.WriteFile(t, sys, FuseOverlayfs, "")
	taskstest.WriteFile(t, sys, StorageConf, fedoraStorageConf)
	if err := os.Chmod(sys.MustPath(StorageConf), 0o640); err != nil {
		t.Fatal(err)
	}
	s := &Storage{Driver: "overlay", Mountopt: str("nodev")}
	p := check(t, sys, s)
	want := strings.NewReplacer(
		`driver = "vfs" # set by hand`, `driver = "overlay" # set by hand`,
		"#mount_program = \"/usr/bin/fuse-overlayfs\"\n", "#mount_program = \"/usr/bin/fuse-overlayfs\"\nmount_program = \"/usr/bin/fuse-overlayfs\"\n",
		`mountopt = "nodev,metacopy=on"`, `mountopt = "nodev"`,
	).Replace(fedoraStorageConf)
	wantChanges(t, p, []tasks.Change{
		{Field: "storage.driver", Before: "vfs", After: "overlay"},
		{Field: "storage.options.overlay.mount_program", After: FuseOverlayfs},
		{Field: "storage.options.overlay.mountopt", Before: "nodev,metacopy=on", After: "nodev"},
		{Field: "content", Path: StorageConf, Before: fedoraStorageConf, After: want},
	})
	taskstest.Converge(t, sys, s)
	if got := taskstest.ReadFile(t, sys, StorageConf); got != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
	if st, _ := sys.Stat(StorageConf); st.Mode().Perm() != 0o640 {
		t.Errorf("mode changed to %v", st.Mode())
	}
}

func TestStorageStartsFromDistroDefault(t *testing.T) {
	sys, _ := newHost(t, debianKernel)
	def := "# distro default\n[storage]\ndriver = \"\"\nrunroot = \"/run/containers/storage\"\ngraphroot = \"/var/lib/containers/storage\"\n\n[storage.options]\npull_options = {enable_partial_images = \"false\"}\n"
	taskstest.WriteFile(t, sys, StorageConfDefault, def)
	s := &Storage{}
	p := check(t, sys, s)
	want := strings.Replace(def, `driver = ""`, `driver = "overlay"`, 1)
	wantChanges(t, p, []tasks.Change{
		{Field: "storage.driver", After: "overlay"},
		{Field: "content", Path: StorageConf, After: want},
	})
	taskstest.Converge(t, sys, s)
	if got := taskstest.ReadFile(t, sys, StorageConf); got != want {
		t.Fatalf("file:\n%s", got)
	}
	if got := taskstest.ReadFile(t, sys, StorageConfDefault); got != def {
		t.Fatal("the distribution default was modified")
	}
	st, _ := sys.Stat(StorageConf)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
}

func TestStorageDistroDefaultAlreadyRight(t *testing.T) {
	sys, _ := newHost(t, debianKernel)
	taskstest.WriteFile(t, sys, StorageConfDefault, "[storage]\ndriver = \"overlay\"\n")
	p := check(t, sys, &Storage{})
	wantChanges(t, p, nil)
	if sys.Exists(StorageConf) {
		t.Fatal("copied the default for nothing")
	}
}

func TestStorageEdits(t *testing.T) {
	cases := []struct {
		name      string
		kernel    string
		old, want string
		s         Storage
	}{
		{
			name:   "literal quotes that already match are kept",
			kernel: debianKernel,
			old:    "[storage]\ndriver = 'overlay'\n",
			want:   "[storage]\ndriver = 'overlay'\n",
		},
		{
			name:   "missing overlay table is appended",
			kernel: rhel8Kernel,
			old:    "[storage]\ndriver = \"overlay\"",
			want:   "[storage]\ndriver = \"overlay\"\n\n[storage.options.overlay]\nmount_program = \"/usr/bin/fuse-overlayfs\"\n",
		},
		{
			name:   "missing storage table goes after its sub-table, not as a top-level key",
			kernel: debianKernel,
			old:    "# only options\n[storage.options.overlay]\nmountopt = \"nodev\"\n",
			want:   "# only options\n[storage.options.overlay]\nmountopt = \"nodev\"\n\n[storage]\ndriver = \"overlay\"\n",
		},
		{
			name:   "key is added to its table, before the next table",
			kernel: debianKernel,
			old:    "[storage]\nrunroot = \"/run/containers/storage\"\n# next\n[storage.options]\nsize = \"\"\n",
			want:   "[storage]\nrunroot = \"/run/containers/storage\"\ndriver = \"overlay\"\n# next\n[storage.options]\nsize = \"\"\n",
		},
		{
			name:   "dotted keys in a parent table get a dotted sibling",
			kernel: rhel8Kernel,
			old:    "[storage]\ndriver = \"overlay\"\n  options.overlay.mountopt = \"nodev\"\n",
			want:   "[storage]\ndriver = \"overlay\"\n  options.overlay.mountopt = \"nodev\"\n  options.overlay.mount_program = \"/usr/bin/fuse-overlayfs\"\n",
		},
		{
			name:   "multi-line values and strings that look like headers",
			kernel: debianKernel,
			old:    "[storage]\nnote = \"\"\"\n[storage.options.overlay]\ndriver = \"x\"\n\"\"\"\ndriver = \"vfs\"\n[storage.options]\nadditionalimagestores = [\n  \"/a\", # [x]\n  \"/b\",\n]\n",
			want:   "[storage]\nnote = \"\"\"\n[storage.options.overlay]\ndriver = \"x\"\n\"\"\"\ndriver = \"overlay\"\n[storage.options]\nadditionalimagestores = [\n  \"/a\", # [x]\n  \"/b\",\n]\n",
		},
		{
			name:   "array tables are never edited",
			kernel: debianKernel,
			old:    "[[storage]]\ndriver = \"vfs\"\n",
			want:   "",
		},
		{
			name:   "none removes the legacy key too",
			kernel: rhel8Kernel,
			old:    "[storage]\ndriver = \"overlay\"\n[storage.options]\nmount_program = \"/usr/bin/fuse-overlayfs\" # legacy\nmountopt = \"nodev\"\n",
			want:   "[storage]\ndriver = \"overlay\"\n[storage.options]\nmountopt = \"nodev\"\n",
			s:      Storage{MountProgram: str("none")},
		},
		{
			name:   "explicit path",
			kernel: debianKernel,
			old:    "[storage]\ndriver = \"overlay\"\n[storage.options.overlay]\n",
			want:   "[storage]\ndriver = \"overlay\"\n[storage.options.overlay]\nmount_program = \"/usr/local/bin/fuse-overlayfs\"\n",
			s:      Storage{MountProgram: str("/usr/local/bin/fuse-overlayfs")},
		},
		{
			name:   "roots set and removed, CRLF kept",
			kernel: debianKernel,
			old:    "[storage]\r\ndriver = \"overlay\"\r\ngraphroot = \"/var/lib/containers/storage\"\r\nrootless_storage_path = \"$HOME/x\"\r\n",
			want:   "[storage]\r\ndriver = \"overlay\"\r\ngraphroot = \"/srv/containers\"\r\nrunroot = \"/run/c\"\r\n",
			s:      Storage{Graphroot: str("/srv/containers"), Runroot: str("/run/c"), RootlessStoragePath: str("")},
		},
		{
			name:   "vfs leaves mount_program alone",
			kernel: rhel8Kernel,
			old:    "[storage]\ndriver = \"vfs\"\n[storage.options.overlay]\nmount_program = \"/x\"\n",
			want:   "[storage]\ndriver = \"vfs\"\n[storage.options.overlay]\nmount_program = \"/x\"\n",
			s:      Storage{Driver: "vfs"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sys, _ := newHost(t, c.kernel)
			taskstest.WriteFile(t, sys, FuseOverlayfs, "")
			taskstest.WriteFile(t, sys, StorageConf, c.old)
			s := c.s
			p, err := s.Check(context.Background(), sys)
			if c.want == "" {
				if err == nil || !strings.Contains(err.Error(), "podman refuses /etc/containers/storage.conf:1: toml: line 1") {
					t.Fatalf("error %v; plan %s", err, p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.want == c.old {
				wantChanges(t, p, nil)
				return
			}
			last := p.Changes[len(p.Changes)-1]
			if last.Path != StorageConf || last.Before != c.old || last.After != c.want {
				t.Fatalf("content change:\n%q\nwant:\n%q", last.After, c.want)
			}
			taskstest.Converge(t, sys, &s)
		})
	}
}

func TestStorageRefusesBrokenFile(t *testing.T) {
	sys, _ := newHost(t, debianKernel)
	taskstest.WriteFile(t, sys, StorageConf, "[storage\ndriver = \"overlay\"\n")
	_, err := (&Storage{}).Check(context.Background(), sys)
	if err == nil || !strings.Contains(err.Error(), "podman refuses /etc/containers/storage.conf:2:9: toml: line 2") {
		t.Fatalf("error %v", err)
	}
}

func TestStorageWarnsAboutOldDriverStorage(t *testing.T) {
	sys, _ := newHost(t, debianKernel)
	taskstest.WriteFile(t, sys, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n")
	taskstest.WriteFile(t, sys, "/home/alice/.local/share/containers/storage/vfs-images/images.json", "[]")
	taskstest.WriteFile(t, sys, "/home/bob/.local/share/containers/storage/overlay-images/images.json", "[]")
	taskstest.WriteFile(t, sys, "/var/lib/containers/storage/vfs-images/images.json", "[]")
	taskstest.WriteFile(t, sys, StorageConf, "[storage]\ndriver = \"vfs\"\n")
	p := check(t, sys, &Storage{})
	if len(p.Warnings) != 1 {
		t.Fatalf("warnings %q", p.Warnings)
	}
	w := p.Warnings[0]
	for _, want := range []string{"alice (/home/alice/.local/share/containers/storage/vfs-images)", "root (/var/lib/containers/storage/vfs-images)", "podman system reset"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q lacks %q", w, want)
		}
	}
	if strings.Contains(w, "bob") {
		t.Errorf("warning %q names bob, whose storage already is overlay", w)
	}
	taskstest.Converge(t, sys, &Storage{})
	// No driver change, no warning.
	if p := check(t, sys, &Storage{}); len(p.Warnings) != 0 {
		t.Fatalf("warnings after converging: %q", p.Warnings)
	}
}

func TestStorageWarnsWithRootlessStoragePath(t *testing.T) {
	sys, _ := newHost(t, debianKernel)
	taskstest.WriteFile(t, sys, "/etc/passwd", "alice:x:1000:1000::/home/alice:/bin/bash\n")
	taskstest.WriteFile(t, sys, "/srv/containers/alice/1000/vfs-images/x", "")
	taskstest.WriteFile(t, sys, StorageConf, "[storage]\ndriver = \"vfs\"\n")
	s := &Storage{RootlessStoragePath: str("/srv/containers/$USER/$UID")}
	p := check(t, sys, s)
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "/srv/containers/alice/1000/vfs-images") {
		t.Fatalf("warnings %q", p.Warnings)
	}
}

func TestStorageValidate(t *testing.T) {
	cases := []struct {
		s   Storage
		arg string
	}{
		{Storage{}, ""},
		{Storage{Driver: "btrfs", MountProgram: str("")}, ""},
		{Storage{Driver: "overlay2"}, "driver"},
		{Storage{Driver: "aufs"}, "driver"},
		{Storage{MountProgram: str("fuse-overlayfs")}, "mount_program"},
		{Storage{MountProgram: str("/usr/bin/../bin/fuse-overlayfs")}, "mount_program"},
		{Storage{Mountopt: str("nodev, metacopy=on")}, "mountopt"},
		{Storage{Graphroot: str("var/lib")}, "graphroot"},
		{Storage{Runroot: str("/run/x\n[evil]")}, "runroot"},
		{Storage{RootlessStoragePath: str("$HOME/.containers")}, ""},
		{Storage{RootlessStoragePath: str("containers")}, "rootless_storage_path"},
	}
	for _, c := range cases {
		s := c.s
		err := s.Validate()
		var ae *tasks.ArgError
		switch {
		case c.arg == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", c.s, err)
		case c.arg != "" && (!errors.As(err, &ae) || ae.Arg != c.arg):
			t.Errorf("%+v: error %v, want one for %s", c.s, err, c.arg)
		}
	}
}

// A user's own storage.conf replaces the system file for that user: the
// task says so, with what podman uses for the user, when it differs from
// what the system file gives; a user file podman refuses is reported too.
func TestStorageWarnsAboutUserFiles(t *testing.T) {
	sys, _ := newHost(t, debianKernel)
	taskstest.WriteFile(t, sys, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\ncarol:x:1002:1002::/home/carol:/bin/bash\n")
	taskstest.WriteFile(t, sys, StorageConf, "[storage]\ndriver = \"vfs\"\n")
	taskstest.WriteFile(t, sys, "/home/alice/.config/containers/storage.conf", "[storage]\ndriver = \"vfs\"\n")
	taskstest.WriteFile(t, sys, "/home/bob/.config/containers/storage.conf", "[storage]\ndriver = \"overlay\"\n")
	taskstest.WriteFile(t, sys, "/home/carol/.config/containers/storage.conf", "[storage]\ndriver = 1\n")
	p := check(t, sys, &Storage{})
	want := []string{
		"/home/alice/.config/containers/storage.conf replaces /etc/containers/storage.conf for alice, so this task's settings do not apply to alice: podman uses driver vfs, graphroot /home/alice/.local/share/containers/storage, runroot /run/user/1000/containers (the system file would give driver overlay, graphroot /home/alice/.local/share/containers/storage, runroot /run/user/1000/containers)",
		`/home/carol/.config/containers/storage.conf: podman refuses it, so podman fails for carol: /home/carol/.config/containers/storage.conf:2: toml: line 2 (last key "storage.driver"): incompatible types: TOML value has type int64; destination has type string`,
	}
	if !reflect.DeepEqual(p.Warnings, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(p.Warnings, "\n"), strings.Join(want, "\n"))
	}
}

// A user links ~/.config/containers/storage.conf to /etc/shadow: the task
// warns that the file is refused, and shows none of /etc/shadow (read as
// root, its values came back in the warning).
func TestStorageUserLinkToShadow(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to read as another user; CI runs it as root")
	}
	sys, _ := newHost(t, debianKernel)
	taskstest.WriteFile(t, sys, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n")
	taskstest.WriteFile(t, sys, "/etc/shadow", "[storage]\ndriver = \"SECRETHASH\"\n")
	if err := os.Chmod(taskstest.HostPath(sys, "/etc/shadow"), 0o600); err != nil {
		t.Fatal(err)
	}
	taskstest.WriteFile(t, sys, "/home/alice/.config/containers/x", "")
	link := taskstest.HostPath(sys, "/home/alice/.config/containers/storage.conf")
	if err := os.Symlink("/etc/shadow", link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/home/alice", "/home/alice/.config", "/home/alice/.config/containers", "/home/alice/.config/containers/storage.conf"} {
		if err := os.Lchown(taskstest.HostPath(sys, p), 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	p := check(t, sys, &Storage{})
	all := strings.Join(p.Warnings, "\n")
	if strings.Contains(all, "SECRETHASH") {
		t.Fatalf("the plan shows /etc/shadow:\n%s", all)
	}
	if !strings.Contains(all, "/home/alice/.config/containers/storage.conf: refused: uid 1000 cannot read it") {
		t.Errorf("no warning that alice's file is refused:\n%s", all)
	}
}
