package inventory

import (
	"fmt"
	"os"
	"path/filepath"
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

// An inventory directory whose links fan out (d0/a and d0/b lead to d1,
// d1/a and d1/b to d2, ...) named 2^depth paths: 40 levels took forever.
// Each directory is read once, a link to one read already is a warning,
// and a link back to a directory being read is an error.
func TestInventoryDirLinksBounded(t *testing.T) {
	root := t.TempDir()
	const depth = 12
	for i := range depth {
		d := filepath.Join(root, fmt.Sprintf("d%d", i))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			for _, l := range []string{"a", "b"} {
				if err := os.Symlink(d, filepath.Join(root, fmt.Sprintf("d%d", i-1), l)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	last := filepath.Join(root, fmt.Sprintf("d%d", depth-1))
	if err := os.WriteFile(filepath.Join(last, "hosts"), []byte("web1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := Load([]string{filepath.Join(root, "d0")}, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Warnings) == 0 || !strings.Contains(fmt.Sprint(inv.Warnings), "already read") {
		t.Errorf("no warning about the directory read twice: %v", inv.Warnings)
	}
	if err := os.Symlink(root+"/d0", filepath.Join(last, "loop")); err != nil {
		t.Fatal(err)
	}
	_, err = Load([]string{filepath.Join(root, "d0")}, root)
	if err == nil || !strings.Contains(err.Error(), "loops back to") || strings.Count(err.Error(), "\n") > 2 {
		t.Errorf("loop: got %v", err)
	}
}

// The same fan-out of links under group_vars/all/ is read once per
// directory.
func TestGroupVarsDirLinksBounded(t *testing.T) {
	root := t.TempDir()
	all := filepath.Join(root, "group_vars", "all")
	const depth = 24
	for i := range depth {
		d := filepath.Join(all, fmt.Sprintf("d%d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			for _, l := range []string{"a", "b"} {
				if err := os.Symlink(d, filepath.Join(all, fmt.Sprintf("d%d", i-1), l)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := os.WriteFile(filepath.Join(all, fmt.Sprintf("d%d", depth-1), "v.yml"), []byte("x: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "hosts"), []byte("web1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := Load([]string{filepath.Join(root, "hosts")}, root)
	if err != nil {
		t.Fatal(err)
	}
	if v := inv.Host("web1").Vars["x"]; v != 1 {
		t.Errorf("x = %v, want 1 from the file read once", v)
	}
	if !strings.Contains(fmt.Sprint(inv.Warnings), "read already through another link") {
		t.Errorf("no warning: %v", inv.Warnings)
	}
}
