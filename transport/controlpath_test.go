package transport

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestControlPathFitsASocket checks that connection sharing is asked for
// only when ssh can make its socket: a home directory too long for it
// would otherwise fail every host with "ControlPath too long".
func TestControlPathFitsASocket(t *testing.T) {
	short := filepath.Join(t.TempDir(), "cp")
	long := filepath.Join(t.TempDir(), strings.Repeat("h", 60), ".cache", "provision", "cp")
	for _, tc := range []struct {
		dir   string
		share bool
	}{{short, true}, {long, false}, {"", false}} {
		args := (&SSH{ControlDir: tc.dir}).Args(Target{Name: "web1"})
		i := slices.Index(args, "ControlMaster=auto")
		if (i >= 0) != tc.share {
			t.Errorf("ControlDir %q (%d bytes): sharing %v, want %v: %q", tc.dir, len(tc.dir), i >= 0, tc.share, args)
			continue
		}
		for _, a := range args {
			if p, ok := strings.CutPrefix(a, "ControlPath="); ok {
				if n := len(strings.ReplaceAll(p, "%C", controlHash)) + len(".XXXXXXXXXXXXXXXX"); n >= 108 {
					t.Errorf("ControlPath %s: %d bytes with ssh's temporary suffix, a socket holds 107", p, n)
				}
			}
		}
	}
	if _, err := os.Stat(long); err == nil {
		t.Error("the directory too long to use was created")
	}
}
