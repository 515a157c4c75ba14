//go:build linux

package input

import (
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A FIFO or device named as an input is refused without being opened:
// opening a device can act (a watchdog starts when opened). inotify sees
// every open of the FIFO.
func TestSpecialFileNeverOpened(t *testing.T) {
	p := filepath.Join(t.TempDir(), "site.yml")
	if err := unix.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Skip("no inotify:", err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, p, unix.IN_OPEN); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("ReadFile = %v, want ErrNotRegular", err)
	}
	buf := make([]byte, 4096)
	if n, err := unix.Read(in, buf); err != unix.EAGAIN {
		t.Fatalf("the FIFO was opened (%d bytes of inotify events, %v)", n, err)
	}
}
