package inventory

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLargeRangesAreBounded: a few lines of host ranges can neither take
// quadratic time nor define millions of hosts.
func TestLargeRangesAreBounded(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{"h[0:99999]\n[g]\nh[0:99999]\n", ""},
		{"[a]\na[0:99999]\n[b]\nb[0:99999]\n", "hosts.ini:4:1: the inventory defines more than 100000 hosts"},
		{manyGroups(11), "more than 100000 hosts or 1000000 group memberships"},
	} {
		if testing.Short() && strings.HasPrefix(tt.src, "[g0]") {
			continue
		}
		start := time.Now()
		_, err := Parse("hosts.ini", []byte(tt.src))
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%q took %v", tt.src, d)
		}
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.src, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: error %v, want %q", tt.src, err, tt.want)
		}
	}
}

// manyGroups puts the same 100000 hosts into n groups.
func manyGroups(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "[g%d]\nh[0:99999]\n", i)
	}
	return b.String()
}
