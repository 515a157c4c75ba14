package playbook

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/input"
)

// Ansible's structure: blocks and imported task files are expanded when
// the playbook is parsed, into the tasks they hold, each inheriting the
// block's (or import's) when, tags, vars, become_user, ignore_errors,
// no_log and check_mode. Everything stays checked by validate, with the
// included file's own file:line:col.

// maxImportDepth bounds nested imports (and so import cycles).
const maxImportDepth = 16

// blockKeys are the keys a block or an import may carry besides its body.
var blockKeys = []string{"name", "when", "tags", "become", "become_user", "become_method", "vars",
	"ignore_errors", "no_log", "check_mode", "run_once"}

// importNames are the keys that import a task file, as Ansible spells them.
var importNames = map[string]bool{"import_tasks": true, "include_tasks": true,
	"ansible.builtin.import_tasks": true, "ansible.builtin.include_tasks": true}

// expand returns the tasks a block or an import stands for; ok is false
// when n is an ordinary task.
func (p *parser) expand(n *yaml.Node, handler bool) (out []*Task, ok bool) {
	if n.Kind != yaml.MappingNode {
		return nil, false
	}
	var body, file, role, rescue, always *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i]; {
		case k.Value == "block":
			body = n.Content[i+1]
		case k.Value == "rescue":
			rescue = n.Content[i+1]
		case k.Value == "always":
			always = n.Content[i+1]
		case importNames[k.Value]:
			file = n.Content[i+1]
		case roleNames[k.Value]:
			role = n.Content[i+1]
		}
	}
	if body == nil && file == nil && role == nil {
		return nil, false
	}
	parent := &Task{Pos: p.pos(n)}
	p.mapping(n, func(k, v *yaml.Node) { p.blockKey(parent, k, v, body != nil) })
	var children []*Task
	switch {
	case body != nil:
		children = p.taskList(body, handler)
	case file != nil:
		children = p.importTasks(file, handler)
	default:
		children = p.importRole(role)
	}
	if body == nil && (rescue != nil || always != nil) {
		p.errs.Add(p.pos(n), "rescue and always belong to a block")
	}
	var res, alw []*Task
	if body != nil && (rescue != nil || always != nil) {
		if handler {
			p.errs.Add(p.pos(n), "rescue and always are not supported in handlers")
		}
		res, alw = p.taskList(orNull(rescue), handler), p.taskList(orNull(always), handler)
		children = rescuable(children, res, alw)
	}
	for _, c := range children {
		inherit(parent, c)
	}
	return children, true
}

func orNull(n *yaml.Node) *yaml.Node {
	if n == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	return n
}

// Block ties together the tasks of a block that has rescue or always:
// the engine runs rescue when a task of the body fails, always in any
// case, and goes on after the block when rescue handled the failure.
type Block struct {
	Parent        *Block // the enclosing such block, if any
	ParentSection string // which part of Parent this block is in
	Last          *Task  // the block's last task: where it ends
	HasRescue     bool
}

// rescuable joins a block's body, rescue and always into one list, each
// task marked with the block and its part.
func rescuable(body, rescue, always []*Task) []*Task {
	b := &Block{HasRescue: len(rescue) > 0}
	all := append(append(append([]*Task{}, body...), rescue...), always...)
	for _, part := range []struct {
		name  string
		tasks []*Task
	}{{"body", body}, {"rescue", rescue}, {"always", always}} {
		for _, t := range part.tasks {
			mark(t, b, part.name)
		}
	}
	if len(all) > 0 {
		b.Last = all[len(all)-1]
	}
	return all
}

// mark puts t, or the outermost block t is already in, into b's part.
func mark(t *Task, b *Block, part string) {
	if t.Block == nil {
		t.Block, t.Section = b, part
		return
	}
	top := t.Block
	for top.Parent != nil && top.Parent != b {
		top = top.Parent
	}
	if top.Parent == nil && top != b {
		top.Parent, top.ParentSection = b, part
	}
}

