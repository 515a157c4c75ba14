package playbook

import (
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/input"
	"github.com/provision-tool/provision/tasks"
)

// Playbook is a parsed playbook file.
type Playbook struct {
	File  string // as given on the command line
	Dir   string // directory relative sources are resolved against
	Plays []*Play
	// Vaulted are the decrypted `!vault` values by "line:col": secrets,
	// which the engine keeps out of every output.
	Vaulted map[string]string
	// Sources are the files the playbook imports (import_tasks,
	// vars_files), by path relative to Dir: a remote agent gets them in
	// its bundle.
	Sources map[string][]byte
	// RolesPath are the directories, relative to Dir, searched for roles
	// after roles/ (ansible.cfg's roles_path).
	RolesPath []string
}

// Play is one play: tasks and handlers run against a host pattern.
type Play struct {
	Pos   Pos
	Name  string
	Hosts string
	// HostsPos is where hosts is written.
	HostsPos Pos
	Vars     *yaml.Node // mapping, rendered on the host in order
	// Defaults are its roles' defaults: rendered first, below the
	// inventory's variables.
	Defaults   *yaml.Node
	Tasks      []*Task
	Handlers   []*Task
	Tags       []string
	BecomeUser string
	// Serial are the play's batch sizes (serial:), the last repeated;
	// none: one batch of every host.
	Serial []Batch
	// MaxFailPct, when set, stops the run after a batch in which more
	// than this percentage of the hosts failed (max_fail_percentage).
	MaxFailPct *int
}

// Task is one task or handler as written in the playbook.
type Task struct {
	Pos       Pos
	Name      string
	Module    string
	ModulePos Pos
	Args      *yaml.Node // the module's argument mapping (or null)
	Meta      string     // "flush_handlers" for `meta: flush_handlers`

	When         []Cond
	Loop         *yaml.Node
	Notify       []string
	Register     string
	Tags         []string
	BecomeUser   string
	IgnoreErrors bool
	ChangedWhen  *Cond
	FailedWhen   *Cond
	NoLog        bool
	CheckMode    *bool // check_mode: false runs the task for real in check mode
	// RunOnce runs the task on one host of the play's batch only: the
	// first the controller selected (Options.RunOnceHosts).
	RunOnce     bool
	Listen      []string
	Vars        *yaml.Node
	LoopControl *LoopControl
	Builtin     *Builtin // debug, assert or set_fact, run by the engine
	// Block is the innermost block with rescue or always the task is in,
	// and Section which part of it: "body", "rescue" or "always".
	Block   *Block
	Section string
	// Until repeats the task until it holds, at most Retries more times
	// (default 3), Delay seconds apart (default 5), as in Ansible.
	Until          *Cond
	Retries, Delay *int

	written string // the module's name as written (ansible.builtin.copy)
}

// LoopControl is a task's loop_control: the loop variable's name, an
// index variable and the label shown for each item.
type LoopControl struct {
	Label    string // a template, rendered per item; "" shows the item
	LoopVar  string // "item" unless set
	IndexVar string // "" for none
}

// Cond is a `when:`-style expression with its position.
type Cond struct {
	Pos  Pos
	Expr string
}

// DisplayName is the task's name, or the module's when it has none.
func (t *Task) DisplayName() string {
	if t.Name != "" {
		return t.Name
	}
	if t.Meta != "" {
		return "meta: " + t.Meta
	}
	if t.Builtin != nil {
		return t.Builtin.Name
	}
	return t.Module
}

