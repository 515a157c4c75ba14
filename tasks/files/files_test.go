package files

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"

	"github.com/provision-tool/provision/testhost"
)

func str(s string) *string { return &s }

// snapshot is taskstest.Snapshot plus symlink targets, which it does not
// record.
func snapshot(t *testing.T, sys *tasks.System) map[string]string {
	t.Helper()
	s := taskstest.Snapshot(t, sys)
	err := filepath.Walk(sys.Root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(sys.Root, p)
			s[rel] += " -> " + target
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkOnly runs Check and fails the test when Check touched the host.
func checkOnly(t *testing.T, sys *tasks.System, task tasks.Task) (tasks.Plan, error) {
	t.Helper()
	before := snapshot(t, sys)
	p, err := task.Check(context.Background(), sys)
	if after := snapshot(t, sys); !reflect.DeepEqual(before, after) {
		t.Errorf("check changed the host:\nbefore %v\nafter  %v", before, after)
	}
	return p, err
}

func modeOf(t *testing.T, sys *tasks.System, p string) string {
	t.Helper()
	fi, err := os.Lstat(taskstest.HostPath(sys, p))
	if err != nil {
		t.Fatal(err)
	}
	return fmtMode(unixMode(fi))
}

func chmod(t *testing.T, sys *tasks.System, p string, m fs.FileMode) {
	t.Helper()
	if err := os.Chmod(taskstest.HostPath(sys, p), m); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, sys *tasks.System, p string) {
	t.Helper()
	if err := os.MkdirAll(taskstest.HostPath(sys, p), 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, sys *tasks.System, target, p string) {
	t.Helper()
	mkdir(t, sys, filepath.Dir(p))
	if err := os.Symlink(target, taskstest.HostPath(sys, p)); err != nil {
		t.Fatal(err)
	}
}

func readlink(t *testing.T, sys *tasks.System, p string) string {
	t.Helper()
	target, err := os.Readlink(taskstest.HostPath(sys, p))
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// noLeftovers fails when a temp file or link of the atomic writers is left
// in dir.
func noLeftovers(t *testing.T, sys *tasks.System, dir string) {
	t.Helper()
	entries, err := os.ReadDir(taskstest.HostPath(sys, dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".provision-") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}

type planCase struct {
	name    string
	setup   func(t *testing.T, sys *tasks.System)
	task    tasks.Task
	want    []tasks.Change // nil: an empty plan
	wantErr string         // a substring of Check's error
	after   func(t *testing.T, sys *tasks.System)
}

// runCases checks each case's exact plan, proves that Check touched
// nothing, then applies and proves convergence, and finally runs the
// case's own assertions on the host.
func runCases(t *testing.T, cases []planCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sys, _ := taskstest.New(t)
			if tc.setup != nil {
				tc.setup(t, sys)
			}
			p, err := checkOnly(t, sys, tc.task)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("check error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			if !reflect.DeepEqual(p.Changes, tc.want) {
				t.Fatalf("plan:\n got %#v\nwant %#v", p.Changes, tc.want)
			}
			first := taskstest.Converge(t, sys, tc.task)
			if !reflect.DeepEqual(first.Changes, tc.want) {
				t.Fatalf("converge plan differs: %#v", first.Changes)
			}
			if tc.after != nil {
				tc.after(t, sys)
			}
		})
	}
}

func TestFileRegular(t *testing.T) {
	runCases(t, []planCase{{
		name: "create with content",
		setup: func(t *testing.T, sys *tasks.System) {
			mkdir(t, sys, "/etc")
		},
		task: &File{Path: "/etc/motd", Content: str("hello\n")},
		want: []tasks.Change{
			{Field: "state", Before: "absent", After: "file"},
			{Field: "content", Path: "/etc/motd", Before: "", After: "hello\n"},
		},
		after: func(t *testing.T, sys *tasks.System) {
			if got := taskstest.ReadFile(t, sys, "/etc/motd"); got != "hello\n" {
				t.Errorf("content %q", got)
			}
			if m := modeOf(t, sys, "/etc/motd"); m != "0644" {
				t.Errorf("mode %s, want the default 0644", m)
			}
			noLeftovers(t, sys, "/etc")
		},
	}, {
		name: "create empty file with mode",
		setup: func(t *testing.T, sys *tasks.System) {
			mkdir(t, sys, "/etc")
		},
		task: &File{Path: "/etc/empty", Content: str(""), Mode: "0600"},
		want: []tasks.Change{
			{Field: "state", Before: "absent", After: "file"},
			{Field: "content", Path: "/etc/empty", Before: "", After: ""},
			{Field: "mode", Before: "", After: "0600"},
		},
		after: func(t *testing.T, sys *tasks.System) {
			if m := modeOf(t, sys, "/etc/empty"); m != "0600" {
				t.Errorf("mode %s", m)
			}
		},
	}, {
		name: "mode 0000 is a mode, not keep",
		setup: func(t *testing.T, sys *tasks.System) {
			if os.Geteuid() != 0 {
				testhost.Skipf(t, "reading back a mode 0000 file needs root")
			}
			mkdir(t, sys, "/etc")
		},
		task: &Copy{Dest: "/etc/locked", Content: str("x"), Mode: "0000"},
		want: []tasks.Change{
			{Field: "state", Before: "absent", After: "file"},
			{Field: "content", Path: "/etc/locked", Before: "", After: "x"},
			{Field: "mode", Before: "", After: "0000"},
		},
		after: func(t *testing.T, sys *tasks.System) {
			if m := modeOf(t, sys, "/etc/locked"); m != "0000" {
				t.Errorf("mode %s", m)
			}
		},
	}, {
		name: "content differs",
		setup: func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/etc/motd", "old\n")
			chmod(t, sys, "/etc/motd", 0o640)
		},
		task: &File{Path: "/etc/motd", Content: str("new\n")},
		want: []tasks.Change{{Field: "content", Path: "/etc/motd", Before: "old\n", After: "new\n"}},
		after: func(t *testing.T, sys *tasks.System) {
			if got := taskstest.ReadFile(t, sys, "/etc/motd"); got != "new\n" {
				t.Errorf("content %q", got)
			}
			if m := modeOf(t, sys, "/etc/motd"); m != "0640" {
				t.Errorf("mode %s, want the old mode kept", m)
			}
			if _, err := os.Lstat(taskstest.HostPath(sys, "/etc/motd~")); err == nil {
				t.Errorf("backup made without backup: true")
			}
		},
	}, {
		name: "content and mode differ",
		setup: func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/etc/motd", "old\n")
		},
		task: &File{Path: "/etc/motd", Content: str("new\n"), Mode: "0600"},
		want: []tasks.Change{
			{Field: "content", Path: "/etc/motd", Before: "old\n", After: "new\n"},
			{Field: "mode", Before: "0644", After: "0600"},
		},
		after: func(t *testing.T, sys *tasks.System) {
			if m := modeOf(t, sys, "/etc/motd"); m != "0600" {
				t.Errorf("mode %s", m)
			}
		},
	}, {
		name: "only mode differs, content kept",
		setup: func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/etc/secret", "s3cret\n")
		},
		task: &File{Path: "/etc/secret", Mode: "0600"},
		want: []tasks.Change{{Field: "mode", Before: "0644", After: "0600"}},
		after: func(t *testing.T, sys *tasks.System) {
			if m := modeOf(t, sys, "/etc/secret"); m != "0600" {
				t.Errorf("mode %s", m)
			}
			if got := taskstest.ReadFile(t, sys, "/etc/secret"); got != "s3cret\n" {
				t.Errorf("content %q", got)
			}
		},
	}, {
		name: "setuid bit in mode",
		setup: func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/usr/bin/tool", "#!/bin/sh\n")
			chmod(t, sys, "/usr/bin/tool", 0o755)
		},
		task: &File{Path: "/usr/bin/tool", Mode: "4755"},
		want: []tasks.Change{{Field: "mode", Before: "0755", After: "4755"}},
		after: func(t *testing.T, sys *tasks.System) {
			if m := modeOf(t, sys, "/usr/bin/tool"); m != "4755" {
				t.Errorf("mode %s", m)
			}
		},
	}, {
		name: "already right",
		setup: func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/etc/motd", "same\n")
		},
		task: &File{Path: "/etc/motd", Content: str("same\n"), Mode: "644"},
	}, {
		name:    "missing without content",
		setup:   func(t *testing.T, sys *tasks.System) { mkdir(t, sys, "/etc") },
		task:    &File{Path: "/etc/nothing", Mode: "0600"},
		wantErr: "/etc/nothing does not exist",
	}, {
		name:    "directory in the way",
		setup:   func(t *testing.T, sys *tasks.System) { mkdir(t, sys, "/etc/motd") },
		task:    &File{Path: "/etc/motd", Content: str("x")},
		wantErr: "/etc/motd is a directory",
	}, {
		name:    "symlink without content is refused",
		setup:   func(t *testing.T, sys *tasks.System) { symlink(t, sys, "/etc/real", "/etc/motd") },
		task:    &File{Path: "/etc/motd", Mode: "0644"},
		wantErr: "/etc/motd is a link, not a regular file",
	}, {
		name: "symlink replaced by content",
		setup: func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/etc/real", "real\n")
			symlink(t, sys, "/etc/real", "/etc/motd")
		},
		task: &File{Path: "/etc/motd", Content: str("mine\n")},
		want: []tasks.Change{
			{Field: "state", Before: "link", After: "file"},
			{Field: "content", Path: "/etc/motd", Before: "", After: "mine\n"},
		},
		after: func(t *testing.T, sys *tasks.System) {
			if m := modeOf(t, sys, "/etc/motd"); m != "0644" {
				t.Errorf("mode %s, want 0644 rather than the link's 0777", m)
			}
			if got := taskstest.ReadFile(t, sys, "/etc/real"); got != "real\n" {
				t.Errorf("link target was written through: %q", got)
			}
		},
	}})
}

