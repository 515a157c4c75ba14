package containers

import (
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

// In an image being built, a stale namespace on the build machine's files
// means nothing: no session runs podman there, so nothing is migrated.
func TestMigrateImageBuildPlansNothing(t *testing.T) {
	sys, run := migrateHost(t)
	sys.Image = true
	taskstest.WriteFile(t, sys, "/etc/subuid", "alice:100000:65536\nbob:165536:65536\nalice:40000:1000\n")
	p := check(t, sys, &PodmanMigrate{User: "alice", Force: true})
	wantChanges(t, p, nil)
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "image build") {
		t.Errorf("warnings %q, want the image-build note", p.Warnings)
	}
	if len(run.Calls) != 0 {
		t.Fatalf("ran %v", run.Commands())
	}
}

// mount_program auto in an image is decided for a modern kernel, never by
// the build machine's: a RHEL 8 kernel here does not add fuse-overlayfs.
func TestStorageAutoImageIgnoresBuildKernel(t *testing.T) {
	sys, _ := newHost(t, rhel8Kernel)
	sys.Image = true
	s := &Storage{Driver: "overlay", MountProgram: str("auto")}
	p := check(t, sys, s)
	for _, c := range p.Changes {
		if strings.Contains(c.After, "fuse-overlayfs") {
			t.Fatalf("image plan sets fuse-overlayfs from the build kernel:\n%s", c.After)
		}
	}
	found := false
	for _, w := range p.Warnings {
		found = found || strings.Contains(w, "image build: mount_program auto")
	}
	if !found {
		t.Errorf("warnings %q, want the image-build note", p.Warnings)
	}
	taskstest.Converge(t, sys, s)
}

var _ tasks.Task = (*Storage)(nil)