// Load reads and validates a playbook file.
func Load(path string) (*Playbook, error) {
	data, err := input.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes and validates a playbook. On failure it returns Errors with
// every problem found, sorted by position. `!vault` values are refused;
// ParseVault decrypts them.
func Parse(file string, data []byte) (*Playbook, error) {
	return ParseVault(file, data, nil)
}

// ParseVault is Parse with keys for `!vault` values (see VaultKeys); nil
// keys refuse them.
func ParseVault(file string, data []byte, keys *VaultKeys) (*Playbook, error) {
	return ParseVaultDir(file, data, keys, filepath.Dir(file))
}

// ParseVaultDir is ParseVault reading the files the playbook imports
// from dir rather than from beside file (an agent's unpacked bundle).
func ParseVaultDir(file string, data []byte, keys *VaultKeys, dir string) (*Playbook, error) {
	return ParseOptions(file, data, Options{Keys: keys, Dir: dir})
}

// ParseOptions is Parse with options.
func ParseOptions(file string, data []byte, o Options) (*Playbook, error) {
	dir := o.Dir
	if dir == "" {
		dir = filepath.Dir(file)
	}
	pb := &Playbook{File: file, Dir: filepath.Dir(file), RolesPath: o.RolesPath}
	p := &parser{file: file, keys: o.Keys, pb: pb, read: readBeside(dir), static: o.Vars}
	if err := vaultFileError(file, data); err != nil {
		return nil, Errors{err}
	}
	root, errs := input.YAML(file, data)
	if errs != nil {
		return nil, errs
	}
	if root == nil {
		return nil, Errors{{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "empty playbook: expected a list of plays"}}
	}
	if root.Kind != yaml.SequenceNode {
		p.errs.Add(p.pos(root), "a playbook is a list of plays, found %s", kindName(root))
		return nil, p.errs
	}
	p.vault(root)
	pb.Plays = p.plays(root)
	if len(p.errs) > 0 {
		return nil, p.errs.Sort()
	}
	return pb, nil
}

type parser struct {
	file  string
	rel   string // file relative to the playbook's directory; "" for the playbook
	keys  *VaultKeys
	pb    *Playbook
	errs  Errors
	read  func(rel string) ([]byte, error)
	depth int      // import nesting
	roles *roleAcc // what the current play's roles add to it
	// static are the extra vars known before the run; nil (validate)
	// leaves a templated hosts or notify unrendered.
	static map[string]any
}

func (p *parser) pos(n *yaml.Node) Pos { return Pos{File: p.file, Line: n.Line, Col: n.Column} }

var playKeys = []string{"name", "hosts", "vars", "tasks", "handlers", "tags", "become", "become_user", "gather_facts",
	"become_method", "vars_files", "pre_tasks", "post_tasks", "roles", "serial", "max_fail_percentage"}

var taskKeys = []string{"name", "when", "loop", "notify", "register", "tags", "become", "become_user",
	"become_method", "ignore_errors", "changed_when", "failed_when", "no_log", "check_mode", "vars", "meta",
	"args", "loop_control", "until", "retries", "delay", "environment", "with_items", "with_list", "run_once"}

func (p *parser) play(n *yaml.Node) *Play {
	if n.Kind != yaml.MappingNode {
		p.errs.Add(p.pos(n), "a play is a mapping with hosts and tasks, found %s", kindName(n))
		return nil
	}
	play := &Play{Pos: p.pos(n)}
	var hostsSeen bool
	var pre, post, roles []*Task
	var varsFiles []*yaml.Node
	p.roles = &roleAcc{loaded: map[string]bool{}}
	defer func() { p.roles = nil }()
	p.mapping(n, func(k, v *yaml.Node) {
		switch k.Value {
		case "name":
			play.Name = p.str(v, "name")
		case "hosts":
			hostsSeen = true
			play.Hosts, play.HostsPos = p.hostPattern(v), p.pos(v)
		case "vars":
			play.Vars = p.vars(v)
		case "tasks":
			play.Tasks = p.taskList(v, false)
		case "handlers":
			play.Handlers = p.taskList(v, true)
		case "tags":
			play.Tags = p.tags(v)
		case "become":
			p.boolean(v, "become")
		case "become_user":
			play.BecomeUser = p.str(v, "become_user")
		case "gather_facts":
			// Accepted for Ansible compatibility: facts are gathered lazily.
			p.boolean(v, "gather_facts")
		case "become_method":
			p.becomeMethod(v)
		case "vars_files":
			varsFiles = p.varsFiles(v)
		case "pre_tasks":
			pre = p.taskList(v, false)
		case "post_tasks":
			post = p.taskList(v, false)
		case "roles":
			roles = p.playRoles(v)
		case "serial":
			play.Serial = p.serial(v)
		case "max_fail_percentage":
			play.MaxFailPct = p.percent(v, "max_fail_percentage")
		default:
			if msg, ok := ansiblePlayKeys[k.Value]; ok {
				p.errs.Add(p.pos(k), "%s is not supported by provision%s", k.Value, msg)
				return
			}
			p.errs.Add(p.pos(k), "unknown play key %q%s", k.Value, Suggest(k.Value, playKeys))
		}
	})
	play.Vars = withVarsFiles(play.Vars, append(varsFiles, p.roles.vars...))
	play.Defaults = withVarsFiles(nil, p.roles.defaults)
	play.Handlers = append(play.Handlers, p.roles.handlers...)
	play.Tasks = phases(pre, append(roles, play.Tasks...), post)
	if !hostsSeen {
		p.errs.Add(play.Pos, "play %q has no hosts (use hosts: all or hosts: localhost)", play.Name)
	}
	p.checkHandlerNames(play)
	p.renderStatic(play)
	p.checkNotify(play)
	p.checkRunOnce(play)
	inheritBecomeUser(play)
	return play
}

// inheritBecomeUser gives the play's become_user to its tasks and handlers
// that set none, so the engine has one place to look.
func inheritBecomeUser(play *Play) {
	for _, t := range append(append([]*Task{}, play.Tasks...), play.Handlers...) {
		if t.BecomeUser == "" {
			t.BecomeUser = play.BecomeUser
		}
	}
}

func (p *parser) hostPattern(v *yaml.Node) string {
	var pattern string
	if v.Kind == yaml.SequenceNode {
		pattern = strings.Join(p.strList(v, "hosts"), ":")
	} else {
		pattern = p.str(v, "hosts")
	}
	switch {
	case HasTemplate(pattern):
		// Rendered when the play has been read (renderStatic).
		if err := CheckTemplate(pattern); err != nil {
			p.errs.Add(p.pos(v), "hosts: %v", err)
		}
	case strings.Trim(pattern, " \t,:") == "" && (v.Kind == yaml.SequenceNode || v.Tag == "!!str"):
		p.errs.Add(p.pos(v), "hosts: empty host pattern %q selects no host (use hosts: all or hosts: localhost)", pattern)
	}
	return pattern
}

// tags reads tags: a list of names or a string of comma-separated names,
// as Ansible splits it. Templates are refused: they would be compared
// unrendered.
func (p *parser) tags(v *yaml.Node) []string {
	var out []string
	for _, t := range p.names(v, "tags") {
		for _, s := range strings.Split(t, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// names reads a list of names (notify, listen, tags), refusing templates:
// they are matched as written, before any variable is known.
func (p *parser) names(v *yaml.Node, what string) []string {
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
	}
	for _, it := range items {
		if it.Kind == yaml.ScalarNode && HasTemplate(it.Value) {
			p.errs.Add(p.pos(it), "%s: templates are not supported here (names are matched before variables are known), found %q", what, it.Value)
			return nil
		}
	}
	return p.strList(v, what)
}

// notify reads notify: names, which may be templates rendered before the
// run (renderStatic).
func (p *parser) notify(v *yaml.Node) []string {
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
	}
	for _, it := range items {
		if it.Kind == yaml.ScalarNode && HasTemplate(it.Value) {
			if err := CheckTemplate(it.Value); err != nil {
				p.errs.Add(p.pos(it), "notify: %v", err)
			}
		}
	}
	var out []string
	d := &decoder{file: p.file, literal: true} // templates kept as written
	d.decode(v, reflectValue(&out), "notify")
	p.errs = append(p.errs, d.errs...)
	return out
}

// checkHandlerNames reports handlers sharing a name: only the first would
// ever run.
func (p *parser) checkHandlerNames(play *Play) {
	first := map[string]*Task{}
	for _, h := range play.Handlers {
		if HasTemplate(h.Name) {
			p.errs.Add(h.Pos, "handler name %q: templates are not supported in handler names (notify matches names as written)", h.Name)
		}
		if h.Name == "" {
			continue
		}
		if f := first[h.Name]; f != nil {
			p.errs.Add(h.Pos, "handler %q is defined twice (first at line %d): only the first would run", h.Name, f.Pos.Line)
			continue
		}
		first[h.Name] = h
	}
}

// mapping calls fn for each key/value pair, reporting duplicate keys.
func (p *parser) mapping(n *yaml.Node, fn func(k, v *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			p.errs.Add(p.pos(k), "key %q given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		fn(k, v)
	}
}

func (p *parser) str(v *yaml.Node, what string) string {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		p.errs.Add(p.pos(v), "%s: expected a string, found %s", what, kindName(v))
		return ""
	}
	return v.Value
}

func (p *parser) boolean(v *yaml.Node, what string) bool {
	var b bool
	d := &decoder{file: p.file}
	d.decode(v, reflectValue(&b), what)
	p.errs = append(p.errs, d.errs...)
	return b
}

func (p *parser) strList(v *yaml.Node, what string) []string {
	var out []string
	d := &decoder{file: p.file}
	d.decode(v, reflectValue(&out), what)
	p.errs = append(p.errs, d.errs...)
	return out
}

func (p *parser) vars(v *yaml.Node) *yaml.Node {
	if v.Kind != yaml.MappingNode {
		p.errs.Add(p.pos(v), "vars: expected a mapping of names to values, found %s", kindName(v))
		return nil
	}
	p.mapping(v, func(k, val *yaml.Node) {
		switch {
		case !identRE.MatchString(k.Value):
			p.errs.Add(p.pos(k), "variable name %q is not an identifier", k.Value)
		case reservedVars[k.Value]:
			p.errs.Add(p.pos(k), "variable name %q is reserved: expressions read %s.NAME, so this variable could never be used", k.Value, k.Value)
		}
		p.checkTemplates(val)
	})
	return v
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedVars are names expressions give their own meaning.
var reservedVars = map[string]bool{"vars": true, "facts": true}

// checkTemplates reports template syntax errors and duplicate keys
// anywhere under n.
func (p *parser) checkTemplates(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && HasTemplate(n.Value) {
		if err := CheckTemplate(n.Value); err != nil {
			p.errs.Add(p.pos(n), "%v", err)
		}
	}
	if n.Kind == yaml.MappingNode {
		p.mapping(n, func(k, v *yaml.Node) {})
	}
	for _, c := range n.Content {
		p.checkTemplates(c)
	}
}

func (p *parser) taskList(v *yaml.Node, handlers bool) []*Task {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		p.errs.Add(p.pos(v), "expected a list of tasks, found %s", kindName(v))
		return nil
	}
	var out []*Task
	for _, n := range v.Content {
		if ts, ok := p.expand(n, handlers); ok {
			out = append(out, ts...)
			continue
		}
		if t := p.task(n, handlers); t != nil {
			out = append(out, t)
		}
	}
	return out
}

func moduleNames() []string {
	var names []string
	for _, m := range tasks.Modules() {
		names = append(names, m.Name)
	}
	return names
}

func (p *parser) task(n *yaml.Node, handler bool) *Task {
	if n.Kind != yaml.MappingNode {
		p.errs.Add(p.pos(n), "a task is a mapping with a module, found %s", kindName(n))
		return nil
	}
	t := &Task{Pos: p.pos(n)}
	var unknown []*yaml.Node
	var argsNode, envNode *yaml.Node
	var am *ansibleModule
	refused := false
	p.mapping(n, func(k, v *yaml.Node) {
		switch k.Value {
		case "name":
			t.Name = p.str(v, "name")
		case "when":
			t.When = p.conds(v, "when")
		case "loop", "with_list", "with_items":
			if t.Loop != nil {
				p.errs.Add(p.pos(k), "%s: the task already loops: give one of loop, with_list, with_items", k.Value)
				return
			}
			t.Loop = v
			p.checkTemplates(v)
			if v.Kind == yaml.MappingNode || v.Kind == yaml.ScalarNode && !HasTemplate(v.Value) {
				p.errs.Add(p.pos(v), "%s: expected a list or a {{ expression }} giving one, found %s", k.Value, describe(v))
			} else if k.Value == "with_items" {
				t.Loop = flattenLoop(v)
			}
		case "notify":
			t.Notify = p.notify(v)
		case "register":
			t.Register = p.str(v, "register")
			if t.Register != "" && !identRE.MatchString(t.Register) {
				p.errs.Add(p.pos(v), "register: %q is not an identifier", t.Register)
			}
		case "tags":
			t.Tags = p.tags(v)
		case "become":
			p.boolean(v, "become")
		case "become_user":
			t.BecomeUser = p.str(v, "become_user")
		case "ignore_errors":
			t.IgnoreErrors = p.boolean(v, "ignore_errors")
		case "changed_when":
			if c := p.conds(v, "changed_when"); len(c) > 0 {
				t.ChangedWhen = &c[0]
			}
		case "failed_when":
			if c := p.conds(v, "failed_when"); len(c) > 0 {
				t.FailedWhen = &c[0]
			}
		case "no_log":
			t.NoLog = p.boolean(v, "no_log")
		case "run_once":
			t.RunOnce = p.boolean(v, "run_once")
		case "check_mode":
			b := p.boolean(v, "check_mode")
			t.CheckMode = &b
		case "vars":
			t.Vars = p.vars(v)
		case "listen":
			if !handler {
				p.errs.Add(p.pos(k), "listen: only handlers listen")
			}
			t.Listen = p.names(v, "listen")
		case "meta":
			p.meta(t, v)
		case "args":
			argsNode = v
		case "environment":
			envNode = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: k.Line, Column: k.Column,
				Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: "env", Line: k.Line, Column: k.Column}, v}}
		case "become_method":
			p.becomeMethod(v)
		case "loop_control":
			t.LoopControl = p.loopControl(v)
		case "until":
			if c := p.conds(v, "until"); len(c) > 0 {
				t.Until = &c[0]
			}
		case "retries":
			t.Retries = p.count(v, "retries")
		case "delay":
			t.Delay = p.count(v, "delay")
		default:
			if msg, ok := ansibleTaskKeys[k.Value]; ok {
				p.errs.Add(p.pos(k), "%s is not supported by provision%s", k.Value, msg)
				return
			}
			if !p.module(t, k, v, &am, &refused) {
				unknown = append(unknown, k)
			}
		}
	})
	if refused {
		return t
	}
	p.freeForm(t, argsNode)
	if envNode != nil {
		if t.Module != "command" && t.Module != "shell" {
			p.errs.Add(p.pos(envNode), "environment: only command and shell tasks take an environment (their env: argument)")
		} else {
			p.freeForm(t, envNode)
		}
	}
	p.ansibleArgs(t, am)
	for _, k := range unknown {
		cands := append(moduleNames(), taskKeys...)
		if handler {
			cands = append(cands, "listen")
		}
		what := "unknown task key or module"
		if t.Module != "" {
			what = "unknown task key"
			cands = taskKeys
		}
		p.errs.Add(p.pos(k), "%s %q%s", what, k.Value, Suggest(k.Value, cands))
	}
	switch {
	case t.Module == "" && t.Meta == "" && t.Builtin == nil && len(unknown) == 0:
		p.errs.Add(t.Pos, "task %q names no module", t.DisplayName())
	case argsNode != nil && t.Module == "":
		p.errs.Add(p.pos(argsNode), "args: the task names no module")
	case t.Module != "" && t.Meta != "":
		p.errs.Add(t.Pos, "a meta task cannot also run module %s", t.Module)
	case t.Module != "":
		p.checkArgs(t)
		p.checkTemplateSrc(t)
	}
	return t
}

