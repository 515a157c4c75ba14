package pull

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode"

	"github.com/provision-tool/provision/tasks"
)

// checkControl refuses control characters (a newline would add lines to
// the unit file) in a path written into the units.
func checkControl(what, p string) error {
	if i := strings.IndexFunc(p, unicode.IsControl); i >= 0 {
		return fmt.Errorf("%s %q: contains a control character (%U), which a unit file cannot hold", what, p, []rune(p[i:])[0])
	}
	return nil
}

// checkTrusted refuses a file the root timer runs (the binary) or reads
// (the playbook) unless it is a regular file owned by root and writable by
// no one else, and every directory above it (up to the host's root) is
// owned by root and writable by no one else, sticky ones included.
// Otherwise whoever could write there could run anything as root. Links
// are resolved inside the root first, so their targets are what is
// checked. The user running provision counts as root, as in package hostfs
// (an image built without root).
func checkTrusted(sys *tasks.System, what, p string) error {
	hp, err := sys.Path(p)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, p, err)
	}
	fi, err := os.Lstat(hp)
	if err != nil {
		return fmt.Errorf("%s %s: %w (the timer would run it as root)", what, p, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s %s: not a regular file", what, p)
	}
	root := filepath.Clean(sys.Root)
	for path, info := hp, fi; ; {
		if err := trustedByRoot(path, info); err != nil {
			return fmt.Errorf("refusing %s %s for a root timer: %w", what, p, err)
		}
		if path == root || path == "/" {
			break
		}
		path = filepath.Dir(path)
		if info, err = os.Lstat(path); err != nil {
			return fmt.Errorf("%s %s: %w", what, p, err)
		}
	}
	// The unit names p, not its target: every link and directory on the
	// way as p spells it must be root's too, or whoever could write there
	// could point p elsewhere later.
	for q := filepath.Clean(p); ; q = filepath.Dir(q) {
		info, err := sys.Lstat(q)
		if err != nil {
			return fmt.Errorf("%s %s: %w", what, p, err)
		}
		if err := trustedByRoot(q, info); err != nil {
			return fmt.Errorf("refusing %s %s for a root timer: %w", what, p, err)
		}
		if q == "/" {
			return nil
		}
	}
}

// trustedByRoot says why no one but root may be trusted with path, if so.
func trustedByRoot(path string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner information", path)
	}
	if st.Uid != 0 && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s is owned by uid %d, not by root", path, st.Uid)
	}
	mode := fi.Mode()
	if mode&os.ModeSymlink != 0 {
		return nil // a link's mode means nothing; its directory's does
	}
	// Sticky directories are no exception: the unit names the path for
	// good, and once root's file is gone from /tmp (a reboot, tmpfiles)
	// anyone may create it there.
	if mode.Perm()&0o022 != 0 {
		return fmt.Errorf("%s has mode %04o: others can write to it", path, mode.Perm())
	}
	return nil
}
