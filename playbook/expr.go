package playbook

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
)

// Expressions are written in the expr language (github.com/expr-lang/expr),
// both in `when:` and inside {{ }} templates. A string that is exactly one
// template, with nothing around it, keeps the value's type ("{{ users }}"
// is a list); a template with any text around it, even a newline, renders
// as text.

// Omit is the value of Ansible's `omit`: an argument whose template
// yields exactly it is left out, as if it were not written.
const Omit = "__omit_place_holder__provision__"

// Scope is the set of variables an expression sees. Facts are gathered only
// when an expression names them.
type Scope struct {
	Vars  map[string]any
	Facts func() map[string]any
}

var exprFuncs = []expr.Option{
	expr.Function("default", func(p ...any) (any, error) {
		if len(p) != 2 && len(p) != 3 {
			return nil, fmt.Errorf("default(value, fallback) takes 2 arguments, got %d", len(p))
		}
		if p[0] == nil || p[0] == "" || len(p) == 3 && p[2] == true && !truthy(p[0]) {
			return p[1], nil
		}
		return p[0], nil
	}),
	expr.Function("string", func(p ...any) (any, error) {
		if len(p) != 1 {
			return nil, fmt.Errorf("string(value) takes 1 argument")
		}
		return Stringify(p[0]), nil
	}),
}

// jinjaFuncs are the functions the Jinja filters bool and to_json call;
// an expression gets them only when it names them, so that compiling
// the others costs nothing more.
var jinjaFuncs = map[string]expr.Option{
	"bool(": expr.Function("bool", func(p ...any) (any, error) {
		if len(p) != 1 {
			return nil, fmt.Errorf("bool takes no arguments")
		}
		return ansibleBool(p[0]), nil
	}),
	"within(": expr.Function("within", func(p ...any) (any, error) {
		if len(p) != 2 {
			return nil, fmt.Errorf("within(x, y) takes 2 arguments")
		}
		return within(p[0], p[1])
	}),
	"to_json(": expr.Function("to_json", func(p ...any) (any, error) {
		if len(p) != 1 {
			return nil, fmt.Errorf("to_json takes no arguments")
		}
		data, err := json.Marshal(p[0])
		return string(data), err
	}),
}

func (s *Scope) env(code string) map[string]any {
	env := make(map[string]any, len(s.Vars)+2)
	for k, v := range s.Vars {
		env[k] = v
	}
	env["vars"] = s.Vars
	if s.Facts != nil && strings.Contains(code, "facts") {
		env["facts"] = s.Facts()
	}
	if strings.Contains(code, "omit") {
		if _, set := env["omit"]; !set {
			env["omit"] = Omit
		}
	}
	if s.Facts != nil && strings.Contains(code, "ansible_") {
		for k, v := range ansibleFacts(s.Facts()) {
			if _, set := env[k]; !set {
				env[k] = v
			}
		}
	}
	return env
}

// Eval evaluates one expression.
func (s *Scope) Eval(code string) (any, error) {
	code, err := jinja(code)
	if err != nil {
		return nil, err
	}
	env := s.env(code)
	opts := funcs(code, expr.Env(env))
	prog, err := expr.Compile(code, opts...)
	if err != nil {
		return nil, cleanExprError(err)
	}
	v, err := expr.Run(prog, env)
	if err != nil {
		return nil, cleanExprError(err)
	}
	return v, nil
}

// EvalBool evaluates a condition, which must yield a boolean.
func (s *Scope) EvalBool(code string) (bool, error) {
	v, err := s.Eval(code)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("condition %q is %s, not a boolean", code, Stringify(v))
	}
	return b, nil
}

// Render expands the templates in text. Exactly one template with nothing
// around it yields the expression's value; otherwise the result is a string.
func (s *Scope) Render(text string) (any, error) {
	parts, err := splitTemplate(text)
	if err != nil {
		return nil, err
	}
	if len(parts) == 1 && parts[0].code {
		return s.Eval(parts[0].text)
	}
	var b strings.Builder
	for _, p := range parts {
		if !p.code {
			b.WriteString(p.text)
			continue
		}
		v, err := s.Eval(p.text)
		if err != nil {
			return nil, err
		}
		b.WriteString(Stringify(v))
	}
	return b.String(), nil
}

// RenderString is Render for places that need text.
func (s *Scope) RenderString(text string) (string, error) {
	v, err := s.Render(text)
	if err != nil {
		return "", err
	}
	return Stringify(v), nil
}

// HasTemplate reports whether text contains a {{ }} template.
func HasTemplate(text string) bool { return strings.Contains(text, "{{") }

// CheckExpr reports syntax errors in an expression without evaluating it.
func CheckExpr(code string) error {
	code, err := jinja(code)
	if err != nil {
		return err
	}
	opts := funcs(code, expr.AllowUndefinedVariables())
	_, err = expr.Compile(code, opts...)
	return cleanExprError(err)
}

// CheckTemplate reports syntax errors in every template of text.
func CheckTemplate(text string) error {
	parts, err := splitTemplate(text)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if p.code {
			if err := CheckExpr(p.text); err != nil {
				return err
			}
		}
	}
	return nil
}

type part struct {
	text string
	code bool
}

func splitTemplate(text string) ([]part, error) {
	var parts []part
	rest := text
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				parts = append(parts, part{text: rest})
			}
			break
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("unclosed {{ in %q", text)
		}
		if i > 0 {
			parts = append(parts, part{text: rest[:i]})
		}
		code := strings.TrimSpace(rest[i+2 : i+2+j])
		if code == "" {
			return nil, fmt.Errorf("empty {{ }} in %q", text)
		}
		parts = append(parts, part{text: code, code: true})
		rest = rest[i+2+j+2:]
	}
	return parts, nil
}

// Stringify renders a value as text: strings as they are, scalars in Go's
// format, lists and maps as JSON.
func Stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case fmt.Stringer:
		return x.String()
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}

func cleanExprError(err error) error {
	if err == nil {
		return nil
	}
	// expr errors carry a multi-line source excerpt; keep the first line.
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return fmt.Errorf("%s", msg)
}

// funcs returns first, the functions every expression has, and those of
// jinjaFuncs that code names.
func funcs(code string, first expr.Option) []expr.Option {
	opts := make([]expr.Option, 0, len(exprFuncs)+1+len(jinjaFuncs))
	opts = append(append(opts, first), exprFuncs...)
	for name, f := range jinjaFuncs {
		if strings.Contains(code, name) {
			opts = append(opts, f)
		}
	}
	return opts
}
