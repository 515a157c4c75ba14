package inventory

import (
	"fmt"
	"strings"
	"testing"
)

// TestLargeRangesAreBounded: a few lines of host ranges cannot define more
// hosts or group memberships than the limits; within them, 100,000 hosts
// in two groups parse (BenchmarkRanges measures that this stays linear).
func TestLargeRangesAreBounded(t *testing.T) {
	if _, err := Parse("hosts.ini", []byte("h[0:99999]\n[g]\nh[0:99999]\n")); err != nil {
		t.Fatalf("100000 hosts: %v", err)
	}
	defer func(h, m int) { maxHosts, maxMembers = h, m }(maxHosts, maxMembers)
	maxHosts, maxMembers = 1000, 5000
	for _, tt := range []struct{ src, want string }{
		{"[a]\na[0:999]\n[b]\nb[0:999]\n", "hosts.ini:4:1: the inventory defines more than 1000 hosts"},
		{manyGroups(6, 999), "more than 1000 hosts or 5000 group memberships"},
	} {
		_, err := Parse("hosts.ini", []byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.src, err, tt.want)
		}
	}
}

// BenchmarkRanges parses 100,000 hosts in n groups: the time per group
// must not grow with the number of groups (it was quadratic).
func BenchmarkRanges(b *testing.B) {
	for _, n := range []int{2, 8} {
		src := []byte(manyGroups(n, 99999))
		b.Run(fmt.Sprint(n, "groups"), func(b *testing.B) {
			for b.Loop() {
				if _, err := Parse("hosts.ini", src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// manyGroups puts the same hosts h0..hLAST into n groups.
func manyGroups(n, last int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "[g%d]\nh[0:%d]\n", i, last)
	}
	return b.String()
}