func (p *parser) conds(v *yaml.Node, what string) []Cond {
	var items []*yaml.Node
	switch v.Kind {
	case yaml.SequenceNode:
		items = v.Content
	case yaml.ScalarNode:
		items = []*yaml.Node{v}
	default:
		p.errs.Add(p.pos(v), "%s: expected an expression or a list of them, found %s", what, kindName(v))
		return nil
	}
	var out []Cond
	for _, it := range items {
		if it.Kind != yaml.ScalarNode {
			p.errs.Add(p.pos(it), "%s: expected an expression, found %s", what, kindName(it))
			continue
		}
		code := strings.TrimSpace(it.Value)
		if strings.HasPrefix(code, "{{") && strings.HasSuffix(code, "}}") {
			code = strings.TrimSpace(code[2 : len(code)-2])
		}
		if err := CheckExpr(code); err != nil {
			p.errs.Add(p.pos(it), "%s: %v", what, err)
			continue
		}
		out = append(out, Cond{Pos: p.pos(it), Expr: code})
	}
	return out
}

// checkArgs decodes the module's arguments without a host, so unknown
// arguments, wrong types and missing required ones are reported now.
func (p *parser) checkArgs(t *Task) {
	m, _ := tasks.Lookup(t.Module)
	task := m.New()
	args := t.Args
	if args.Kind == yaml.ScalarNode && args.Tag == "!!null" {
		args = &yaml.Node{Kind: yaml.MappingNode, Line: args.Line, Column: args.Column}
	}
	errs := DecodeArgs(p.file, args, task, nil)
	for _, e := range errs {
		e.Msg = t.Module + ": " + e.Msg
	}
	p.errs = append(p.errs, errs...)
	if len(errs) == 0 && !hasTemplates(args) {
		if err := Validate(task); err != nil {
			p.errs = append(p.errs, ArgPos(p.file, t.Module, args, err))
		}
	}
}

