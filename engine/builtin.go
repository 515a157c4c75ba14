package engine

import (
	"errors"
	"strings"

	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
)

// builtin runs a debug, assert, set_fact or fail task, which act on variables,
// not on the host. set_fact renders its values into vars; the caller
// keeps them for the rest of the play (keepFacts).
func (r *runner) builtin(t *playbook.Task, vars map[string]any, ev *report.Event) (string, error) {
	b, scope := t.Builtin, r.scope(vars)
	ev.Module = b.Name
	switch b.Name {
	case "debug":
		msg, err := r.debugMsg(b, scope)
		if err != nil {
			// A msg that cannot be rendered fails the task, as in Ansible.
			return report.StatusFailed, err
		}
		if !t.NoLog {
			ev.Msg = msg
		}
		return report.StatusOK, nil
	case "assert":
		return r.assert(b, scope, ev)
	case "fail":
		msg := "Failed as requested from task"
		if b.Msg != nil {
			if m, err := renderMsg(scope, b.Msg); err == nil {
				msg = m
			}
		}
		return report.StatusFailed, errors.New(msg)
	case "set_fact", "include_vars":
		if err := r.renderVars(b.Facts, vars); err != nil {
			return report.StatusFailed, err
		}
	}
	return report.StatusOK, nil
}

func (r *runner) debugMsg(b *playbook.Builtin, scope *playbook.Scope) (string, error) {
	switch {
	case b.Var != "":
		v, err := scope.Eval(b.Var)
		if err != nil {
			// As Ansible says it; the task stays ok.
			return b.Var + ": VARIABLE IS NOT DEFINED! (" + err.Error() + ")", nil
		}
		return b.Var + ": " + playbook.Stringify(v), nil
	case b.Msg != nil:
		return renderMsg(scope, b.Msg)
	}
	return "Hello world!", nil
}

func (r *runner) assert(b *playbook.Builtin, scope *playbook.Scope, ev *report.Event) (string, error) {
	for _, c := range b.That {
		ok, err := scope.EvalBool(c.Expr)
		if err != nil {
			return report.StatusFailed, &playbook.Error{Pos: c.Pos, Msg: "assert: " + err.Error()}
		}
		if ok {
			continue
		}
		msg := "assertion failed: " + c.Expr
		if b.FailMsg != nil {
			if m, err := renderMsg(scope, b.FailMsg); err == nil {
				msg = m
			}
		}
		return report.StatusFailed, &playbook.Error{Pos: c.Pos, Msg: msg}
	}
	if b.SuccessMsg != nil {
		ev.Msg, _ = renderMsg(scope, b.SuccessMsg)
	}
	return report.StatusOK, nil
}

// renderMsg renders a message: a string, or a list of strings joined.
func renderMsg(scope *playbook.Scope, n interface{ Decode(any) error }) (string, error) {
	var raw any
	if err := n.Decode(&raw); err != nil {
		return "", err
	}
	v, err := renderValue(scope, raw)
	if err != nil {
		return "", err
	}
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i := range list {
			parts[i] = playbook.Stringify(list[i])
		}
		return strings.Join(parts, "\n"), nil
	}
	return playbook.Stringify(v), nil
}

// keepFacts copies what a set_fact task set into the play's variables.
func keepFacts(t *playbook.Task, from, to map[string]any) {
	if t.Builtin == nil || t.Builtin.Facts == nil {
		return
	}
	for i := 0; i+1 < len(t.Builtin.Facts.Content); i += 2 {
		k := t.Builtin.Facts.Content[i].Value
		if v, ok := from[k]; ok {
			to[k] = v
		}
	}
}
