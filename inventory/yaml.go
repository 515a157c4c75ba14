package inventory

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/input"
)

// parseYAML reads a YAML (or JSON) inventory in the shape of Ansible's yaml
// inventory plugin: a mapping of group names, each with optional hosts (a
// mapping of host patterns to their variables), children (a mapping of
// group names to groups of the same shape) and vars. Where Ansible warns
// and skips part of the file (an unknown key, a group that is not a
// mapping), this is an error: such an inventory does not mean what its
// author thinks.
func (b *builder) parseYAML(file string, data []byte) {
	root, errs := input.YAML(file, data)
	if errs != nil {
		b.errs = append(b.errs, errs...)
		return
	}
	if root == nil {
		b.warns.Add(Pos{File: file}, "empty inventory file")
		return
	}
	y := &yamlParser{b: b, file: file}
	b.warns = append(b.warns, duplicateKeys(file, root)...)
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		b.warns.Add(Pos{File: file}, "empty inventory file")
		return
	}
	if root.Kind != yaml.MappingNode {
		b.errs.Add(y.pos(root), "a YAML inventory is a mapping of group names (such as all:), found %s", kindName(root))
		return
	}
	for _, kv := range pairs(root) {
		if kv[0].Value == "plugin" {
			b.errs.Add(y.pos(kv[0]), "this is the configuration of the inventory plugin %q, not an inventory: provision reads static INI and YAML inventories only", kv[1].Value)
			return
		}
	}
	for _, kv := range pairs(root) {
		y.group(kv[0], kv[1])
	}
}

type yamlParser struct {
	b    *builder
	file string
}

func (y *yamlParser) pos(n *yaml.Node) Pos { return Pos{File: y.file, Line: n.Line, Col: n.Column} }

var groupKeys = []string{"hosts", "children", "vars"}

// group reads one group definition and returns the group (nil when the
// name itself is unusable).
func (y *yamlParser) group(key, val *yaml.Node) *Group {
	b := y.b
	if key.Kind != yaml.ScalarNode || key.Value == "" {
		b.errs.Add(y.pos(key), "a group name must be a non-empty string, found %s", kindName(key))
		return nil
	}
	g := b.group(key.Value, y.pos(key))
	val = deref(val)
	if isNull(val) {
		return g
	}
	if val.Kind != yaml.MappingNode {
		hint := ""
		if val.Kind == yaml.SequenceNode {
			hint = " (list hosts as a mapping under hosts:, each host name followed by a colon)"
		}
		b.errs.Add(y.pos(val), "group %q: expected a mapping with hosts, children or vars, found %s%s", g.Name, kindName(val), hint)
		return g
	}
	for _, kv := range pairs(val) {
		k, v := kv[0], deref(kv[1])
		switch k.Value {
		case "hosts", "children", "vars":
		default:
			hint := suggest(k.Value, groupKeys)
			if hint == "" && (isNull(v) || v.Kind == yaml.MappingNode) {
				hint = " (put hosts under hosts: and groups under children:)"
			}
			b.errs.Add(y.pos(k), "group %q: unknown key %q, want hosts, children or vars%s", g.Name, k.Value, hint)
			continue
		}
		if isNull(v) {
			continue
		}
		var entries [][2]*yaml.Node
		switch {
		case v.Kind == yaml.ScalarNode:
			// Ansible accepts a single name as a string.
			entries = [][2]*yaml.Node{{v, {Kind: yaml.ScalarNode, Tag: "!!null", Line: v.Line, Column: v.Column}}}
		case v.Kind == yaml.MappingNode:
			entries = pairs(v)
		default:
			hint := ""
			if v.Kind == yaml.SequenceNode && k.Value != "vars" {
				hint = " (write each name followed by a colon, not as a list item)"
			}
			b.errs.Add(y.pos(v), "group %q: %s must be a mapping, found %s%s", g.Name, k.Value, kindName(v), hint)
			continue
		}
		for _, e := range entries {
			switch k.Value {
			case "vars":
				if isVaulted(e[1]) {
					b.warns.Add(y.pos(e[1]), "variable %q is encrypted with ansible-vault, which provision does not read: it is left undefined", e[0].Value)
					continue
				}
				val, err := y.value(e[1])
				if err != nil {
					b.errs = append(b.errs, err)
					continue
				}
				b.setGroupVar(g, e[0].Value, val, y.pos(e[0]))
			case "children":
				if child := y.group(e[0], e[1]); child != nil {
					b.addChild(g, child, y.pos(e[0]))
				}
			case "hosts":
				y.host(g, e[0], e[1])
			}
		}
	}
	return g
}

