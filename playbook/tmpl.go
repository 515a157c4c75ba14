package playbook

import (
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Template files (the template module) are Jinja documents: besides
// {{ expr }} they may hold {% if %} / {% elif %} / {% else %} / {% endif %},
// {% for x in list %} (also `for k, v in map | dictsort` style pairs via
// `.items()`) / {% endfor %}, {% set x = expr %} and {# comments #}. As
// in Ansible, the newline after a {% %} tag is dropped (trim_blocks), and
// {%- / -%} strip the whitespace before / after a tag. The text is parsed
// once; what expressions yield is written as data, never parsed again.

type tnode struct {
	kind  string // "text", "expr", "if", "for", "set"
	text  string // text, or the expression
	conds []string
	arms  [][]tnode // if: one arm per cond, plus else; for: body, else
	vars  []string  // for: loop variables; set: the name
	line  int
}

type ttoken struct {
	kind string // "text", "expr", "stmt"
	text string
	line int
}

// lexTemplate splits text into text, {{ }} and {% %} tokens, applying
// whitespace control and dropping comments.
func lexTemplate(text string) ([]ttoken, error) {
	var toks []ttoken
	line := 1
	trimNext := false
	for len(text) > 0 {
		i := indexAny3(text)
		lit := text
		if i >= 0 {
			lit = text[:i]
		}
		if trimNext {
			lit = strings.TrimLeft(lit, " \t\r\n")
		}
		trimNext = false
		if i < 0 {
			toks = appendText(toks, lit, line)
			break
		}
		open := text[i : i+2]
		closeTag := map[string]string{"{{": "}}", "{%": "%}", "{#": "#}"}[open]
		j := strings.Index(text[i+2:], closeTag)
		if j < 0 {
			return nil, fmt.Errorf("line %d: unclosed %s", line+strings.Count(text[:i], "\n"), open)
		}
		inner := text[i+2 : i+2+j]
		if strings.HasPrefix(inner, "-") {
			lit = strings.TrimRight(lit, " \t\r\n")
			inner = inner[1:]
		}
		if strings.HasSuffix(inner, "-") {
			trimNext = true
			inner = inner[:len(inner)-1]
		}
		toks = appendText(toks, lit, line)
		line += strings.Count(text[:i+2+j+2], "\n")
		text = text[i+2+j+2:]
		switch open {
		case "{{":
			toks = append(toks, ttoken{"expr", strings.TrimSpace(inner), line})
		case "{%":
			toks = append(toks, ttoken{"stmt", strings.TrimSpace(inner), line})
		}
		if open != "{{" && strings.HasPrefix(text, "\n") {
			text, line = text[1:], line+1 // trim_blocks, as Ansible sets it
		}
	}
	return toks, nil
}

func indexAny3(s string) int {
	best := -1
	for _, o := range []string{"{{", "{%", "{#"} {
		if i := strings.Index(s, o); i >= 0 && (best < 0 || i < best) {
			best = i
		}
	}
	return best
}

func appendText(toks []ttoken, s string, line int) []ttoken {
	if s == "" {
		return toks
	}
	return append(toks, ttoken{"text", s, line})
}

// parseTemplate builds the tree of a template file.
func parseTemplate(text string) ([]tnode, error) {
	toks, err := lexTemplate(text)
	if err != nil {
		return nil, err
	}
	nodes, rest, end, err := parseNodes(toks)
	if err != nil {
		return nil, err
	}
	if end != "" {
		return nil, fmt.Errorf("line %d: unexpected {%% %s %%}", rest[0].line, end)
	}
	return nodes, nil
}

// parseNodes parses until a statement it does not open (endif, else,
// elif, endfor), which it returns with the tokens from it on.
func parseNodes(toks []ttoken) ([]tnode, []ttoken, string, error) {
	var out []tnode
	for len(toks) > 0 {
		t := toks[0]
		switch t.kind {
		case "text":
			out = append(out, tnode{kind: "text", text: t.text})
		case "expr":
			if err := CheckExpr(t.text); err != nil {
				return nil, nil, "", fmt.Errorf("line %d: %v", t.line, err)
			}
			out = append(out, tnode{kind: "expr", text: t.text, line: t.line})
		case "stmt":
			word, arg, _ := strings.Cut(t.text, " ")
			switch word {
			case "if":
				n, rest, err := parseIf(strings.TrimSpace(arg), toks)
				if err != nil {
					return nil, nil, "", err
				}
				out, toks = append(out, n), rest
				continue
			case "for":
				n, rest, err := parseFor(strings.TrimSpace(arg), toks)
				if err != nil {
					return nil, nil, "", err
				}
				out, toks = append(out, n), rest
				continue
			case "set":
				name, val, ok := strings.Cut(arg, "=")
				name = strings.TrimSpace(name)
				if !ok || !identRE.MatchString(name) {
					return nil, nil, "", fmt.Errorf("line %d: expected {%% set NAME = expr %%}", t.line)
				}
				if err := CheckExpr(val); err != nil {
					return nil, nil, "", fmt.Errorf("line %d: %v", t.line, err)
				}
				out = append(out, tnode{kind: "set", vars: []string{name}, text: strings.TrimSpace(val), line: t.line})
			case "endif", "else", "elif", "endfor":
				return out, toks, word, nil
			default:
				return nil, nil, "", fmt.Errorf("line %d: {%% %s %%} is not supported (supported: if, elif, else, endif, for, endfor, set)", t.line, word)
			}
		}
		toks = toks[1:]
	}
	return out, nil, "", nil
}

func parseIf(cond string, toks []ttoken) (tnode, []ttoken, error) {
	n := tnode{kind: "if", line: toks[0].line}
	toks = toks[1:]
	for {
		if err := CheckExpr(cond); err != nil {
			return n, nil, fmt.Errorf("line %d: %v", n.line, err)
		}
		n.conds = append(n.conds, cond)
		body, rest, end, err := parseNodes(toks)
		if err != nil {
			return n, nil, err
		}
		n.arms = append(n.arms, body)
		switch end {
		case "elif":
			_, cond, _ = strings.Cut(rest[0].text, " ")
			cond = strings.TrimSpace(cond)
			toks = rest[1:]
		case "else":
			body, rest, end, err = parseNodes(rest[1:])
			if err != nil {
				return n, nil, err
			}
			n.arms = append(n.arms, body)
			if end != "endif" {
				return n, nil, fmt.Errorf("line %d: {%% if %%} without {%% endif %%}", n.line)
			}
			return n, rest[1:], nil
		case "endif":
			return n, rest[1:], nil
		default:
			return n, nil, fmt.Errorf("line %d: {%% if %%} without {%% endif %%}", n.line)
		}
	}
}

func parseFor(arg string, toks []ttoken) (tnode, []ttoken, error) {
	n := tnode{kind: "for", line: toks[0].line}
	vars, list, ok := strings.Cut(arg, " in ")
	if !ok {
		return n, nil, fmt.Errorf("line %d: expected {%% for NAME in expr %%}", n.line)
	}
	for _, v := range strings.Split(vars, ",") {
		v = strings.TrimSpace(v)
		if !identRE.MatchString(v) {
			return n, nil, fmt.Errorf("line %d: %q is not a loop variable name", n.line, v)
		}
		n.vars = append(n.vars, v)
	}
	n.text = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(list), ".items()"))
	if len(n.vars) > 2 {
		return n, nil, fmt.Errorf("line %d: at most two loop variables (for k, v in map.items())", n.line)
	}
	if err := CheckExpr(n.text); err != nil {
		return n, nil, fmt.Errorf("line %d: %v", n.line, err)
	}
	body, rest, end, err := parseNodes(toks[1:])
	if err != nil {
		return n, nil, err
	}
	n.arms = append(n.arms, body)
	if end == "else" {
		body, rest, end, err = parseNodes(rest[1:])
		if err != nil {
			return n, nil, err
		}
		n.arms = append(n.arms, body)
	}
	if end != "endfor" {
		return n, nil, fmt.Errorf("line %d: {%% for %%} without {%% endfor %%}", n.line)
	}
	return n, rest[1:], nil
}