// Validate runs the task's own argument checks, if it has any.
func Validate(task tasks.Task) error {
	if v, ok := task.(tasks.Validator); ok {
		return v.Validate()
	}
	return nil
}

// ArgPos places a module's validation error at the argument it names.
func ArgPos(file, module string, args *yaml.Node, err error) *Error {
	pos := Pos{File: file, Line: args.Line, Col: args.Column}
	if ae, ok := err.(*tasks.ArgError); ok {
		for i := 0; i+1 < len(args.Content); i += 2 {
			if args.Content[i].Value == ae.Arg {
				v := args.Content[i+1]
				pos = Pos{File: file, Line: v.Line, Col: v.Column}
			}
		}
	}
	return &Error{Pos: pos, Msg: module + ": " + err.Error()}
}

func hasTemplates(n *yaml.Node) bool {
	if n.Kind == yaml.ScalarNode && HasTemplate(n.Value) {
		return true
	}
	for _, c := range n.Content {
		if hasTemplates(c) {
			return true
		}
	}
	return false
}

// checkNotify reports notifications that no handler of the play answers.
func (p *parser) checkNotify(play *Play) {
	names := map[string]bool{}
	var list []string
	for _, h := range play.Handlers {
		for _, n := range append([]string{h.Name}, h.Listen...) {
			if n != "" && !names[n] {
				names[n] = true
				list = append(list, n)
			}
		}
	}
	sort.Strings(list)
	for _, t := range append(append([]*Task{}, play.Tasks...), play.Handlers...) {
		for _, n := range t.Notify {
			if !names[n] && !HasTemplate(n) {
				p.errs.Add(t.Pos, "task %q notifies %q, which is no handler of this play%s", t.DisplayName(), n, Suggest(n, list))
			}
		}
	}
}

