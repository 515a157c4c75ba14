package input

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/diag"
)

// MaxAliasNodes bounds the nodes that aliases may add to a document: a
// "billion laughs" of nested aliases stops here instead of exhausting the
// memory. Real files stay far below it.
const MaxAliasNodes = 200_000

// maxDepth bounds the nesting of a document, aliases expanded.
const maxDepth = 1000

// YAML parses data as exactly one YAML document and returns its root node,
// with every alias replaced by a copy of its anchor's node and every merge
// key (<<) replaced by the pairs it merges, so that callers never meet an
// alias. The copy of an aliased node keeps the anchor's positions inside,
// with its top at the alias. It returns nil for an empty document, and
// errors at their file:line:col for invalid YAML, a second document and
// excessive aliasing.
func YAML(file string, data []byte) (*yaml.Node, diag.Errors) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, diag.Errors{yamlError(file, err)}
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, diag.Errors{yamlError(file, err)}
	case !emptyDoc(&next):
		return nil, diag.Errors{{Pos: diag.Pos{File: file, Line: next.Line, Col: next.Column},
			Msg: "a second YAML document starts here: provision reads one document per file, so this one would be ignored"}}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	x := &expander{file: file}
	root := x.copy(doc.Content[0], 0)
	if x.errs != nil {
		return nil, x.errs
	}
	return root, nil
}

func emptyDoc(d *yaml.Node) bool {
	if len(d.Content) == 0 {
		return true
	}
	n := d.Content[0]
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == ""
}

type expander struct {
	file    string
	aliased int        // nodes added by aliases so far
	inAlias int        // > 0 while copying an alias's anchor
	outer   *yaml.Node // the outermost alias being copied
	errs    diag.Errors
}

func (x *expander) pos(n *yaml.Node) diag.Pos {
	return diag.Pos{File: x.file, Line: n.Line, Col: n.Column}
}

// copy returns a deep copy of n with aliases and merge keys expanded.
func (x *expander) copy(n *yaml.Node, depth int) *yaml.Node {
	if x.errs != nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	if depth > maxDepth {
		x.errs.Add(x.pos(n), "YAML nested more than %d levels deep", maxDepth)
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	if n.Kind == yaml.AliasNode {
		return x.alias(n, depth)
	}
	if x.inAlias > 0 {
		if x.aliased++; x.aliased > MaxAliasNodes {
			x.errs.Add(x.pos(x.outer), "alias *%s: the aliases of this file expand to more than %d nodes (a \"billion laughs\"?)", x.outer.Value, MaxAliasNodes)
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
		}
	}
	c := *n
	c.Anchor = ""
	c.Content = nil
	for _, e := range n.Content {
		c.Content = append(c.Content, x.copy(e, depth+1))
	}
	if c.Kind == yaml.MappingNode {
		x.merge(&c)
	}
	return &c
}

func (x *expander) alias(n *yaml.Node, depth int) *yaml.Node {
	if n.Alias == nil {
		x.errs.Add(x.pos(n), "alias *%s names no anchor", n.Value)
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	if x.inAlias == 0 {
		x.outer = n
	}
	x.inAlias++
	c := x.copy(n.Alias, depth+1)
	x.inAlias--
	c.Line, c.Column = n.Line, n.Column
	return c
}

// merge replaces the merge keys (<<) of a mapping by the pairs they merge:
// explicit keys win over merged ones, and an earlier merged mapping over a
// later one, as YAML's merge key type says.
func (x *expander) merge(m *yaml.Node) {
	explicit := map[string]bool{}
	hasMerge := false
	for i := 0; i+1 < len(m.Content); i += 2 {
		if isMerge(m.Content[i]) {
			hasMerge = true
		} else {
			explicit[m.Content[i].Value] = true
		}
	}
	if !hasMerge {
		return
	}
	var out []*yaml.Node
	merged := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if !isMerge(k) {
			out = append(out, k, v)
			continue
		}
		for _, src := range x.mergeSources(v) {
			for j := 0; j+1 < len(src.Content); j += 2 {
				mk := src.Content[j]
				if explicit[mk.Value] || merged[mk.Value] {
					continue
				}
				merged[mk.Value] = true
				out = append(out, mk, src.Content[j+1])
			}
		}
	}
	m.Content = out
}

func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Tag == "!!merge"
}

// mergeSources returns the mappings a merge key's value names.
func (x *expander) mergeSources(v *yaml.Node) []*yaml.Node {
	switch v.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{v}
	case yaml.SequenceNode:
		for _, e := range v.Content {
			if e.Kind != yaml.MappingNode {
				x.errs.Add(x.pos(e), "merge key <<: expected a mapping to merge, found %s", describe(e))
				return nil
			}
		}
		return v.Content
	}
	x.errs.Add(x.pos(v), "merge key <<: expected a mapping or a list of mappings, found %s", describe(v))
	return nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlError(file string, err error) *diag.Error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		var line int
		fmt.Sscan(m[1], &line)
		return &diag.Error{Pos: diag.Pos{File: file, Line: line, Col: 1}, Msg: "invalid YAML: " + m[2]}
	}
	return &diag.Error{Pos: diag.Pos{File: file, Line: 1, Col: 1}, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}
