package playbook

import (
	"errors"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	exprparser "github.com/expr-lang/expr/parser"
	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/tasks"
)

// Validation with extra variables (`provision validate -e`): extra
// variables win over every other variable, so a template that uses only
// them has, on every host, the value they give it. Such templates in a
// module's arguments are rendered, decoded and checked by the module as
// a literal value would be, each problem at the template's position.
// Templates that use anything else (play or role variables, facts, loop
// items, registered results, vars.NAME) are left unchecked, as without
// -e, and so are tasks whose when: does not hold, or depends on anything
// else.

// errUnresolved is a Renderer's answer for a template whose value is
// not known yet.
var errUnresolved = errors.New("value not known before the run")

// CheckExtraVars checks pb's templated module arguments that extra
// decides (see above). It returns nil or Errors.
func CheckExtraVars(pb *Playbook, extra map[string]any) error {
	if len(extra) == 0 {
		return nil
	}
	var errs Errors
	for _, play := range pb.Plays {
		for _, t := range append(append([]*Task{}, play.Tasks...), play.Handlers...) {
			errs = append(errs, checkTaskExtra(t, extra)...)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs.Sort()
}

// checkTaskExtra checks one task's arguments with extra.
func checkTaskExtra(t *Task, extra map[string]any) Errors {
	if t.Module == "" || t.Args == nil || !hasTemplates(t.Args) || !condsHold(t.When, extra) {
		return nil
	}
	m, ok := tasks.Lookup(t.Module)
	if !ok {
		return nil
	}
	args := t.Args
	if args.Kind == yaml.ScalarNode && args.Tag == "!!null" {
		args = &yaml.Node{Kind: yaml.MappingNode, Line: args.Line, Column: args.Column}
	}
	file := t.Pos.File
	if errs := DecodeArgs(file, args, m.New(), nil); len(errs) > 0 {
		return nil // reported by the parse already
	}
	if t.Loop != nil {
		// The loop's variables are the items', whatever -e says.
		extra = withoutLoopVars(extra, t.LoopControl)
	}
	task := m.New()
	d := &decoder{file: file, render: extraRenderer(extra)}
	d.decode(args, reflectValue(task), "")
	for _, e := range d.errs {
		e.Msg = extraMsg(t, e.Msg)
	}
	if len(d.errs) > 0 || d.unresolved {
		return d.errs
	}
	if err := Validate(task); err != nil {
		e := ArgPos(file, t.Module, args, err)
		e.Msg = extraMsg(t, strings.TrimPrefix(e.Msg, t.Module+": "))
		return Errors{e}
	}
	return nil
}

// extraMsg is the message of t's argument error msg ("ARG: what is
// wrong") with the -e values. A no_log task's keeps the argument's name
// only: what is wrong quotes the value, which may be a secret.
func extraMsg(t *Task, msg string) string {
	if !t.NoLog {
		return t.Module + ": " + msg + " (with the -e values)"
	}
	arg, _, ok := strings.Cut(msg, ": ")
	if !ok || strings.ContainsAny(arg, " \t\"'") {
		return t.Module + ": an argument is invalid with the -e values (" + hiddenByNoLog + ")"
	}
	return t.Module + ": " + arg + ": invalid with the -e values (" + hiddenByNoLog + ")"
}

// hiddenByNoLog says why a message leaves out a value.
const hiddenByNoLog = "the value is hidden by no_log"

func withoutLoopVars(extra map[string]any, lc *LoopControl) map[string]any {
	out := make(map[string]any, len(extra))
	for k, v := range extra {
		out[k] = v
	}
	delete(out, "item")
	if lc != nil {
		delete(out, lc.LoopVar)
		delete(out, lc.IndexVar)
	}
	return out
}

// condsHold reports whether every condition is decided by extra and
// holds.
func condsHold(conds []Cond, extra map[string]any) bool {
	for _, c := range conds {
		if !decided(c.Expr, extra) {
			return false
		}
		ok, err := (&Scope{Vars: extra}).EvalBool(c.Expr)
		if err != nil || !ok {
			return false
		}
	}
	return true
}

// decided reports whether an expression uses no variable but extra's:
// it compiles with only them (and vars) defined, and reads vars.NAME
// only for names extra has.
func decided(code string, extra map[string]any) bool {
	code, err := jinja(code)
	if err != nil {
		return false
	}
	env := make(map[string]any, len(extra)+2)
	for k, v := range extra {
		env[k] = v
	}
	env["vars"] = extra
	env["omit"] = Omit
	if _, err := expr.Compile(code, funcs(code, expr.Env(env))...); err != nil {
		return false
	}
	tree, err := exprparser.Parse(code)
	if err != nil {
		return false
	}
	v := &varsReads{extra: extra, ok: true}
	ast.Walk(&tree.Node, v)
	return v.ok && v.named == v.all
}

// varsReads checks the reads of vars in an expression: all counts every
// use of the name vars, named those as vars.NAME (or vars['NAME']) of a
// NAME extra has.
type varsReads struct {
	extra      map[string]any
	all, named int
	ok         bool
}

// Visit implements ast.Visitor.
func (v *varsReads) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.IdentifierNode:
		if x.Value == "vars" {
			v.all++
		}
	case *ast.MemberNode:
		id, isID := x.Node.(*ast.IdentifierNode)
		if !isID || id.Value != "vars" {
			return
		}
		if name, isStr := x.Property.(*ast.StringNode); isStr {
			if _, in := v.extra[name.Value]; in {
				v.named++
			}
		}
	}
}

// extraRenderer renders the templates extra decides, and answers
// errUnresolved for the others.
func extraRenderer(extra map[string]any) Renderer {
	return func(text string) (any, error) {
		if err := CheckTemplate(text); err != nil {
			return nil, err
		}
		parts, err := splitTemplate(text)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			if p.code && !decided(p.text, extra) {
				return nil, errUnresolved
			}
		}
		return (&Scope{Vars: extra}).Render(text)
	}
}