func (p *parser) meta(t *Task, v *yaml.Node) {
	t.Meta = p.str(v, "meta")
	if t.Meta != "flush_handlers" {
		p.errs.Add(p.pos(v), "meta: only flush_handlers is supported, found %q", t.Meta)
	}
}

// module takes k as the task's module when it names one, provision's or
// Ansible's. It sets refused when k is one of Ansible's modules that
// provision answers with an error. It returns false when k is no module.
func (p *parser) module(t *Task, k, v *yaml.Node, am **ansibleModule, refused *bool) bool {
	name, a, msg, ok := resolveModule(k.Value)
	if a == nil && ok && msg == "" {
		// Ansible's short names (copy, package) take Ansible's
		// argument names too.
		if s := ansibleModules[name]; s != nil && s.target == name {
			a = s
		}
	}
	switch {
	case !ok:
		return false
	case msg != "":
		if h := lineinfileHint(v); h != "" && a != nil && a.hint == editHint {
			msg = k.Value + " on " + h
		}
		p.errs.Add(p.pos(k), "%s", msg)
		*refused = true
		return true
	case name == "meta":
		p.meta(t, v)
		return true
	case name == "debug" || name == "assert" || name == "set_fact" || name == "fail":
		p.builtin(t, name, k, v)
		return true
	case name == "include_vars":
		p.includeVars(t, k, v)
		return true
	case structural[name]:
		p.errs.Add(p.pos(k), "%s: Ansible's %s is not supported by provision%s", k.Value, name, structuralHint[name])
		*refused = true
		return true
	case t.Module != "":
		p.errs.Add(p.pos(k), "task has two modules, %s and %s: write two tasks", t.Module, k.Value)
		return true
	}
	t.Module, t.ModulePos, t.Args, t.written, *am = name, p.pos(k), v, k.Value, a
	return true
}