// Rescued reports whether a failure of t is handled by a rescue: the
// body of a block with rescue holds it, directly or through blocks whose
// failures it catches.
func (t *Task) Rescued() bool {
	b, part := t.Block, t.Section
	for b != nil {
		if part == "body" && b.HasRescue {
			return true
		}
		b, part = b.Parent, b.ParentSection
	}
	return false
}

// blockKey reads one key of a block or an import.
func (p *parser) blockKey(parent *Task, k, v *yaml.Node, block bool) {
	switch {
	case k.Value == "block" || importNames[k.Value] || roleNames[k.Value]:
	case k.Value == "rescue" || k.Value == "always":
	case k.Value == "loop" || strings.HasPrefix(k.Value, "with_"):
		p.errs.Add(p.pos(k), "%s on a block or an imported task file is not supported: put it on the tasks", k.Value)
	case contains(blockKeys, k.Value):
		t := p.task(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{k, v,
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: "meta"}, {Kind: yaml.ScalarNode, Tag: "!!str", Value: "flush_handlers"}}}, false)
		mergeParent(parent, t)
	default:
		what := "an imported task file"
		if block {
			what = "a block"
		}
		p.errs.Add(p.pos(k), "unknown key %q on %s%s", k.Value, what, Suggest(k.Value, append(blockKeys, "block", "rescue", "always")))
	}
}

// mergeParent copies what one block key set on t into parent.
func mergeParent(parent, t *Task) {
	parent.Name += t.Name
	parent.When = append(parent.When, t.When...)
	parent.Tags = append(parent.Tags, t.Tags...)
	if t.BecomeUser != "" {
		parent.BecomeUser = t.BecomeUser
	}
	if t.Vars != nil {
		parent.Vars = t.Vars
	}
	parent.IgnoreErrors = parent.IgnoreErrors || t.IgnoreErrors
	parent.NoLog = parent.NoLog || t.NoLog
	parent.RunOnce = parent.RunOnce || t.RunOnce
	if t.CheckMode != nil {
		parent.CheckMode = t.CheckMode
	}
}

// inherit gives child what its block or import set, as Ansible does: the
// block's conditions are checked before the task's own, its tags are
// added, and the task's own settings win.
func inherit(parent, child *Task) {
	child.When = append(append([]Cond{}, parent.When...), child.When...)
	child.Tags = append(append([]string{}, parent.Tags...), child.Tags...)
	if child.BecomeUser == "" {
		child.BecomeUser = parent.BecomeUser
	}
	if parent.Vars != nil {
		child.Vars = mergeVars(parent.Vars, child.Vars)
	}
	child.IgnoreErrors = child.IgnoreErrors || parent.IgnoreErrors
	child.NoLog = child.NoLog || parent.NoLog
	child.RunOnce = child.RunOnce || parent.RunOnce
	if child.CheckMode == nil {
		child.CheckMode = parent.CheckMode
	}
}

// mergeVars is a vars mapping with outer's entries first, so inner's win
// (vars are rendered in order).
func mergeVars(outer, inner *yaml.Node) *yaml.Node {
	if inner == nil {
		return outer
	}
	m := *inner
	m.Content = append(append([]*yaml.Node{}, outer.Content...), inner.Content...)
	return &m
}

// importTasks reads a task file named by an import_tasks (or a static
// include_tasks) relative to the importing file's directory.
func (p *parser) importTasks(v *yaml.Node, handler bool) []*Task {
	rel := p.str(v, "import_tasks")
	if rel == "" {
		return nil
	}
	if HasTemplate(rel) {
		p.errs.Add(p.pos(v), "import_tasks: %q: templated file names are not supported (tasks are imported statically, when the playbook is read)", rel)
		return nil
	}
	root, sub := p.subFile(v, rel)
	if root == nil {
		return nil
	}
	tasks := sub.taskList(root, handler)
	p.errs = append(p.errs, sub.errs...)
	return tasks
}

