package containers

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// Every form the containers tools' parser (BurntSushi/toml) accepts can be
// edited, and the edit decodes to what was asked with nothing else changed.
func TestEditInlineAndDottedForms(t *testing.T) {
	docs := []string{
		"storage = {driver = \"overlay\"}\n",
		"storage = { driver = \"overlay\", options = { overlay = { mountopt = \"nodev\" } } }\n",
		"[storage]\noptions = {overlay = {mountopt = \"x\"}}\n",
		"[storage]\noptions = {}\n",
		"[storage]\noptions = {overlay.mountopt = \"x\"}\n",
		"storage.driver = \"overlay\"\n",
		"storage.options.overlay.mountopt = \"x\"\n",
		"[storage]\noptions.overlay.mountopt = \"x\" # c\n",
		"[\"storage\"]\ndriver = 'x'\n[ storage . options ]\nsize = \"\"\n",
		"[storage]\noptions = {overlay = {mount_program = \"/old\", mountopt = \"x\"}, size = \"1G\"}\n",
	}
	paths := [][]string{{"storage", "graphroot"}, {"storage", "driver"}, {"storage", "options", "overlay", "mount_program"}, {"storage", "options", "overlay", "mountopt"}}
	for _, doc := range docs {
		base, err := decodeTOMLMap(doc)
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		for _, path := range paths {
			got, err := setTOMLString(doc, path, "/new")
			if err != nil {
				t.Errorf("set %v in %q: %v", path, doc, err)
				continue
			}
			checkEdit(t, doc, got, base, path, true)
			removed, err := removeTOMLKey(got, path)
			if err != nil {
				t.Errorf("remove %v from %q: %v", path, got, err)
				continue
			}
			checkEdit(t, got, removed, base, path, false)
		}
	}
}

// checkEdit decodes an edited text and compares it with base, apart from
// path, which must hold "/new" (set) or be absent (removed).
func checkEdit(t *testing.T, in, out string, base map[string]any, path []string, set bool) {
	t.Helper()
	doc, err := decodeTOMLMap(out)
	if err != nil {
		t.Errorf("%v: %q -> %q does not parse: %v", path, in, out, err)
		return
	}
	v, has := lookupTOML(doc, path)
	if set && v != "/new" || !set && has {
		t.Errorf("%v: %q -> %q: value %v %v", path, in, out, v, has)
	}
	a, b := cloneMap(base), doc
	deleteTOML(a, path)
	deleteTOML(b, path)
	pruneEmpty(a)
	pruneEmpty(b)
	if sa, sb := renderMap(a), renderMap(b); sa != sb {
		t.Errorf("%v: %q -> %q changed other keys:\n%s\n%s", path, in, out, sa, sb)
	}
}

func renderMap(m map[string]any) string {
	var b strings.Builder
	var walk func(string, map[string]any)
	walk = func(prefix string, m map[string]any) {
		for _, k := range sortedMapKeys(m) {
			if sub, ok := m[k].(map[string]any); ok {
				walk(prefix+k+".", sub)
				continue
			}
			b.WriteString(prefix + k + "=" + strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(fmtAny(m[k]), "\n", " "), "  ", " ")) + "\n")
		}
	}
	walk("", m)
	return b.String()
}

func TestBadUTF8IsAnInputError(t *testing.T) {
	_, err := setTOMLString("[storage]\n", []string{"storage", "graphroot"}, "/x\xff")
	if err == nil || strings.Contains(err.Error(), "bug") || !strings.Contains(err.Error(), "offset 2") {
		t.Errorf("value: %v", err)
	}
	_, err = parseStmts("[storage]\n# caf\xe9\n")
	if err == nil || !strings.Contains(err.Error(), "line 2, column 6") {
		t.Errorf("text: %v", err)
	}
	g := "/var/lib/\xc3"
	s := &Storage{Graphroot: &g}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "graphroot") || strings.Contains(err.Error(), "bug") {
		t.Errorf("storage: %v", err)
	}
	r := &Registries{ShortNameMode: "enforcing", Aliases: map[string]string{"x": "docker.io/\xfflib"}}
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "aliases") {
		t.Errorf("registries: %v", err)
	}
}

func sortedMapKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func fmtAny(v any) string { return fmt.Sprintf("%v", v) }
