package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// seedInventories adds the inventory files of the fixtures whose names
// keep (by extension) as seeds.
func seedInventories(f *testing.F, keep func(name string) bool) {
	paths, _ := filepath.Glob("testdata/*/*.txtar")
	for _, p := range paths {
		ar, err := txtar.ParseFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range ar.Files {
			if keep(file.Name) && !strings.HasPrefix(file.Name, "want") {
				f.Add(file.Data)
			}
		}
	}
}

func isYAMLName(name string) bool {
	ext := filepath.Ext(name)
	return ext == ".yml" || ext == ".yaml" || ext == ".json"
}

// checkInventory exercises what the CLI does with a parsed inventory.
func checkInventory(t *testing.T, inv *Inventory, err error) {
	if err != nil {
		if errs, ok := err.(Errors); ok && len(errs) == 0 {
			t.Fatal("an empty list of problems")
		}
		return
	}
	for _, p := range []string{"all", "ungrouped", "web*:!db", "~w.*"} {
		hosts, err := inv.Select(p)
		if err != nil {
			t.Fatalf("select %q: %v", p, err)
		}
		for _, h := range hosts {
			inv.MagicVars(h)
		}
	}
}

// FuzzParseINI: no INI inventory crashes or hangs the parser.
func FuzzParseINI(f *testing.F) {
	seedInventories(f, func(name string) bool { return !isYAMLName(name) && !strings.HasSuffix(name, ".txt") })
	f.Add([]byte("[web]\nw[01:10] a=\"{'x': [1, 2.5, None]}\"\n[all:children]\nweb\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := Parse("hosts.ini", data)
		checkInventory(t, inv, err)
	})
}

// FuzzParseYAML: no YAML inventory crashes, hangs or explodes the parser.
func FuzzParseYAML(f *testing.F) {
	seedInventories(f, isYAMLName)
	f.Add([]byte("all:\n  children:\n    a: &a {hosts: {h1: }}\n    b: {children: {c: *a, d: *a}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := Parse("hosts.yml", data)
		checkInventory(t, inv, err)
	})
}

// FuzzPyLiteral: no INI value crashes the Python-literal parser.
func FuzzPyLiteral(f *testing.F) {
	for _, s := range []string{`{'a': [1, 2, (3,)], "b": {1, 2}}`, `"x" 'y'`, `-1.5e3`, `0x1F`, `True`, `None`, `[1,`, `{'a'}`, `u'x\n'`, `b"\x00"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parseINIValue(s)
	})
}

// FuzzPattern: no host pattern crashes or hangs the selection.
func FuzzPattern(f *testing.F) {
	data, err := os.ReadFile("testdata/fuzz-pattern.ini")
	if err != nil {
		f.Fatal(err)
	}
	inv, err := Parse("hosts.ini", data)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"all", "web*", "all:!db", "web:&prod", "~w.*", "web[0]", "web[-1]", "web[1:]", "localhost", "::1", "db,web", "&prod", "!db", "web[1:3]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		if strings.HasPrefix(pattern, "@") {
			return // a file name
		}
		inv.Select(pattern)
		inv.SelectLimit("all", pattern)
		inv.Unmatched(pattern)
		SplitPattern(pattern)
	})
}
