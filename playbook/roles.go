package playbook

import (
	"errors"
	"io/fs"
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

// Roles are read when the playbook is parsed, from roles/NAME beside it:
// tasks/main.yml (or tasks_from), handlers/main.yml, defaults/main.yml,
// vars/main.yml; a literal src of a copy or template task in the role is
// found in the role's files/ or templates/ first. A play's `roles:` run
// after its pre_tasks and before its tasks; import_role and include_role
// (with a literal name: both are static) put the role's tasks where they
// are written. Each role's handlers, defaults and vars join the play once.

// roleAcc collects what a play's roles add to it.
type roleAcc struct {
	defaults []*yaml.Node // mapping entries, lowest precedence
	vars     []*yaml.Node // mapping entries, after the play's vars
	handlers []*Task
	loaded   map[string]bool
}

// roleNames are the task keys that import a role.
var roleNames = map[string]bool{"import_role": true, "include_role": true,
	"ansible.builtin.import_role": true, "ansible.builtin.include_role": true}

// playRoles reads a play's `roles:` list.
func (p *parser) playRoles(v *yaml.Node) []*Task {
	if v.Kind != yaml.SequenceNode {
		p.errs.Add(p.pos(v), "roles: expected a list of roles, found %s", kindName(v))
		return nil
	}
	var out []*Task
	for _, e := range v.Content {
		parent := &Task{Pos: p.pos(e)}
		name := ""
		switch e.Kind {
		case yaml.ScalarNode:
			name = p.str(e, "roles")
		case yaml.MappingNode:
			p.mapping(e, func(k, val *yaml.Node) {
				switch {
				case k.Value == "role" || k.Value == "name":
					name = p.str(val, "role")
				case contains(blockKeys, k.Value):
					p.blockKey(parent, k, val, true)
				default:
					p.errs.Add(p.pos(k), "roles: unknown key %q (role parameters go under vars:)%s", k.Value, Suggest(k.Value, append(blockKeys, "role")))
				}
			})
		default:
			p.errs.Add(p.pos(e), "roles: expected a role name or a mapping with role:, found %s", kindName(e))
			continue
		}
		for _, t := range p.role(e, name, "main.yml") {
			inherit(parent, t)
			out = append(out, t)
		}
	}
	return out
}

// importRole reads the argument of import_role / include_role.
func (p *parser) importRole(v *yaml.Node) []*Task {
	if v.Kind != yaml.MappingNode {
		p.errs.Add(p.pos(v), "import_role: expected a mapping with name:, found %s", kindName(v))
		return nil
	}
	name, from := "", "main.yml"
	p.mapping(v, func(k, val *yaml.Node) {
		switch k.Value {
		case "name":
			name = p.str(val, "import_role.name")
		case "tasks_from":
			from = p.str(val, "import_role.tasks_from")
			if path.Ext(from) == "" {
				from += ".yml"
			}
		default:
			p.errs.Add(p.pos(k), "import_role: %q is not supported (supported: name, tasks_from)", k.Value)
		}
	})
	return p.role(v, name, from)
}

// role reads one role's tasks (tasks/FROM) and, once per play, its
// handlers, defaults and vars.
func (p *parser) role(at *yaml.Node, name, from string) []*Task {
	if name == "" {
		p.errs.Add(p.pos(at), "role: no role name")
		return nil
	}
	if HasTemplate(name) || strings.ContainsAny(name, `/\`) || name == ".." || name == "." {
		p.errs.Add(p.pos(at), "role %q: a role is named by a literal name, found in roles/NAME beside the playbook", name)
		return nil
	}
	if p.roles == nil {
		p.errs.Add(p.pos(at), "role %s: roles are read inside a play only", name)
		return nil
	}
	dir := p.roleDir(name, from)
	if !p.roles.loaded[name] {
		p.roles.loaded[name] = true
		p.roleExtras(at, dir)
	}
	root, sub := p.subFileAt(at, dir+"/tasks/"+from, false)
	if root == nil {
		return nil
	}
	tasks := sub.taskList(root, false)
	p.errs = append(p.errs, sub.errs...)
	for _, t := range tasks {
		p.roleSource(t, dir)
	}
	return tasks
}

// roleDir is where role name is: roles/NAME beside the playbook, else
// the first directory of the roles path (ansible.cfg roles_path) that has
// it, as Ansible looks for roles.
func (p *parser) roleDir(name, from string) string {
	dir := "roles/" + name
	for _, rp := range p.pb.RolesPath {
		if p.roleExists(dir, from) {
			break
		}
		if cand := path.Join(rp, name); p.roleExists(cand, from) {
			return cand
		}
	}
	return dir
}

// roleExists reports whether dir holds a role: its tasks file, handlers,
// defaults, vars or meta.
func (p *parser) roleExists(dir, from string) bool {
	for _, f := range []string{"tasks/" + from, "handlers/main.yml", "defaults/main.yml", "vars/main.yml", "meta/main.yml"} {
		if _, err := p.read(dir + "/" + f); !isNotExist(err) {
			return true
		}
	}
	return false
}

// roleExtras reads a role's handlers, defaults and vars, each optional.
func (p *parser) roleExtras(at *yaml.Node, dir string) {
	if root, sub := p.subFileAt(at, dir+"/handlers/main.yml", true); root != nil {
		hs := sub.taskList(root, true)
		p.errs = append(p.errs, sub.errs...)
		for _, h := range hs {
			p.roleSource(h, dir)
		}
		p.roles.handlers = append(p.roles.handlers, hs...)
	}
	for _, kind := range []string{"defaults", "vars"} {
		root, sub := p.subFileAt(at, dir+"/"+kind+"/main.yml", true)
		if root == nil {
			continue
		}
		if vars := sub.vars(root); vars != nil {
			if kind == "defaults" {
				p.roles.defaults = append(p.roles.defaults, vars.Content...)
			} else {
				p.roles.vars = append(p.roles.vars, vars.Content...)
			}
		}
		p.errs = append(p.errs, sub.errs...)
	}
}

// roleSource points a literal src of a role's copy or template task at
// the role's files/ or templates/ when the file is there, as Ansible
// looks for it.
func (p *parser) roleSource(t *Task, dir string) {
	sub := map[string]string{"copy": "files", "template": "templates"}[t.Module]
	if sub == "" || t.Args == nil || t.Args.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(t.Args.Content); i += 2 {
		k, v := t.Args.Content[i], t.Args.Content[i+1]
		if k.Value != "src" || v.Kind != yaml.ScalarNode || HasTemplate(v.Value) || path.IsAbs(v.Value) {
			continue
		}
		for _, cand := range []string{dir + "/" + sub + "/" + v.Value, dir + "/" + v.Value} {
			if _, err := p.read(cand); err == nil {
				nv := *v
				nv.Value = cand
				t.Args.Content[i+1] = &nv
				break
			}
		}
	}
}

// isNotExist reports a missing file behind a read error.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// importPlaybook reads the plays of an import_playbook entry; ok is false
// when n is a play.
func (p *parser) importPlaybook(n *yaml.Node) (plays []*Play, ok bool) {
	if n.Kind != yaml.MappingNode {
		return nil, false
	}
	var file *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; k == "import_playbook" || k == "ansible.builtin.import_playbook" {
			file = n.Content[i+1]
		}
	}
	if file == nil {
		return nil, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Value != "name" && k.Value != "import_playbook" && k.Value != "ansible.builtin.import_playbook" {
			p.errs.Add(p.pos(k), "import_playbook: %q is not supported beside it (supported: name)", k.Value)
		}
	}
	rel := p.str(file, "import_playbook")
	if rel == "" || HasTemplate(rel) {
		p.errs.Add(p.pos(file), "import_playbook: expected a literal file name, found %q", rel)
		return nil, true
	}
	root, sub := p.subFile(file, rel)
	if root == nil {
		return nil, true
	}
	plays = sub.plays(root)
	p.errs = append(p.errs, sub.errs...)
	return plays, true
}

// plays reads a list of plays and imported playbooks.
func (p *parser) plays(root *yaml.Node) []*Play {
	if root.Kind != yaml.SequenceNode {
		p.errs.Add(p.pos(root), "a playbook is a list of plays, found %s", kindName(root))
		return nil
	}
	var out []*Play
	for _, n := range root.Content {
		if imported, ok := p.importPlaybook(n); ok {
			out = append(out, imported...)
			continue
		}
		if play := p.play(n); play != nil {
			out = append(out, play)
		}
	}
	return out
}
