package playbook

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/tasks"
)

// A Renderer expands the templates of one string.
type Renderer func(text string) (any, error)

// decoder fills a module's argument struct from YAML. With render == nil
// it validates only: templated values are accepted for any type and left
// unset, since their value is known only on the host.
type decoder struct {
	file   string
	render Renderer
	// literal takes templates as plain text, for fields tagged
	// render:"false" (the template module renders its content itself).
	literal bool
	errs    Errors
	// unresolved is set when render answered errUnresolved for a
	// template: its value is not known yet, and the field is left unset.
	unresolved bool
	// unset is set when a rendered value left its field unset (omit,
	// unresolved), so that checkMin does not take it for a written 0.
	unset bool
}

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line, Col: n.Column} }

func (d *decoder) fail(n *yaml.Node, format string, args ...any) {
	d.errs.Add(d.pos(n), format, args...)
}

// DecodeArgs decodes a module's arguments (a YAML mapping) into target, a
// pointer to the module's struct. It reports every problem, each at its
// position. With render == nil templated values are left unset.
func DecodeArgs(file string, node *yaml.Node, target any, render Renderer) Errors {
	d := &decoder{file: file, render: render}
	d.decode(node, reflect.ValueOf(target).Elem(), "")
	return d.errs.Sort()
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, name string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && HasTemplate(n.Value) && !d.literal {
		if d.render == nil {
			if err := CheckTemplate(n.Value); err != nil {
				d.fail(n, "%s: %v", name, err)
			}
			return
		}
		val, err := d.render(n.Value)
		if errors.Is(err, errUnresolved) {
			d.unresolved, d.unset = true, true
			return
		}
		if err != nil {
			d.fail(n, "%s: %v", name, err)
			return
		}
		if val == Omit {
			d.unset = true
			return // `| default(omit)`: as if the argument were not given
		}
		rendered := ValueNode(val)
		rendered.Line, rendered.Column = n.Line, n.Column
		// A rendered value is data (host facts, variables, -e values):
		// it is never rendered again, whatever braces it contains.
		d.literal = true
		d.decode(rendered, v, name)
		d.literal = false
		return
	}
	if n.Tag == "!!null" && v.Kind() != reflect.Interface {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.decode(n, elem.Elem(), name)
		v.Set(elem)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, "%s: expected a string, found %s", name, kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		if b, ok := d.renderedBool(n); ok {
			v.SetBool(b)
			return
		}
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			hint := ""
			if n.Kind == yaml.ScalarNode {
				switch strings.ToLower(n.Value) {
				case "yes", "no", "on", "off", "y", "n":
					hint = " (YAML 1.2 booleans are true and false only)"
				}
			}
			d.fail(n, "%s: expected true or false, found %s%s", name, describe(n), hint)
			return
		}
		b, _ := strconv.ParseBool(n.Value)
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint32, reflect.Uint64:
		i, err := parseInt(n)
		if err != nil && d.literal && n.Tag == "!!str" {
			// A rendered string of digits is an integer, as Ansible
			// converts module arguments: -e n=5 gives the string "5".
			i, err = strconv.ParseInt(strings.TrimSpace(n.Value), 10, 64)
		}
		if err != nil {
			d.fail(n, "%s: expected an integer, found %s", name, describe(n))
			return
		}
		if v.CanInt() {
			if v.OverflowInt(i) {
				d.fail(n, "%s: %d is out of range", name, i)
				return
			}
			v.SetInt(i)
			return
		}
		if i < 0 || v.OverflowUint(uint64(i)) {
			d.fail(n, "%s: %d is out of range", name, i)
			return
		}
		v.SetUint(uint64(i))
	case reflect.Slice:
		d.decodeSlice(n, v, name)
	case reflect.Map:
		d.decodeMap(n, v, name)
	case reflect.Struct:
		d.decodeStruct(n, v, name)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(n, "%s: %v", name, err)
			return
		}
		if d.render != nil && !d.literal {
			x = d.renderAny(n, x, name)
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.fail(n, "%s: cannot decode into %s (a bug in the module)", name, v.Type())
	}
}

// renderedBool converts a rendered string to a boolean as Ansible converts
// module arguments ("yes", "True", "1", "off", ...: -e flag=yes gives a
// string). Literal YAML strings stay an error: they are typos, not data.
func (d *decoder) renderedBool(n *yaml.Node) (bool, bool) {
	if !d.literal || n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(n.Value)) {
	case "yes", "on", "true", "1", "y", "t":
		return true, true
	case "no", "off", "false", "0", "n", "f":
		return false, true
	}
	return false, false
}

