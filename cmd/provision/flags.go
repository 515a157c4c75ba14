package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/input"
	"github.com/provision-tool/provision/playbook"
)

// inventoryFlag collects -i values whole (a host list keeps its commas),
// refusing one that names nothing: an empty -i must not fall back to this
// machine.
type inventoryFlag []string

func (l *inventoryFlag) String() string { return strings.Join(*l, " ") }

// Set adds one -i source.
func (l *inventoryFlag) Set(s string) error {
	if strings.Trim(s, " \t,") == "" {
		return fmt.Errorf("%q names no inventory (give a file, a directory or host1,host2,)", s)
	}
	*l = append(*l, s)
	return nil
}

// patternFlag is -l: unlike an unset -l, an empty one is an error, since
// it would silently mean every host.
type patternFlag struct {
	value string
	set   bool
}

func (p *patternFlag) String() string { return p.value }

// Set sets the pattern, refusing an empty one.
func (p *patternFlag) Set(s string) error {
	if strings.Trim(s, " \t,:") == "" {
		return fmt.Errorf("empty host pattern %q (leave out -l to select every host)", s)
	}
	p.value, p.set = s, true
	return nil
}

// checkForks refuses a --forks below 1.
func checkForks(n int) error {
	if n < 1 {
		return fmt.Errorf("--forks must be at least 1, not %d", n)
	}
	return nil
}

// checkOutput refuses an --output that is not one of formats.
func checkOutput(output string, formats ...string) error {
	for _, f := range formats {
		if output == f {
			return nil
		}
	}
	return fmt.Errorf("--output must be %s, not %q", strings.Join(formats, " or "), output)
}

type extraVars struct{ vars map[string]any }

func (x *extraVars) String() string { return "" }

// Set adds one -e: @file (YAML or JSON), a JSON object, or key=value
// pairs split as a shell would split them (Ansible's parse_kv).
func (x *extraVars) Set(s string) error {
	if x.vars == nil {
		x.vars = map[string]any{}
	}
	var m map[string]any
	var err error
	switch {
	case strings.HasPrefix(s, "@"):
		m, err = varsFile(s[1:])
	case strings.HasPrefix(strings.TrimSpace(s), "{"):
		if err = json.Unmarshal([]byte(s), &m); err != nil {
			err = fmt.Errorf("-e %s: %v", s, err)
		}
	default:
		m, err = parseKV(s)
	}
	if err != nil {
		return err
	}
	for k, v := range m {
		if k == "vars" || k == "facts" {
			return fmt.Errorf("-e %s: the variable name %q is reserved: expressions read %s.NAME", s, k, k)
		}
		x.vars[k] = v
	}
	return nil
}

// varsFile reads an -e @file: one YAML (or JSON) mapping.
func varsFile(path string) (map[string]any, error) {
	data, err := input.ReadFile(path)
	if err != nil {
		return nil, err
	}
	root, errs := input.YAML(path, data)
	if errs != nil {
		return nil, errs
	}
	if root == nil || root.Kind != yaml.MappingNode {
		what := "nothing"
		if root != nil {
			what = "a " + map[yaml.Kind]string{yaml.SequenceNode: "list", yaml.ScalarNode: "scalar"}[root.Kind]
		}
		return nil, fmt.Errorf("%s: -e @file: expected a mapping of variable names to values, found %s", path, what)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if seen[k.Value] {
			return nil, &playbook.Error{Pos: playbook.Pos{File: path, Line: k.Line, Col: k.Column}, Msg: fmt.Sprintf("key %q given twice", k.Value)}
		}
		seen[k.Value] = true
	}
	var m map[string]any
	if err := root.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return m, nil
}

// parseKV parses "a=1 b='two words' c=\"x\"": whitespace separates pairs
// except inside quotes, and quotes group but are not kept, as Ansible's
// parse_kv and a shell do.
func parseKV(s string) (map[string]any, error) {
	words, err := splitKV(s)
	if err != nil {
		return nil, fmt.Errorf("-e %s: %v", s, err)
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("-e %q: want key=value, @file or a JSON object", s)
	}
	m := map[string]any{}
	for _, kv := range words {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-e %q: want key=value, @file or a JSON object", kv)
		}
		if !identRE.MatchString(k) {
			return nil, fmt.Errorf("-e %q: %q is not a variable name", kv, k)
		}
		m[k] = v
	}
	return m, nil
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkRoot refuses a --root that is not an existing directory given by
// an absolute path, before anything is created under it.
func checkRoot(root string) error {
	if !filepath.IsAbs(root) {
		return fmt.Errorf("--root %s: give an absolute path", root)
	}
	st, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("--root: %v", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("--root %s: not a directory", root)
	}
	return nil
}

// Type names the value in help.
func (l *inventoryFlag) Type() string { return "inventory" }

// Type names the value in help.
func (p *patternFlag) Type() string { return "pattern" }

// Type names the value in help.
func (x *extraVars) Type() string { return "vars" }
