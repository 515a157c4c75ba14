package podmanconf

import (
	"errors"
	"fmt"
	"testing"
)

// TestRegistriesCache checks the memo of LoadRegistries: the same files
// are loaded once, any changed byte, path or kind is a new load, answers
// cannot be changed through a returned value, refusals are remembered but
// staging failures are not, and it holds at most max sets.
func TestRegistriesCache(t *testing.T) {
	c := &registriesCache{max: 2}
	loads := 0
	load := func(files []File) (*Registries, error) {
		loads++
		if string(files[0].Data) == "bad" {
			return nil, &LoadError{Path: files[0].Path, Msg: "refused"}
		}
		if string(files[0].Data) == "disk full" {
			return nil, errors.New("staging failed")
		}
		return &Registries{Search: []string{string(files[0].Data)}, Aliases: map[string]string{"a": "b"}}, nil
	}
	a := []File{{Path: "/etc/a.conf", Data: []byte("x"), DropIn: true}}
	r1, _ := c.load(a, load)
	r1.Search[0], r1.Aliases["a"] = "changed", "changed"
	r2, _ := c.load(a, load)
	if loads != 1 || r2.Search[0] != "x" || r2.Aliases["a"] != "b" {
		t.Fatalf("loads %d, second answer %+v: want one load and the first answer unchanged", loads, r2)
	}
	for i, other := range [][]File{
		{{Path: "/etc/a.conf", Data: []byte("y"), DropIn: true}},
		{{Path: "/etc/b.conf", Data: []byte("x"), DropIn: true}},
		{{Path: "/etc/a.conf", Data: []byte("x")}},
	} {
		if r, _ := c.load(other, load); loads != i+2 || r.Search[0] != string(other[0].Data) {
			t.Fatalf("changed files %d: loads %d, answer %+v", i, loads, r)
		}
	}
	if len(c.m) != 2 || len(c.order) != 2 {
		t.Fatalf("cache holds %d sets (%d in order), want at most 2", len(c.m), len(c.order))
	}
	bad := []File{{Path: "/etc/bad.conf", Data: []byte("bad"), DropIn: true}}
	for range 2 {
		if _, err := c.load(bad, load); fmt.Sprint(err) != "/etc/bad.conf: refused" {
			t.Fatalf("refused file: %v", err)
		}
	}
	full := []File{{Path: "/etc/f.conf", Data: []byte("disk full"), DropIn: true}}
	before := loads
	c.load(full, load)
	c.load(full, load)
	if loads != before+2 || loads != 7 {
		t.Fatalf("loads %d (before the staging failures %d): a refusal is loaded once, a staging failure every time", loads, before)
	}
}

// BenchmarkLoadRegistriesUncached measures one load that the cache cannot
// answer (the first of a run): the files staged in a temp dir and read by
// the library.
//
//	go test ./tasks/containers/podmanconf -run '^$' -bench LoadRegistriesUncached
func BenchmarkLoadRegistriesUncached(b *testing.B) {
	files := []File{
		{Path: "/etc/containers/registries.conf", Data: []byte("unqualified-search-registries = [\"registry.fedoraproject.org\"]\n")},
		{Path: "/etc/containers/registries.conf.d/000-shortnames.conf", Data: []byte("[aliases]\n\"fedora\" = \"registry.fedoraproject.org/fedora\"\n"), DropIn: true},
		{Path: "/etc/containers/registries.conf.d/50-provision.conf", Data: []byte("unqualified-search-registries = [\"docker.io\", \"quay.io\"]\nshort-name-mode = \"permissive\"\n"), DropIn: true},
	}
	for b.Loop() {
		if _, err := loadRegistries(files); err != nil {
			b.Fatal(err)
		}
	}
}