func TestFileDirectory(t *testing.T) {
	runCases(t, []planCase{{
		name: "create nested with mode",
		task: &File{Path: "/srv/app/data", State: "directory", Mode: "0750"},
		want: []tasks.Change{
			{Field: "state", Before: "absent", After: "directory"},
			{Field: "mode", Before: "", After: "0750"},
		},
		after: func(t *testing.T, sys *tasks.System) {
			if m := modeOf(t, sys, "/srv/app/data"); m != "0750" {
				t.Errorf("mode %s", m)
			}
			if m := modeOf(t, sys, "/srv/app"); m != "0755" {
				t.Errorf("parent mode %s", m)
			}
		},
	}, {
		name: "create with default mode",
		task: &File{Path: "/srv/app", State: "directory"},
		want: []tasks.Change{{Field: "state", Before: "absent", After: "directory"}},
		after: func(t *testing.T, sys *tasks.System) {
			if m := modeOf(t, sys, "/srv/app"); m != "0755" {
				t.Errorf("mode %s", m)
			}
		},
	}, {
		name:  "existing, mode differs",
		setup: func(t *testing.T, sys *tasks.System) { mkdir(t, sys, "/srv/app") },
		task:  &File{Path: "/srv/app", State: "directory", Mode: "1777"},
		want:  []tasks.Change{{Field: "mode", Before: "0755", After: "1777"}},
		after: func(t *testing.T, sys *tasks.System) {
			if m := modeOf(t, sys, "/srv/app"); m != "1777" {
				t.Errorf("mode %s", m)
			}
		},
	}, {
		name:  "existing, nothing to do",
		setup: func(t *testing.T, sys *tasks.System) { mkdir(t, sys, "/srv/app") },
		task:  &File{Path: "/srv/app/", State: "directory", Mode: "0755"},
	}, {
		name:    "file in the way",
		setup:   func(t *testing.T, sys *tasks.System) { taskstest.WriteFile(t, sys, "/srv/app", "x") },
		task:    &File{Path: "/srv/app", State: "directory"},
		wantErr: "/srv/app exists and is a file, not a directory",
	}, {
		name:    "file in the way of a parent",
		setup:   func(t *testing.T, sys *tasks.System) { taskstest.WriteFile(t, sys, "/srv", "x") },
		task:    &File{Path: "/srv/app/data", State: "directory"},
		wantErr: "cannot create /srv/app/data: /srv is a file",
	}, {
		name:    "symlink is not followed",
		setup:   func(t *testing.T, sys *tasks.System) { mkdir(t, sys, "/real"); symlink(t, sys, "/real", "/srv") },
		task:    &File{Path: "/srv", State: "directory"},
		wantErr: "/srv exists and is a link, not a directory",
	}})
}

