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
}

// Play is one play: tasks and handlers run against a host pattern.
type Play struct {
	Pos        Pos
	Name       string
	Hosts      string
	Vars       *yaml.Node // mapping, rendered on the host in order
	Tasks      []*Task
	Handlers   []*Task
	Tags       []string
	BecomeUser string
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
	Listen       []string
	Vars         *yaml.Node
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
	pb := &Playbook{File: file, Dir: filepath.Dir(file)}
	p := &parser{file: file, keys: keys, pb: pb}
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
	for _, n := range root.Content {
		if play := p.play(n); play != nil {
			pb.Plays = append(pb.Plays, play)
		}
	}
	if len(p.errs) > 0 {
		return nil, p.errs.Sort()
	}
	return pb, nil
}

type parser struct {
	file string
	keys *VaultKeys
	pb   *Playbook
	errs Errors
}

func (p *parser) pos(n *yaml.Node) Pos { return Pos{File: p.file, Line: n.Line, Col: n.Column} }

var playKeys = []string{"name", "hosts", "vars", "tasks", "handlers", "tags", "become", "become_user", "gather_facts"}

var taskKeys = []string{"name", "when", "loop", "notify", "register", "tags", "become", "become_user",
	"ignore_errors", "changed_when", "failed_when", "no_log", "check_mode", "vars", "meta"}

func (p *parser) play(n *yaml.Node) *Play {
	if n.Kind != yaml.MappingNode {
		p.errs.Add(p.pos(n), "a play is a mapping with hosts and tasks, found %s", kindName(n))
		return nil
	}
	play := &Play{Pos: p.pos(n)}
	var hostsSeen bool
	p.mapping(n, func(k, v *yaml.Node) {
		switch k.Value {
		case "name":
			play.Name = p.str(v, "name")
		case "hosts":
			hostsSeen = true
			play.Hosts = p.hostPattern(v)
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
		default:
			p.errs.Add(p.pos(k), "unknown play key %q%s", k.Value, Suggest(k.Value, playKeys))
		}
	})
	if !hostsSeen {
		p.errs.Add(play.Pos, "play %q has no hosts (use hosts: all or hosts: localhost)", play.Name)
	}
	p.checkHandlerNames(play)
	p.checkNotify(play)
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
		p.errs.Add(p.pos(v), "hosts: templates are not supported in host patterns, found %q", pattern)
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
	p.mapping(n, func(k, v *yaml.Node) {
		switch k.Value {
		case "name":
			t.Name = p.str(v, "name")
		case "when":
			t.When = p.conds(v, "when")
		case "loop":
			t.Loop = v
			p.checkTemplates(v)
			if v.Kind == yaml.MappingNode || v.Kind == yaml.ScalarNode && !HasTemplate(v.Value) {
				p.errs.Add(p.pos(v), "loop: expected a list or a {{ expression }} giving one, found %s", describe(v))
			}
		case "notify":
			t.Notify = p.names(v, "notify")
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
			t.Meta = p.str(v, "meta")
			if t.Meta != "flush_handlers" {
				p.errs.Add(p.pos(v), "meta: only flush_handlers is supported, found %q", t.Meta)
			}
		default:
			if _, ok := tasks.Lookup(k.Value); ok {
				if t.Module != "" {
					p.errs.Add(p.pos(k), "task has two modules, %s and %s: write two tasks", t.Module, k.Value)
					return
				}
				t.Module, t.ModulePos, t.Args = k.Value, p.pos(k), v
				return
			}
			unknown = append(unknown, k)
		}
	})
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
	case t.Module == "" && t.Meta == "" && len(unknown) == 0:
		p.errs.Add(t.Pos, "task %q names no module", t.DisplayName())
	case t.Module != "" && t.Meta != "":
		p.errs.Add(t.Pos, "a meta task cannot also run module %s", t.Module)
	case t.Module != "":
		p.checkArgs(t)
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
			if !names[n] {
				p.errs.Add(t.Pos, "task %q notifies %q, which is no handler of this play%s", t.DisplayName(), n, Suggest(n, list))
			}
		}
	}
}
