package playbook

import (
	"gopkg.in/yaml.v3"
)

// Ansible's debug, assert, set_fact, fail and include_vars are run by the engine itself, not
// by a module: they act on the play's variables, not on the host.

// Builtin is a debug, assert, set_fact or fail task's arguments.
type Builtin struct {
	Name string // "debug", "assert", "set_fact" or "fail"
	// debug, fail: Msg is rendered and shown; Var names a variable to show.
	Msg *yaml.Node
	Var string
	// assert: every That must hold; FailMsg is shown when one does not.
	That       []Cond
	FailMsg    *yaml.Node
	SuccessMsg *yaml.Node
	// set_fact: Facts is a mapping of names to values, rendered in order.
	Facts *yaml.Node
}

// builtinKeys are the arguments each builtin takes.
var builtinKeys = map[string][]string{
	"debug":    {"msg", "var", "verbosity"},
	"assert":   {"that", "fail_msg", "msg", "success_msg", "quiet"},
	"set_fact": nil, // any variable names, and cacheable
	"fail":     {"msg"},
}

// builtin reads the arguments of a debug, assert or set_fact task.
func (p *parser) builtin(t *Task, name string, k, v *yaml.Node) {
	if t.Module != "" || t.Builtin != nil {
		p.errs.Add(p.pos(k), "task has two modules: write two tasks")
		return
	}
	t.ModulePos = p.pos(k)
	b := &Builtin{Name: name}
	t.Builtin = b
	if v.Kind != yaml.MappingNode {
		p.errs.Add(p.pos(v), "%s: expected a mapping of arguments, found %s", name, kindName(v))
		return
	}
	if name == "set_fact" {
		b.Facts = p.setFacts(v)
		return
	}
	p.mapping(v, func(ak, av *yaml.Node) {
		switch ak.Value {
		case "msg", "fail_msg":
			p.checkTemplates(av)
			if name == "debug" || name == "fail" {
				b.Msg = av
			} else {
				b.FailMsg = av
			}
		case "success_msg":
			p.checkTemplates(av)
			b.SuccessMsg = av
		case "var":
			b.Var = p.str(av, "debug.var")
		case "that":
			b.That = p.conds(av, "assert.that")
		case "verbosity", "quiet":
			// Accepted: provision's output has no verbosity levels.
		default:
			p.errs.Add(p.pos(ak), "%s: unknown argument %q%s", name, ak.Value, Suggest(ak.Value, builtinKeys[name]))
		}
	})
	if name == "assert" && b.That == nil {
		p.errs.Add(p.pos(v), "assert: missing required argument \"that\"")
	}
	if name == "fail" && b.Var != "" {
		p.errs.Add(p.pos(v), "fail: unknown argument \"var\"")
	}
	if name == "debug" && b.Msg != nil && b.Var != "" {
		p.errs.Add(p.pos(v), "debug: give msg or var, not both")
	}
}

// setFacts checks a set_fact mapping: names are variable names; cacheable
// is accepted and means nothing (facts are not cached).
func (p *parser) setFacts(v *yaml.Node) *yaml.Node {
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: v.Line, Column: v.Column}
	for i := 0; i+1 < len(v.Content); i += 2 {
		if v.Content[i].Value != "cacheable" {
			out.Content = append(out.Content, v.Content[i], v.Content[i+1])
		}
	}
	return p.vars(out)
}

// includeVars reads include_vars: FILE (or {file: FILE}) statically, as
// a set_fact of the file's variables at that point of the play.
func (p *parser) includeVars(t *Task, k, v *yaml.Node) {
	if t.Module != "" || t.Builtin != nil {
		p.errs.Add(p.pos(k), "task has two modules: write two tasks")
		return
	}
	t.ModulePos = p.pos(k)
	t.Builtin = &Builtin{Name: "include_vars"}
	file := v
	if v.Kind == yaml.MappingNode {
		file = nil
		p.mapping(v, func(ak, av *yaml.Node) {
			if ak.Value == "file" {
				file = av
				return
			}
			p.errs.Add(p.pos(ak), "include_vars: %q is not supported (supported: file)", ak.Value)
		})
	}
	if file == nil {
		p.errs.Add(p.pos(v), "include_vars: missing file")
		return
	}
	rel := p.str(file, "include_vars")
	if rel == "" || HasTemplate(rel) {
		p.errs.Add(p.pos(file), "include_vars: expected a literal file name, found %q", rel)
		return
	}
	root, sub := p.subFile(file, rel)
	if root == nil {
		return
	}
	t.Builtin.Facts = sub.vars(root)
	p.errs = append(p.errs, sub.errs...)
}
