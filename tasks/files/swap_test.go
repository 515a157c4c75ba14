package files

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/provision-tool/provision/tasks/taskstest"
)

// A file is replaced by a link to a file outside the root between Check
// and Apply: Apply must not chmod the link's target.
func TestChmodSwappedForLink(t *testing.T) {
	sys, _ := taskstest.New(t)
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	taskstest.WriteFile(t, sys, "/srv/app.conf", "x")
	f := &File{Path: "/srv/app.conf", Mode: "0666"}
	p, err := f.Check(context.Background(), sys)
	if err != nil || p.Empty() {
		t.Fatalf("check: %v %+v", err, p)
	}
	hp := taskstest.HostPath(sys, "/srv/app.conf")
	if err := os.Remove(hp); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, hp); err != nil {
		t.Fatal(err)
	}
	if err := f.Apply(context.Background(), sys, p); err == nil {
		t.Error("apply chmodded through a link")
	}
	if fi, err := os.Stat(outside); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("outside file: %v %v", fi.Mode(), err)
	}
}
