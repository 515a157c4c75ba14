package playbook

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/input"
)

// Options change how a playbook is read.
type Options struct {
	// Keys decrypt `!vault` values; nil refuses them.
	Keys *VaultKeys
	// Dir, when set, is where imported files are read from instead of
	// beside the playbook (an agent's unpacked bundle).
	Dir string
	// RolesPath are directories, relative to the playbook's directory and
	// inside it, searched for roles after roles/ (ansible.cfg roles_path).
	RolesPath []string
	// Vars, when not nil, are the extra vars (-e) of a run: a templated
	// `hosts:` or `notify:` is rendered from them and the play's vars, as
	// Ansible renders them before any host is known. Nil (validate) checks
	// such templates' syntax only and leaves them unrendered.
	Vars map[string]any
}

// LoadOptions reads (bounded) and parses a playbook file with options.
func LoadOptions(path string, o Options) (*Playbook, error) {
	data, err := input.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseOptions(path, data, o)
}

// staticScope is what a play's hosts and notify may use: its vars (and
// vars_files, and its roles' vars) as far as they render without a host,
// then the extra vars, which win, as in Ansible.
func (p *parser) staticScope(play *Play) *Scope {
	vars := map[string]any{}
	scope := &Scope{Vars: vars}
	for _, node := range []*yaml.Node{play.Defaults, play.Vars} {
		if node == nil {
			continue
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			var val any
			if v.Decode(&val) != nil {
				continue
			}
			if s, ok := val.(string); ok && HasTemplate(s) {
				r, err := scope.Render(s)
				if err != nil {
					// Known only on a host (a fact, an inventory variable):
					// left out, so a use of it is reported as such.
					delete(vars, k.Value)
					continue
				}
				val = r
			}
			vars[k.Value] = val
		}
	}
	for k, v := range p.static {
		vars[k] = v
	}
	return scope
}

// renderStatic renders a play's templated hosts pattern and notify names
// (and handlers' listen names) before the run, from what is known then.
// What needs a host is an error that says so.
func (p *parser) renderStatic(play *Play) {
	if p.static == nil {
		return
	}
	var scope *Scope
	get := func() *Scope {
		if scope == nil {
			scope = p.staticScope(play)
		}
		return scope
	}
	if HasTemplate(play.Hosts) {
		v, err := get().Render(play.Hosts)
		s, ok := hostsValue(v)
		switch {
		case err != nil:
			p.errs.Add(play.HostsPos, "hosts: %q cannot be rendered before the run: %v (a play's hosts may use extra vars (-e) and the play's vars and vars_files, not inventory variables, facts or registered results)", play.Hosts, err)
		case !ok:
			p.errs.Add(play.HostsPos, "hosts: %q renders to %s, not a host pattern", play.Hosts, Stringify(v))
		case strings.Trim(s, " \t,:") == "":
			p.errs.Add(play.HostsPos, "hosts: %q renders to an empty host pattern, which selects no host", play.Hosts)
		default:
			play.Hosts = s
		}
	}
	for _, t := range append(append([]*Task{}, play.Tasks...), play.Handlers...) {
		for i, n := range t.Notify {
			if !HasTemplate(n) {
				continue
			}
			s, err := get().RenderString(n)
			if err != nil {
				p.errs.Add(t.Pos, "notify: %q cannot be rendered before the run: %v (provision matches notifications to handlers when it reads the playbook, so notify may use extra vars (-e) and the play's vars, not loop items, facts, inventory variables or registered results)", n, err)
				continue
			}
			t.Notify[i] = s
		}
	}
}

// hostsValue takes a rendered hosts value: a pattern, or a list of
// patterns joined as Ansible joins them.
func hostsValue(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return "", false
			}
			parts[i] = s
		}
		return strings.Join(parts, ":"), true
	}
	return "", false
}