// structuralHint says what to write instead of an Ansible construct
// provision does not support.
var structuralHint = map[string]string{
	"include_tasks":   " (provision imports task files statically: use import_tasks)",
	"import_playbook": " in a task list (it goes at the top level of a playbook, beside plays)",
}

// becomeMethod accepts sudo, the one method whose meaning provision has:
// the agent runs as root and runs commands as become_user.
func (p *parser) becomeMethod(v *yaml.Node) {
	if m := p.str(v, "become_method"); m != "" && m != "sudo" {
		p.errs.Add(p.pos(v), "become_method: only sudo is supported (the agent runs as root and switches to become_user itself), found %q", m)
	}
}

// loopControl reads loop_control: label, loop_var, index_var.
func (p *parser) loopControl(v *yaml.Node) *LoopControl {
	if v.Kind != yaml.MappingNode {
		p.errs.Add(p.pos(v), "loop_control: expected a mapping, found %s", kindName(v))
		return nil
	}
	lc := &LoopControl{LoopVar: "item"}
	p.mapping(v, func(k, val *yaml.Node) {
		switch k.Value {
		case "label":
			lc.Label = p.str(val, "loop_control.label")
			p.checkTemplates(val)
		case "loop_var":
			lc.LoopVar = p.ident(val, "loop_control.loop_var")
		case "index_var":
			lc.IndexVar = p.ident(val, "loop_control.index_var")
		case "pause", "extended", "extended_allitems", "break_when":
			p.errs.Add(p.pos(k), "loop_control: %s is not supported by provision (supported: label, loop_var, index_var)", k.Value)
		default:
			p.errs.Add(p.pos(k), "loop_control: unknown key %q%s", k.Value, Suggest(k.Value, []string{"label", "loop_var", "index_var"}))
		}
	})
	return lc
}