func TestFileAbsent(t *testing.T) {
	runCases(t, []planCase{{
		name:  "file removed",
		setup: func(t *testing.T, sys *tasks.System) { taskstest.WriteFile(t, sys, "/etc/old.conf", "x") },
		task:  &File{Path: "/etc/old.conf", State: "absent"},
		want:  []tasks.Change{{Field: "state", Before: "file", After: "absent"}},
		after: func(t *testing.T, sys *tasks.System) {
			if sys.Exists("/etc/old.conf") {
				t.Error("file still there")
			}
			if !sys.Exists("/etc") {
				t.Error("parent removed")
			}
		},
	}, {
		name: "link removed, target kept",
		setup: func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/etc/real", "x")
			symlink(t, sys, "/etc/real", "/etc/link")
		},
		task: &File{Path: "/etc/link", State: "absent"},
		want: []tasks.Change{{Field: "state", Before: "link", After: "absent"}},
		after: func(t *testing.T, sys *tasks.System) {
			if sys.Exists("/etc/link") || !sys.Exists("/etc/real") {
				t.Error("wrong thing removed")
			}
		},
	}, {
		name: "already absent",
		task: &File{Path: "/etc/nothing", State: "absent"},
	}, {
		name:  "empty directory removed",
		setup: func(t *testing.T, sys *tasks.System) { mkdir(t, sys, "/srv/empty") },
		task:  &File{Path: "/srv/empty", State: "absent"},
		want:  []tasks.Change{{Field: "state", Before: "directory", After: "absent"}},
	}, {
		name:    "non-empty directory refused",
		setup:   func(t *testing.T, sys *tasks.System) { taskstest.WriteFile(t, sys, "/srv/data/f", "x") },
		task:    &File{Path: "/srv/data", State: "absent"},
		wantErr: "/srv/data is a non-empty directory (set force: true",
	}, {
		name:  "non-empty directory with force",
		setup: func(t *testing.T, sys *tasks.System) { taskstest.WriteFile(t, sys, "/srv/data/sub/f", "x") },
		task:  &File{Path: "/srv/data", State: "absent", Force: true},
		want:  []tasks.Change{{Field: "state", Before: "directory", After: "absent"}},
		after: func(t *testing.T, sys *tasks.System) {
			if sys.Exists("/srv/data") || !sys.Exists("/srv") {
				t.Error("wrong removal")
			}
		},
	}})
}