// subFile reads and parses a file a playbook names (import_tasks,
// vars_files), relative to the naming file's directory; it returns its
// root node and a parser for it, or nil after reporting why not.
func (p *parser) subFile(v *yaml.Node, rel string) (*yaml.Node, *parser) {
	if filepath.IsAbs(rel) {
		p.errs.Add(p.pos(v), "%q: a file a playbook names must be relative to it and stay inside its directory", rel)
		return nil, nil
	}
	return p.subFileAt(v, filepath.ToSlash(filepath.Join(filepath.Dir(p.rel), rel)), false)
}

// subFileAt is subFile for a path relative to the playbook's directory;
// with optional, a missing file is no error.
func (p *parser) subFileAt(v *yaml.Node, relPath string, optional bool) (*yaml.Node, *parser) {
	relPath = path.Clean(relPath)
	if relPath == ".." || strings.HasPrefix(relPath, "../") || path.IsAbs(relPath) {
		p.errs.Add(p.pos(v), "%q: a file a playbook names must stay inside the playbook's directory", relPath)
		return nil, nil
	}
	if p.depth >= maxImportDepth {
		p.errs.Add(p.pos(v), "%q: imports nest deeper than %d (an import cycle?)", relPath, maxImportDepth)
		return nil, nil
	}
	data, err := p.read(relPath)
	if err != nil {
		if !optional || !isNotExist(err) {
			p.errs.Add(p.pos(v), "%s", err)
		}
		return nil, nil
	}
	file := filepath.Join(p.pb.Dir, filepath.FromSlash(relPath))
	if p.pb.Sources == nil {
		p.pb.Sources = map[string][]byte{}
	}
	p.pb.Sources[relPath] = data
	sub := &parser{file: file, rel: relPath, keys: p.keys, pb: p.pb, read: p.read, depth: p.depth + 1, roles: p.roles, static: p.static}
	if e := vaultFileError(file, data); e != nil {
		p.errs = append(p.errs, e)
		return nil, nil
	}
	root, errs := input.YAML(file, data)
	p.errs = append(p.errs, errs...)
	if root == nil || errs != nil {
		if errs == nil && !optional {
			p.errs.Add(p.pos(v), "%s is empty", relPath)
		}
		return nil, nil
	}
	sub.vault(root)
	return root, sub
}

// readBeside reads files relative to dir, bounded as every input is. A
// link leading out of dir is refused as a name with ".." is: its target
// would be read and shown in errors (validate run on a contributed
// playbook printed the first lines of /etc/shadow).
func readBeside(dir string) func(rel string) ([]byte, error) {
	return func(rel string) ([]byte, error) {
		full := filepath.Join(dir, filepath.FromSlash(rel))
		if err := staysInside(dir, full); err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		data, err := input.ReadFile(full)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, unwrapPath(err))
		}
		return data, nil
	}
}

// staysInside refuses full when its links lead out of dir. A missing file
// is left to the read.
func staysInside(dir, full string) error {
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return nil
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(realDir, real); err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("a link leads out of the playbook's directory (to %s): a file a playbook names must stay inside it", real)
	}
	return nil
}

// unwrapPath drops the path an *fs.PathError repeats.
func unwrapPath(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && u.Unwrap() != nil && strings.Contains(err.Error(), "/") {
		return u.Unwrap()
	}
	return err
}

// varsFiles reads a play's vars_files: mappings whose entries follow the
// play's vars (so they win, as in Ansible).
func (p *parser) varsFiles(v *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	for _, rel := range p.strList(v, "vars_files") {
		if HasTemplate(rel) {
			p.errs.Add(p.pos(v), "vars_files: %q: templated file names are not supported", rel)
			continue
		}
		root, sub := p.subFile(v, rel)
		if root == nil {
			continue
		}
		if vars := sub.vars(root); vars != nil {
			out = append(out, vars.Content...)
		}
		p.errs = append(p.errs, sub.errs...)
	}
	return out
}