// ident reads a variable name.
func (p *parser) ident(v *yaml.Node, what string) string {
	s := p.str(v, what)
	if s != "" && (!identRE.MatchString(s) || reservedVars[s]) {
		p.errs.Add(p.pos(v), "%s: %q is not a usable variable name", what, s)
	}
	return s
}

// ansiblePlayKeys are Ansible's play keys provision does not implement,
// with what to do instead.
var ansiblePlayKeys = map[string]string{
	"strategy":           "",
	"any_errors_fatal":   "",
	"environment":        " (give env: to command and shell tasks)",
	"collections":        " (write fully qualified module names, or provision's)",
	"module_defaults":    "",
	"vars_prompt":        " (use -e NAME=VALUE)",
	"remote_user":        " (set the user in the inventory)",
	"connection":         " (the inventory says how to reach a host)",
	"order":              "",
	"force_handlers":     " (handlers of a failed run are kept and run on the next run)",
	"ignore_unreachable": "",
	"import_playbook":    " (write the plays in one playbook)",
	"handlers_files":     "",
	"become_flags":       "",
	"check_mode":         " (use --check, or check_mode: on tasks)",
	"diff":               " (use --diff)",
	"debugger":           "",
	"throttle":           "",
	"timeout":            "",
	"ignore_errors":      " (set ignore_errors: on the tasks)",
	"no_log":             " (set no_log: on the tasks)",
	"when":               " (put when: on the tasks, or in a block)",
}