func TestFileLink(t *testing.T) {
	runCases(t, []planCase{{
		name:  "new link",
		setup: func(t *testing.T, sys *tasks.System) { mkdir(t, sys, "/opt/app/releases/42") },
		task:  &File{Path: "/opt/app/current", State: "link", Src: "releases/42"},
		want: []tasks.Change{
			{Field: "state", Before: "absent", After: "link"},
			{Field: "target", Before: "", After: "releases/42"},
		},
		after: func(t *testing.T, sys *tasks.System) {
			if got := readlink(t, sys, "/opt/app/current"); got != "releases/42" {
				t.Errorf("target %q", got)
			}
			noLeftovers(t, sys, "/opt/app")
		},
	}, {
		name:  "target changes",
		setup: func(t *testing.T, sys *tasks.System) { symlink(t, sys, "/opt/app/releases/41", "/opt/app/current") },
		task:  &File{Path: "/opt/app/current", State: "link", Src: "/opt/app/releases/42"},
		want:  []tasks.Change{{Field: "target", Before: "/opt/app/releases/41", After: "/opt/app/releases/42"}},
		after: func(t *testing.T, sys *tasks.System) {
			if got := readlink(t, sys, "/opt/app/current"); got != "/opt/app/releases/42" {
				t.Errorf("target %q", got)
			}
			noLeftovers(t, sys, "/opt/app")
		},
	}, {
		name:  "already right",
		setup: func(t *testing.T, sys *tasks.System) { symlink(t, sys, "/x", "/opt/link") },
		task:  &File{Path: "/opt/link", State: "link", Src: "/x"},
	}, {
		name:    "file in the way",
		setup:   func(t *testing.T, sys *tasks.System) { taskstest.WriteFile(t, sys, "/opt/link", "x") },
		task:    &File{Path: "/opt/link", State: "link", Src: "/x"},
		wantErr: "/opt/link is a file (set force: true",
	}, {
		name:  "file replaced with force",
		setup: func(t *testing.T, sys *tasks.System) { taskstest.WriteFile(t, sys, "/opt/link", "x") },
		task:  &File{Path: "/opt/link", State: "link", Src: "/x", Force: true},
		want: []tasks.Change{
			{Field: "state", Before: "file", After: "link"},
			{Field: "target", Before: "", After: "/x"},
		},
		after: func(t *testing.T, sys *tasks.System) {
			if got := readlink(t, sys, "/opt/link"); got != "/x" {
				t.Errorf("target %q", got)
			}
		},
	}, {
		name:    "directory is never replaced",
		setup:   func(t *testing.T, sys *tasks.System) { mkdir(t, sys, "/opt/link") },
		task:    &File{Path: "/opt/link", State: "link", Src: "/x", Force: true},
		wantErr: "/opt/link is a directory; refusing",
	}})
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestBinaryContent(t *testing.T) {
	bin := "\x7fELF\x00\x01\x02"
	latin1 := "caf\xe9\n"
	runCases(t, []planCase{{
		name:  "new binary file",
		setup: func(t *testing.T, sys *tasks.System) { mkdir(t, sys, "/bin") },
		task:  &File{Path: "/bin/prog", Content: str(bin)},
		want: []tasks.Change{
			{Field: "state", Before: "absent", After: "file"},
			{Field: "content", Before: "", After: "(binary, 7 bytes, sha256 " + sha(bin) + ")"},
		},
		after: func(t *testing.T, sys *tasks.System) {
			if got := taskstest.ReadFile(t, sys, "/bin/prog"); got != bin {
				t.Errorf("content %q", got)
			}
		},
	}, {
		name:  "text replaced by invalid UTF-8",
		setup: func(t *testing.T, sys *tasks.System) { taskstest.WriteFile(t, sys, "/etc/f", "text\n") },
		task:  &File{Path: "/etc/f", Content: str(latin1)},
		want: []tasks.Change{{Field: "content",
			Before: "(text, 5 bytes, sha256 " + sha("text\n") + ")",
			After:  "(binary, 5 bytes, sha256 " + sha(latin1) + ")"}},
	}, {
		name:  "binary replaced by text",
		setup: func(t *testing.T, sys *tasks.System) { taskstest.WriteFile(t, sys, "/etc/f", bin) },
		task:  &Copy{Dest: "/etc/f", Content: str("text\n")},
		want: []tasks.Change{{Field: "content",
			Before: "(binary, 7 bytes, sha256 " + sha(bin) + ")",
			After:  "(text, 5 bytes, sha256 " + sha("text\n") + ")"}},
	}})
}

func TestCopy(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "files", "mirror.conf"), []byte("[[registry]]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withSource := func(t *testing.T, sys *tasks.System) {
		sys.SourceDir = src
		mkdir(t, sys, "/etc/containers")
	}
	runCases(t, []planCase{{
		name:  "src relative to the playbook directory",
		setup: withSource,
		task:  &Copy{Src: "files/mirror.conf", Dest: "/etc/containers/mirror.conf", Mode: "0644"},
		want: []tasks.Change{
			{Field: "state", Before: "absent", After: "file"},
			{Field: "content", Path: "/etc/containers/mirror.conf", Before: "", After: "[[registry]]\n"},
			{Field: "mode", Before: "", After: "0644"},
		},
		after: func(t *testing.T, sys *tasks.System) {
			if got := taskstest.ReadFile(t, sys, "/etc/containers/mirror.conf"); got != "[[registry]]\n" {
				t.Errorf("content %q", got)
			}
		},
	}, {
		name:  "absolute src on the controller, not under the host root",
		setup: func(t *testing.T, sys *tasks.System) { mkdir(t, sys, "/etc") },
		task:  &Copy{Src: filepath.Join(src, "files", "mirror.conf"), Dest: "/etc/mirror.conf"},
		want: []tasks.Change{
			{Field: "state", Before: "absent", After: "file"},
			{Field: "content", Path: "/etc/mirror.conf", Before: "", After: "[[registry]]\n"},
		},
		after: func(t *testing.T, sys *tasks.System) {
			if m := modeOf(t, sys, "/etc/mirror.conf"); m != "0644" {
				t.Errorf("mode %s: a new file gets 0644, not the source's mode", m)
			}
		},
	}, {
		name: "backup keeps the old file",
		setup: func(t *testing.T, sys *tasks.System) {
			taskstest.WriteFile(t, sys, "/etc/motd", "old\n")
			chmod(t, sys, "/etc/motd", 0o640)
		},
		task: &Copy{Content: str("new\n"), Dest: "/etc/motd", Backup: true},
		want: []tasks.Change{{Field: "content", Path: "/etc/motd", Before: "old\n", After: "new\n"}},
		after: func(t *testing.T, sys *tasks.System) {
			if got := taskstest.ReadFile(t, sys, "/etc/motd~"); got != "old\n" {
				t.Errorf("backup %q", got)
			}
			if m := modeOf(t, sys, "/etc/motd~"); m != "0640" {
				t.Errorf("backup mode %s", m)
			}
			if got := taskstest.ReadFile(t, sys, "/etc/motd"); got != "new\n" {
				t.Errorf("content %q", got)
			}
		},
	}, {
		name:  "backup only when content changes",
		setup: func(t *testing.T, sys *tasks.System) { taskstest.WriteFile(t, sys, "/etc/motd", "same\n") },
		task:  &Copy{Content: str("same\n"), Dest: "/etc/motd", Mode: "0600", Backup: true},
		want:  []tasks.Change{{Field: "mode", Before: "0644", After: "0600"}},
		after: func(t *testing.T, sys *tasks.System) {
			if sys.Exists("/etc/motd~") {
				t.Error("backup made for a mode change")
			}
		},
	}, {
		name:    "missing src",
		setup:   withSource,
		task:    &Copy{Src: "files/nope", Dest: "/etc/containers/x"},
		wantErr: "src: stat " + filepath.Join(src, "files", "nope"),
	}, {
		name:    "src is a directory",
		setup:   withSource,
		task:    &Copy{Src: "files", Dest: "/etc/containers/x"},
		wantErr: "is a directory (copy copies one file)",
	}})
}

