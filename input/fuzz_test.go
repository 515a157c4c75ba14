package input

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzYAML: no document crashes or explodes the reader, and what it
// returns has no alias or merge key left.
func FuzzYAML(f *testing.F) {
	for _, s := range []string{
		"a: &x {k: 1}\nb: *x\nc: {<<: *x, l: 2}\n",
		"- &p [1, 2]\n- [*p, *p]\n- {<<: [{a: 1}, {b: 2}]}\n",
		"a: 1\n---\nb: 2\n",
		"x: &a [&b {c: *b}]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, errs := YAML("f.yml", data)
		if errs != nil || n == nil {
			return
		}
		var walk func(n *yaml.Node)
		walk = func(n *yaml.Node) {
			if n.Kind == yaml.AliasNode || n.Kind == yaml.MappingNode && hasMergeKey(n) {
				t.Fatalf("alias or merge key left at %d:%d", n.Line, n.Column)
			}
			for _, c := range n.Content {
				walk(c)
			}
		}
		walk(n)
	})
}

func hasMergeKey(m *yaml.Node) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if isMerge(m.Content[i]) {
			return true
		}
	}
	return false
}