// RenderTemplate renders a template file's text: {{ }}, {% %} and {# #}
// as described above.
func (s *Scope) RenderTemplate(text string) (string, error) {
	if !strings.Contains(text, "{%") && !strings.Contains(text, "{#") {
		return s.RenderString(text)
	}
	nodes, err := parseTemplate(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	local := &Scope{Vars: s.Vars, Facts: s.Facts} // set changes only this rendering
	err = local.exec(nodes, &b)
	return b.String(), err
}

// CheckTemplateFile reports syntax errors in a template file's text.
func CheckTemplateFile(text string) error {
	_, err := parseTemplate(text)
	return err
}

func (s *Scope) exec(nodes []tnode, b *strings.Builder) error {
	for _, n := range nodes {
		var err error
		switch n.kind {
		case "text":
			b.WriteString(n.text)
		case "expr":
			var v any
			if v, err = s.Eval(n.text); err == nil {
				b.WriteString(Stringify(v))
			}
		case "set":
			var v any
			if v, err = s.Eval(n.text); err == nil {
				s.Vars = copyMap(s.Vars)
				s.Vars[n.vars[0]] = v
			}
		case "if":
			err = s.execIf(n, b)
		case "for":
			err = s.execFor(n, b)
		}
		if err != nil {
			if n.line > 0 && !strings.HasPrefix(err.Error(), "line ") {
				err = fmt.Errorf("line %d: %w", n.line, err)
			}
			return err
		}
	}
	return nil
}

func (s *Scope) execIf(n tnode, b *strings.Builder) error {
	for i, c := range n.conds {
		v, err := s.Eval(c)
		if err != nil {
			return err
		}
		if truthy(v) {
			return s.exec(n.arms[i], b)
		}
	}
	if len(n.arms) > len(n.conds) {
		return s.exec(n.arms[len(n.conds)], b)
	}
	return nil
}

func (s *Scope) execFor(n tnode, b *strings.Builder) error {
	v, err := s.Eval(n.text)
	if err != nil {
		return err
	}
	pairs, err := loopPairs(v, len(n.vars))
	if err != nil {
		return err
	}
	if len(pairs) == 0 && len(n.arms) > 1 {
		return s.exec(n.arms[1], b)
	}
	for i, p := range pairs {
		inner := &Scope{Vars: copyMap(s.Vars), Facts: s.Facts}
		for j, name := range n.vars {
			inner.Vars[name] = p[j]
		}
		inner.Vars["loop"] = map[string]any{"index": i + 1, "index0": i, "first": i == 0,
			"last": i == len(pairs)-1, "length": len(pairs)}
		if err := inner.exec(n.arms[0], b); err != nil {
			return err
		}
	}
	return nil
}

// loopPairs gives the values a for loop binds: items of a list, or keys
// (and values, with two variables) of a mapping in key order.
func loopPairs(v any, nvars int) ([][2]any, error) {
	var out [][2]any
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = append(out, [2]any{e, nil})
		}
	case []string:
		for _, e := range x {
			out = append(out, [2]any{e, nil})
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, [2]any{k, x[k]})
		}
		return out, nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("for: expected a list or a mapping, got %s", Stringify(v))
	}
	if nvars == 2 {
		return nil, fmt.Errorf("for: two loop variables need a mapping")
	}
	return out, nil
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+2)
	for k, v := range m {
		out[k] = v
	}
	return out
}

var lineRE = regexp.MustCompile(`^line (\d+): `)

// checkTemplateSrc reports syntax errors, unknown filters and tests in
// the template file a template task names literally, at their line.
func (p *parser) checkTemplateSrc(t *Task) {
	if t.Module != "template" || t.Args == nil || t.Args.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(t.Args.Content); i += 2 {
		k, v := t.Args.Content[i], t.Args.Content[i+1]
		if k.Value != "src" || v.Kind != yaml.ScalarNode || HasTemplate(v.Value) || path.IsAbs(v.Value) {
			continue
		}
		data, err := p.read(path.Clean(v.Value))
		if err != nil {
			continue // the module says what is missing, on the host
		}
		if err := CheckTemplateFile(string(data)); err != nil {
			pos := Pos{File: filepath.Join(p.pb.Dir, filepath.FromSlash(v.Value)), Line: 1, Col: 1}
			msg := err.Error()
			if m := lineRE.FindStringSubmatch(msg); m != nil {
				pos.Line, _ = strconv.Atoi(m[1])
				msg = msg[len(m[0]):]
			}
			p.errs = append(p.errs, &Error{Pos: pos, Msg: "template: " + msg})
		}
	}
}