func TestCopyMissingSrcIsArgError(t *testing.T) {
	sys, _ := taskstest.New(t)
	_, err := (&Copy{Src: "nope", Dest: "/x"}).Check(context.Background(), sys)
	var ae *tasks.ArgError
	if !errors.As(err, &ae) || ae.Arg != "src" {
		t.Fatalf("err = %v, want an ArgError on src", err)
	}
}

// fakeRender expands {{ name }} from vars and fails on unknown names, like
// the engine's renderer would.
func fakeRender(vars map[string]string) func(string) (string, error) {
	return func(text string) (string, error) {
		var b strings.Builder
		for {
			i := strings.Index(text, "{{")
			if i < 0 {
				b.WriteString(text)
				return b.String(), nil
			}
			j := strings.Index(text[i:], "}}")
			if j < 0 {
				return "", errors.New("unclosed {{")
			}
			name := strings.TrimSpace(text[i+2 : i+j])
			v, ok := vars[name]
			if !ok {
				return "", fmt.Errorf("unknown name %s", name)
			}
			b.WriteString(text[:i] + v)
			text = text[i+j+2:]
		}
	}
}

func TestTemplate(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "storage.conf.tmpl"), []byte("driver = \"{{ driver }}\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	setup := func(t *testing.T, sys *tasks.System) {
		sys.SourceDir = src
		sys.Render = fakeRender(map[string]string{"driver": "overlay", "name": "world"})
		mkdir(t, sys, "/etc/containers")
	}
	runCases(t, []planCase{{
		name:  "content rendered",
		setup: setup,
		task:  &Template{Content: str("hello {{ name }}\n"), Dest: "/etc/containers/hello", Mode: "0640"},
		want: []tasks.Change{
			{Field: "state", Before: "absent", After: "file"},
			{Field: "content", Path: "/etc/containers/hello", Before: "", After: "hello world\n"},
			{Field: "mode", Before: "", After: "0640"},
		},
		after: func(t *testing.T, sys *tasks.System) {
			if got := taskstest.ReadFile(t, sys, "/etc/containers/hello"); got != "hello world\n" {
				t.Errorf("content %q", got)
			}
		},
	}, {
		name: "src rendered, diff against the old file",
		setup: func(t *testing.T, sys *tasks.System) {
			setup(t, sys)
			taskstest.WriteFile(t, sys, "/etc/containers/storage.conf", "driver = \"vfs\"\n")
		},
		task: &Template{Src: "storage.conf.tmpl", Dest: "/etc/containers/storage.conf"},
		want: []tasks.Change{{Field: "content", Path: "/etc/containers/storage.conf",
			Before: "driver = \"vfs\"\n", After: "driver = \"overlay\"\n"}},
	}, {
		name:    "unknown variable",
		setup:   setup,
		task:    &Template{Content: str("{{ nope }}"), Dest: "/etc/containers/x"},
		wantErr: "render content: unknown name nope",
	}, {
		name:    "no renderer",
		setup:   func(t *testing.T, sys *tasks.System) { mkdir(t, sys, "/etc") },
		task:    &Template{Content: str("x"), Dest: "/etc/x"},
		wantErr: "no template renderer",
	}})
}

