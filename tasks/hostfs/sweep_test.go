package hostfs

import (
	"os"
	"testing"
	"time"
)

func TestIsTemp(t *testing.T) {
	for name, want := range map[string]bool{
		tempName("subuid"):                   true,
		".subuid.provision-ABCDEFGHIJK2":     true,
		".subuid.provision-ABCDEFGHIJK":      false, // short
		".subuid.provision-abcdefghijkl":     false, // not rand.Text's alphabet
		"subuid.provision-ABCDEFGHIJKL":      false, // not hidden
		"..provision-ABCDEFGHIJKL":           false, // no name
		".x.provision-ABCDEFGHIJKL.dpkg-old": false,
	} {
		if IsTemp(name) != want {
			t.Errorf("IsTemp(%q) = %v, want %v", name, !want, want)
		}
	}
}

// A killed run's temp files go at the next change in their directory;
// links are removed, never followed; directories, other names and files
// newer than the run stay.
func TestSweepLeftovers(t *testing.T) {
	e := newEnv(t)
	e.file("/etc/.subuid.provision-AAAAAAAAAAAA", "half", 0o600)
	e.link(e.outside+"/secret", "/etc/.x.provision-BBBBBBBBBBBB")
	e.dir("/etc/.d.provision-CCCCCCCCCCCC")
	e.file("/etc/.subuid.provision-short", "", 0o600)
	e.file("/etc/other/.y.provision-DDDDDDDDDDDD", "", 0o600)
	time.Sleep(20 * time.Millisecond)
	s := NewSweeper(time.Now())
	time.Sleep(20 * time.Millisecond)
	e.file("/etc/.new.provision-EEEEEEEEEEEE", "", 0o600)
	f := e.fs
	f.Sweeper = s
	if _, err := f.WriteFile("/etc/subuid", []byte("alice:100000:65536\n"), Attrs{UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	e.missing("/etc/.subuid.provision-AAAAAAAAAAAA")
	e.missing("/etc/.x.provision-BBBBBBBBBBBB")
	for _, p := range []string{"/etc/.d.provision-CCCCCCCCCCCC", "/etc/.subuid.provision-short", "/etc/other/.y.provision-DDDDDDDDDDDD", "/etc/.new.provision-EEEEEEEEEEEE"} {
		if _, err := os.Lstat(e.h(p)); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
	if s.Removed != 2 {
		t.Errorf("removed %d, want 2", s.Removed)
	}
	if err := f.Sweep("/etc/other"); err != nil || s.Removed != 3 {
		t.Errorf("Sweep /etc/other: %v, removed %d", err, s.Removed)
	}
	if err := f.Sweep("/nonexistent"); err != nil {
		t.Errorf("Sweep of a missing directory: %v", err)
	}
}
