package doctor

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// arg is one argument of a task fix, kept in order for rendering.
type arg struct {
	key string
	val any
}

// task returns a fix that is a playbook task: module with its arguments.
func task(module string, args ...arg) Fix {
	m := make(map[string]any, len(args))
	for _, a := range args {
		m[a.key] = plain(a.val)
	}
	return Fix{Module: module, Args: m, Task: flowTask(module, args)}
}

// command returns a fix that is a command to run by hand, as user when not
// "" (a user's command must run in that user's session, e.g. after
// `sudo -iu USER` or `machinectl shell USER@`).
func command(cmd, user, note string) Fix { return Fix{Command: cmd, AsUser: user, Note: note} }

// note returns a fix that is only advice.
func note(s string) Fix { return Fix{Note: s} }

// flowTask renders "module: {key: value, ...}" as one line of YAML.
func flowTask(module string, args []arg) string {
	inner := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	for _, a := range args {
		inner.Content = append(inner.Content, scalar(a.key), node(a.val))
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{scalar(module), inner}}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return fmt.Sprintf("%s: %v", module, args)
	}
	return strings.TrimSpace(string(out))
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func node(v any) *yaml.Node {
	switch t := v.(type) {
	case string:
		return scalar(t)
	case int:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(t)}
	case int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(t)}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(t)}
	case []string:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, s := range t {
			n.Content = append(n.Content, scalar(s))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, x := range t {
			n.Content = append(n.Content, node(x))
		}
		return n
	case []arg:
		n := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		for _, a := range t {
			n.Content = append(n.Content, scalar(a.key), node(a.val))
		}
		return n
	}
	return scalar(fmt.Sprint(v))
}

// plain turns nested argument lists into maps, for JSON.
func plain(v any) any {
	switch t := v.(type) {
	case []arg:
		m := make(map[string]any, len(t))
		for _, a := range t {
			m[a.key] = plain(a.val)
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = plain(x)
		}
		return out
	}
	return v
}