// host reads one entry of hosts: a host pattern and its variables.
func (y *yamlParser) host(g *Group, key, val *yaml.Node) {
	b := y.b
	if key.Kind != yaml.ScalarNode || key.Value == "" {
		b.errs.Add(y.pos(key), "group %q: a host name must be a non-empty string, found %s", g.Name, kindName(key))
		return
	}
	pos := y.pos(key)
	name, port, hasPort := splitHostPort(key.Value)
	names, err := expandHostPattern(name)
	if err != nil {
		at := pos
		if re, ok := err.(*rangeError); ok {
			at.Col += runeCol(name, re.off)
			if key.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
				at.Col++
			}
		}
		b.errs.Add(at, "%v", err)
		return
	}
	if !hasPort {
		port = 0
	}
	val = deref(val)
	var vars [][2]*yaml.Node
	switch {
	case isNull(val):
	case val.Kind == yaml.MappingNode:
		vars = pairs(val)
	default:
		b.errs.Add(y.pos(val), "host %q: expected a mapping of variables, found %s", key.Value, kindName(val))
		return
	}
	type kv struct {
		k   string
		v   any
		pos Pos
	}
	var parsed []kv
	for _, e := range vars {
		if isVaulted(e[1]) {
			b.warns.Add(y.pos(e[1]), "variable %q is encrypted with ansible-vault, which provision does not read: it is left undefined", e[0].Value)
			continue
		}
		v, err := y.value(e[1])
		if err != nil {
			b.errs = append(b.errs, err)
			continue
		}
		parsed = append(parsed, kv{e[0].Value, v, y.pos(e[0])})
	}
	for _, n := range names {
		h := b.addHost(n, g, pos, y.file, port, pos)
		for _, p := range parsed {
			b.setHostVar(h, p.k, p.v, p.pos)
		}
	}
}

// value decodes a YAML value into plain Go values: string, int, float64,
// bool, nil, []any and map[string]any.
func (y *yamlParser) value(n *yaml.Node) (any, *Error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, &Error{Pos: y.pos(n), Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	return normalize(v), nil
}

// normalize turns the map[any]any yaml.v3 makes for non-string keys into
// map[string]any, recursively.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
		return x
	}
	return v
}

// pairs returns a mapping's key/value pairs, with YAML merge keys (<<)
// expanded: merged pairs first, so that explicit keys override them, and an
// earlier merged mapping winning over a later one.
func pairs(n *yaml.Node) [][2]*yaml.Node {
	n = deref(n)
	var explicit, merged [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			v = deref(v)
			switch v.Kind {
			case yaml.MappingNode:
				merged = append(merged, pairs(v)...)
			case yaml.SequenceNode:
				for _, m := range v.Content {
					if m = deref(m); m.Kind == yaml.MappingNode {
						merged = append(merged, pairs(m)...)
					}
				}
			}
			continue
		}
		explicit = append(explicit, [2]*yaml.Node{k, v})
	}
	if len(merged) == 0 {
		return explicit
	}
	seen := map[string]bool{}
	for _, kv := range explicit {
		seen[kv[0].Value] = true
	}
	var out [][2]*yaml.Node
	for _, kv := range merged {
		if !seen[kv[0].Value] {
			seen[kv[0].Value] = true
			out = append(out, kv)
		}
	}
	return append(out, explicit...)
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return n
		}
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// isVaulted reports a value encrypted with ansible-vault (!vault).
func isVaulted(n *yaml.Node) bool {
	n = deref(n)
	return n != nil && n.Tag == "!vault"
}

func kindName(n *yaml.Node) string {
	n = deref(n)
	switch {
	case n == nil || isNull(n):
		return "null"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	}
	return fmt.Sprintf("%q", n.Value)
}

// duplicateKeys warns about keys repeated in a mapping, as Ansible does:
// the later value wins.
func duplicateKeys(file string, n *yaml.Node) Errors {
	var warns Errors
	seen := map[*yaml.Node]bool{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		if n.Kind == yaml.MappingNode {
			first := map[string]int{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
					continue
				}
				if line, dup := first[k.Value]; dup {
					warns.Add(Pos{File: file, Line: k.Line, Col: k.Column}, "duplicate key %q (first at line %d): the later value wins", k.Value, line)
				} else {
					first[k.Value] = k.Line
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return warns
}
