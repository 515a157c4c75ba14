package pull

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provision-tool/provision/tasks/taskstest"
)

// In an image, pull mode brings its own provision and playbook (with the
// files copy reads): the units name the copies, never the build machine's
// paths, and a second install changes nothing.
func TestInstallImageCopiesBinaryAndPlaybook(t *testing.T) {
	sys, _ := taskstest.New(t)
	sys.Image = true
	build := t.TempDir()
	bin := filepath.Join(build, "provision-build")
	book := filepath.Join(build, "site.yml")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(bin, []byte("\x7fELF fake"), 0o755))
	must(os.MkdirAll(filepath.Join(build, "files"), 0o755))
	must(os.WriteFile(filepath.Join(build, "files", "motd"), []byte("hi\n"), 0o644))
	must(os.WriteFile(book, []byte("- hosts: all\n  tasks:\n    - copy: {src: files/motd, dest: /etc/motd}\n"), 0o644))
	o := Options{Playbook: book, Binary: bin, Every: time.Hour, Image: true}
	ctx := context.Background()
	res, err := Install(ctx, sys, o)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{ImageBinary: "\x7fELF fake", ImagePlaybookDir + "/site.yml": "- hosts", ImagePlaybookDir + "/files/motd": "hi\n"} {
		if got := taskstest.ReadFile(t, sys, p); !strings.HasPrefix(got, want) {
			t.Errorf("%s in the image: %q", p, got)
		}
	}
	if st, err := sys.Stat(ImageBinary); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("%s: %v %v", ImageBinary, st, err)
	}
	svc := taskstest.ReadFile(t, sys, "/etc/systemd/system/provision-pull.service")
	if !strings.Contains(svc, "ExecStart=/usr/local/bin/provision pull --once --playbook /etc/provision/pull/site.yml") || strings.Contains(svc, build) {
		t.Errorf("service names the build machine's paths:\n%s", svc)
	}
	if !res.Changed {
		t.Errorf("first install: %+v", res)
	}
	if res, err := Install(ctx, sys, o); err != nil || res.Changed {
		t.Errorf("second install: %+v %v", res, err)
	}
}
