package hostfs

import (
	"io/fs"
	"testing"

	"golang.org/x/sys/unix"
)

// An owner and mode change never passes through a state that grants
// someone more than both the old and the new state do: 0666 root must not
// become 0666 alice on the way to 0600 alice, nor 0600 alice become 0644
// alice on the way to 0644 root.
func TestChownOrderNeverWider(t *testing.T) {
	needRoot(t)
	for _, tt := range []struct {
		oldMode, newMode fs.FileMode
		oldUID, newUID   int
	}{
		{0o666, 0o600, 0, alice},
		{0o600, 0o644, alice, 0},
		{0o640, 0o604, 0, alice},
		{0o4755, 0o700, 0, alice},
	} {
		e := newEnv(t)
		e.file("/etc/f", "x", tt.oldMode.Perm())
		if err := unix.Chmod(e.h("/etc/f"), unixMode(tt.oldMode)); err != nil {
			t.Fatal(err)
		}
		e.chown("/etc/f", tt.oldUID)
		var seen []unix.Stat_t
		attrStep = func(fd int) {
			var st unix.Stat_t
			unix.Fstat(fd, &st)
			seen = append(seen, st)
		}
		mode := tt.newMode
		err := e.fs.Chown("/etc/f", tt.newUID, tt.newUID, &mode)
		attrStep = func(int) {}
		if err != nil {
			t.Fatal(err)
		}
		last := seen[len(seen)-1]
		if int(last.Uid) != tt.newUID || last.Mode&07777 != unixMode(tt.newMode) {
			t.Errorf("%v: ended %o uid %d", tt, last.Mode&07777, last.Uid)
		}
		for _, st := range seen {
			m := st.Mode & 07777
			okOld := int(st.Uid) == tt.oldUID && m&^unixMode(tt.oldMode) == 0
			okNew := int(st.Uid) == tt.newUID && m&^unixMode(tt.newMode) == 0
			if !okOld && !okNew {
				t.Errorf("%v: passed through %o uid %d", tt, m, st.Uid)
			}
		}
	}
}