// TestMissingParent: Check plans the file and warns, so that check mode
// works when an earlier task only planned the directory; Apply fails
// naming the parent unless the directory exists by then.
func TestMissingParent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		task  tasks.Task
		setup func(t *testing.T, sys *tasks.System)
		want  []tasks.Change
		warn  string
	}{{
		name: "file",
		task: &Copy{Dest: "/etc/app/conf", Content: str("x")},
		want: []tasks.Change{
			{Field: "state", Before: "absent", After: "file"},
			{Field: "content", Path: "/etc/app/conf", Before: "", After: "x"},
		},
		warn: "parent directory /etc/app does not exist (applying fails unless an earlier task creates it)",
	}, {
		name:  "parent is a file",
		task:  &File{Path: "/etc/app/conf", Content: str("x")},
		setup: func(t *testing.T, sys *tasks.System) { taskstest.WriteFile(t, sys, "/etc/app", "x") },
		want: []tasks.Change{
			{Field: "state", Before: "absent", After: "file"},
			{Field: "content", Path: "/etc/app/conf", Before: "", After: "x"},
		},
		warn: "parent /etc/app is not a directory (applying fails unless an earlier task creates it)",
	}, {
		name: "link",
		task: &File{Path: "/etc/app/current", State: "link", Src: "/x"},
		want: []tasks.Change{
			{Field: "state", Before: "absent", After: "link"},
			{Field: "target", Before: "", After: "/x"},
		},
		warn: "parent directory /etc/app does not exist (applying fails unless an earlier task creates it)",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			sys, _ := taskstest.New(t)
			if tc.setup != nil {
				tc.setup(t, sys)
			}
			p, err := checkOnly(t, sys, tc.task)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Changes, tc.want) || !reflect.DeepEqual(p.Warnings, []string{tc.warn}) {
				t.Fatalf("plan %#v, warnings %q", p.Changes, p.Warnings)
			}
			err = tc.task.Apply(context.Background(), sys, p)
			if want := strings.TrimSuffix(tc.warn, " (applying fails unless an earlier task creates it)"); err == nil || err.Error() != want {
				t.Fatalf("apply error = %v, want %s", err, want)
			}
			if tc.setup != nil {
				return
			}
			// An earlier task created the directory: the plan now applies.
			mkdir(t, sys, "/etc/app")
			if err := tc.task.Apply(context.Background(), sys, p); err != nil {
				t.Fatal(err)
			}
			if again, _ := tc.task.Check(context.Background(), sys); !again.Empty() {
				t.Fatalf("did not converge: %s", again)
			}
		})
	}
}
