package tasks

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// A Module describes one task type: its name in playbooks, its
// documentation and how to make an empty task to decode arguments into.
//
// Arguments are the exported fields of the value New returns, named by
// their `yaml` tag. A `doc` tag documents an argument, `default` gives its
// default for the docs, and `required:"true"` makes it mandatory. `enum`
// lists the values a string argument takes, comma separated (a leading
// comma admits ""), for the docs and the playbook schema; the module's
// Validate still checks them, with its own hints. `min` is an integer's
// least value.
type Module struct {
	Name    string
	Summary string // one line, lower case, no trailing period
	Doc     string // markdown paragraphs for docs/modules/NAME.md
	Example string // a YAML task list showing typical use
	New     func() Task
}

var (
	regMu   sync.RWMutex
	modules = map[string]Module{}
)

// Register makes a module available to playbooks. It is meant to be called
// from init and panics on a duplicate or malformed registration, which is a
// programming error.
func Register(m Module) {
	regMu.Lock()
	defer regMu.Unlock()
	if m.Name == "" || m.New == nil {
		panic("tasks: Register needs a name and a constructor")
	}
	if _, dup := modules[m.Name]; dup {
		panic("tasks: module registered twice: " + m.Name)
	}
	if k := reflect.TypeOf(m.New()); k.Kind() != reflect.Pointer || k.Elem().Kind() != reflect.Struct {
		panic("tasks: module " + m.Name + " must construct a pointer to a struct")
	}
	modules[m.Name] = m
}

// Lookup returns the module registered under name.
func Lookup(name string) (Module, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	m, ok := modules[name]
	return m, ok
}

// Modules returns every registered module, sorted by name.
func Modules() []Module {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]Module, 0, len(modules))
	for _, m := range modules {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Arg documents one argument of a module.
type Arg struct {
	Name     string
	Type     string
	Required bool
	Default  string
	Doc      string
	Enum     []string // the values it takes, when they are a fixed set
}

// Args lists the arguments of a module from its struct definition, in
// declaration order.
func (m Module) Args() []Arg {
	return argsOf(reflect.TypeOf(m.New()).Elem())
}

func argsOf(t reflect.Type) []Arg {
	var out []Arg
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := ArgName(f)
		if name == "" {
			continue
		}
		out = append(out, Arg{
			Name:     name,
			Type:     typeName(f.Type),
			Required: f.Tag.Get("required") == "true",
			Default:  f.Tag.Get("default"),
			Doc:      f.Tag.Get("doc"),
			Enum:     Enum(f),
		})
	}
	return out
}

// ArgName returns the playbook name of a struct field, or "" when the field
// is not an argument (unexported, or tagged yaml:"-").
func ArgName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name
}

// Enum returns the values a field's `enum` tag lists, nil when it has
// none.
func Enum(f reflect.StructField) []string {
	tag, ok := f.Tag.Lookup("enum")
	if !ok {
		return nil
	}
	return strings.Split(tag, ",")
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Elem())
	case reflect.Struct:
		return "mapping"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	case reflect.Interface:
		return "any"
	}
	return t.String()
}

// Markdown renders the module's reference page.
func (m Module) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n%s.\n\n", m.Name, upperFirst(m.Summary))
	if m.Doc != "" {
		b.WriteString(strings.TrimSpace(m.Doc) + "\n\n")
	}
	b.WriteString("## Arguments\n\n| name | type | required | default | description |\n|---|---|---|---|---|\n")
	for _, a := range m.Args() {
		req := ""
		if a.Required {
			req = "yes"
		}
		def := a.Default
		if def != "" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", a.Name, a.Type, req, def, strings.ReplaceAll(a.Doc, "|", "\\|"))
	}
	if m.Example != "" {
		b.WriteString("\n## Example\n\n```yaml\n" + strings.TrimSpace(m.Example) + "\n```\n")
	}
	b.WriteString("\n<!-- generated from the module's definition by `provision doc -w docs/modules`; do not edit -->\n")
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
