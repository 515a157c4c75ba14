package transport

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestPlaceAgentAndStaleRemoval(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(t.TempDir(), "provision")
	if err := os.WriteFile(bin, []byte("agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	name, lock, err := placeAgent(root, bin)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, name)
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 || !strings.HasPrefix(name, agentPrefix) {
		t.Fatalf("agent dir %s: %v %v", name, st, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "provision")); err != nil || string(b) != "agent" {
		t.Fatalf("agent binary: %q %v", b, err)
	}
	// A stale directory (nobody holds its lock) goes; a live run's and a
	// link of the same name stay, and the link's target is untouched.
	stale := filepath.Join(root, agentPrefix+"stale")
	if err := os.MkdirAll(filepath.Join(stale, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, agentPrefix+"link")); err != nil {
		t.Fatal(err)
	}
	removeStaleAgents(root)
	if _, err := os.Lstat(stale); err == nil {
		t.Errorf("stale agent directory kept")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("live agent directory removed: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, agentPrefix+"link")); err != nil {
		t.Errorf("link removed: %v", err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("link target removed: %v", err)
	}
	lock.Close()
	removeStaleAgents(root)
	if _, err := os.Lstat(dir); err == nil {
		t.Errorf("agent directory of a finished run kept")
	}
}

func TestCheckStatic(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	err = checkStatic(self)
	dynamic := false
	if b, rerr := os.ReadFile(self); rerr == nil {
		dynamic = strings.Contains(string(b[:min(len(b), 4096)]), "ld-linux")
	}
	if dynamic && (err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0")) {
		t.Errorf("dynamic test binary: %v", err)
	}
	if err := checkStatic("/nonexistent/provision"); err == nil || !strings.Contains(err.Error(), "/nonexistent/provision") {
		t.Errorf("missing binary: %v", err)
	}
}

func TestDescribeMountPoint(t *testing.T) {
	root := t.TempDir()
	if err := os.Symlink("/run", filepath.Join(root, "run")); err != nil {
		t.Fatal(err)
	}
	if got := describeMountPoint(filepath.Join(root, "run"), syscall.ELOOP); !strings.Contains(got, "is a link to /run") {
		t.Errorf("link: %s", got)
	}
	if got := describeMountPoint(filepath.Join(root, "proc"), syscall.ENOENT); !strings.Contains(got, "proc is missing") {
		t.Errorf("missing: %s", got)
	}
}