// renderAny expands templates inside a generic value.
func (d *decoder) renderAny(n *yaml.Node, x any, name string) any {
	switch t := x.(type) {
	case string:
		if !HasTemplate(t) {
			return t
		}
		v, err := d.render(t)
		if err != nil {
			d.fail(n, "%s: %v", name, err)
		}
		return v
	case []any:
		for i := range t {
			t[i] = d.renderAny(n, t[i], name)
		}
	case map[string]any:
		for k := range t {
			t[k] = d.renderAny(n, t[k], name)
		}
	}
	return x
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, name string) {
	items := n.Content
	if n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String {
		items = []*yaml.Node{n}
	} else if n.Kind != yaml.SequenceNode {
		d.fail(n, "%s: expected a list, found %s", name, kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", name, i))
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, name string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, "%s: expected a mapping, found %s", name, kindName(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			d.fail(k, "%s: key %q given twice", name, k.Value)
			continue
		}
		seen[k.Value] = true
		key := reflect.New(v.Type().Key()).Elem()
		d.decode(k, key, name)
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, name+"."+k.Value)
		m.SetMapIndex(key, elem)
	}
	v.Set(m)
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, name string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, "%s: expected a mapping of arguments, found %s", strings.TrimSpace(name+" "), kindName(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if an := tasks.ArgName(t.Field(i)); an != "" {
			fields[an] = i
			names = append(names, an)
		}
	}
	seen := map[string]bool{}
	suggested := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx, ok := fields[k.Value]
		if !ok {
			what := "argument"
			if name != "" {
				what = "key in " + name
			}
			hint := Suggest(k.Value, names)
			if hint != "" {
				// Do not also report the misspelt argument as missing.
				suggested[strings.Split(hint, `"`)[1]] = true
			}
			d.fail(k, "unknown %s %q%s", what, k.Value, hint)
			continue
		}
		if seen[k.Value] {
			d.fail(k, "%q given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		full := k.Value
		if name != "" {
			full = name + "." + k.Value
		}
		if t.Field(idx).Tag.Get("render") == "false" && !d.literal {
			d.literal = true
			d.decode(val, v.Field(idx), full)
			d.literal = false
			continue
		}
		before := len(d.errs)
		d.unset = false
		d.decode(val, v.Field(idx), full)
		if len(d.errs) == before && !d.unset {
			d.checkMin(t.Field(idx), v.Field(idx), val, full)
		}
	}
	for _, an := range names {
		if t.Field(fields[an]).Tag.Get("required") == "true" && !seen[an] && !suggested[an] {
			where := ""
			if name != "" {
				where = " in " + name
			}
			d.fail(n, "missing required argument %q%s", an, where)
		}
	}
}

// checkMin enforces a field's min:"N" tag on a value given in the
// playbook (zero values often mean "the default" in modules, so a written
// 0 would otherwise silently become the default).
func (d *decoder) checkMin(f reflect.StructField, v reflect.Value, n *yaml.Node, name string) {
	tag := f.Tag.Get("min")
	if tag == "" || !v.CanInt() || d.render == nil && n.Kind == yaml.ScalarNode && HasTemplate(n.Value) {
		return
	}
	if min, err := strconv.ParseInt(tag, 10, 64); err == nil && v.Int() < min && n.Tag != "!!null" {
		d.fail(n, "%s: %d is less than %d", name, v.Int(), min)
	}
}

func parseInt(n *yaml.Node) (int64, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		return 0, fmt.Errorf("not an integer")
	}
	if n.Tag == "!!float" {
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || f != math.Trunc(f) {
			return 0, fmt.Errorf("not an integer")
		}
		return int64(f), nil
	}
	return strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return describe(n)
}

func describe(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return kindName(n)
	}
	switch n.Tag {
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	case "!!null":
		return "nothing"
	}
	return n.Value
}

// ValueNode converts a plain Go value (as expressions yield) to a YAML node.
func ValueNode(v any) *yaml.Node {
	switch x := v.(type) {
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: x}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(x)}
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(x)}
	case float32, float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: fmt.Sprint(x)}
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range x {
			n.Content = append(n.Content, ValueNode(e))
		}
		return n
	case []string:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range x {
			n.Content = append(n.Content, ValueNode(e))
		}
		return n
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			n.Content = append(n.Content, ValueNode(k), ValueNode(x[k]))
		}
		return n
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := 0; i < rv.Len(); i++ {
			n.Content = append(n.Content, ValueNode(rv.Index(i).Interface()))
		}
		return n
	case reflect.Map:
		m := map[string]any{}
		for _, k := range rv.MapKeys() {
			m[fmt.Sprint(k.Interface())] = rv.MapIndex(k).Interface()
		}
		return ValueNode(m)
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprint(v)}
}