// ansibleTaskKeys are Ansible's task keys provision does not implement,
// with what to do instead.
var ansibleTaskKeys = map[string]string{
	"with_dict":        " (use loop: with a list of mappings)",
	"with_fileglob":    "",
	"with_sequence":    " (use loop: with a list)",
	"with_subelements": "",
	"with_nested":      "",
	"with_together":    "",
	"delegate_to":      " (tasks run on the host of the play)",
	"delegate_facts":   "",
	"local_action":     "",
	"async":            "",
	"poll":             "",
	"rescue":           " (rescue belongs to a block)",
	"always":           " (always belongs to a block)",
	"any_errors_fatal": "",
	"throttle":         "",
	"timeout":          "",
	"diff":             " (use --diff)",
	"remote_user":      " (set the user in the inventory)",
	"connection":       "",
	"module_defaults":  "",
	"collections":      " (write fully qualified module names, or provision's)",
	"become_flags":     "",
	"debugger":         "",
	"action":           " (write the module as the task's key)",
}

// withVarsFiles appends the entries of vars_files to the play's vars.
func withVarsFiles(vars *yaml.Node, extra []*yaml.Node) *yaml.Node {
	if len(extra) == 0 {
		return vars
	}
	if vars == nil {
		vars = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	m := *vars
	m.Content = append(append([]*yaml.Node{}, vars.Content...), extra...)
	return &m
}

// phases joins pre_tasks, tasks and post_tasks, flushing handlers after
// each phase that has tasks, as Ansible does.
func phases(pre, tasks, post []*Task) []*Task {
	if pre == nil && post == nil {
		return tasks
	}
	var out []*Task
	for _, ph := range [][]*Task{pre, tasks} {
		if len(ph) > 0 {
			out = append(out, ph...)
			out = append(out, &Task{Pos: ph[len(ph)-1].Pos, Meta: "flush_handlers"})
		}
	}
	return append(out, post...)
}

// count reads a non-negative integer.
func (p *parser) count(v *yaml.Node, what string) *int {
	var n int
	d := &decoder{file: p.file}
	d.decode(v, reflectValue(&n), what)
	p.errs = append(p.errs, d.errs...)
	if n < 0 || n > 10000 {
		p.errs.Add(p.pos(v), "%s: %d is out of range (0 to 10000)", what, n)
	}
	return &n
}

// flattenLoop gives with_items its meaning: loop over the list with
// nested lists flattened.
func flattenLoop(v *yaml.Node) *yaml.Node {
	if v.Kind == yaml.ScalarNode {
		code := strings.TrimSpace(v.Value)
		if strings.HasPrefix(code, "{{") && strings.HasSuffix(code, "}}") && strings.Count(code, "{{") == 1 {
			n := *v
			n.Value = "{{ flatten(" + strings.TrimSpace(code[2:len(code)-2]) + ") }}"
			return &n
		}
		return v
	}
	n := *v
	n.Content = nil
	for _, c := range v.Content {
		if c.Kind == yaml.SequenceNode {
			n.Content = append(n.Content, flattenLoop(c).Content...)
			continue
		}
		n.Content = append(n.Content, c)
	}
	return &n
}
