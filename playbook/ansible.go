package playbook

import (
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/tasks"
)

// Ansible's module names. A fully qualified name (ansible.builtin.copy,
// ansible.posix.sysctl) resolves to provision's module of the same name
// where the arguments agree; an Ansible argument provision lacks is an
// error naming it. Where provision has a better-shaped module (package
// for apt, service for systemd, subid for lineinfile on /etc/subuid), the
// error names that module.

// collections are the prefixes a module name may carry.
var collections = []string{"ansible.builtin.", "ansible.legacy.", "ansible.posix.", "community.general."}

// ansibleModule tells how one of Ansible's modules maps to provision.
type ansibleModule struct {
	target string            // provision's module, "" when there is none
	rename map[string]string // Ansible's argument name -> provision's
	// unsupported are Ansible's arguments provision's module lacks.
	unsupported []string
	hint        string // with target == "": what to use instead
}

const (
	pkgHint  = `provision's package module installs with the host's apt, dnf or yum: package: {names: [podman, uidmap], state: present, update_cache: true}`
	svcHint  = `provision's service module manages systemd units (daemon-reload is automatic): service: {name: NAME, state: started, enabled: true, masked: false, scope: system}`
	editHint = `provision edits no single lines: write the whole file with copy or template, kernel parameters with sysctl, /etc/subuid and /etc/subgid with subid`
)

var ansibleModules = map[string]*ansibleModule{
	"command": {target: "command", unsupported: []string{"expand_argument_vars", "strip_empty_ends", "stdin_add_newline"}},
	"shell":   {target: "shell", unsupported: []string{"executable", "stdin_add_newline"}},
	"copy": {target: "copy", unsupported: []string{"force", "remote_src", "validate", "directory_mode",
		"follow", "local_follow", "checksum", "decrypt", "attributes", "unsafe_writes", "seuser", "serole", "setype", "selevel"}},
	"template": {target: "template", unsupported: []string{"force", "validate", "variable_start_string",
		"variable_end_string", "block_start_string", "block_end_string", "trim_blocks", "lstrip_blocks",
		"newline_sequence", "output_encoding", "follow", "attributes", "unsafe_writes"}},
	"file": {target: "file", rename: map[string]string{"dest": "path", "name": "path"},
		unsupported: []string{"recurse", "follow", "access_time", "modification_time", "access_time_format",
			"modification_time_format", "attributes", "unsafe_writes", "seuser", "serole", "setype", "selevel"}},
	"user": {target: "user", rename: map[string]string{"createhome": "create_home"},
		unsupported: []string{"append", "group", "comment", "password", "remove", "expires", "generate_ssh_key",
			"move_home", "password_lock", "update_password", "non_unique", "force", "skeleton", "umask"}},
	"service": {target: "service", unsupported: []string{"arguments", "args", "pattern", "runlevel", "sleep", "use"}},
	"sysctl": {target: "sysctl", rename: map[string]string{"sysctl_file": "file", "reload": "apply_live"},
		unsupported: []string{"sysctl_set", "ignoreerrors"}},
	"package":         {target: "package", rename: map[string]string{"name": "names", "pkg": "names"}, unsupported: []string{"use"}},
	"apt":             {hint: pkgHint},
	"apt_get":         {hint: pkgHint},
	"dnf":             {hint: pkgHint},
	"dnf5":            {hint: pkgHint},
	"yum":             {hint: pkgHint},
	"systemd":         {hint: svcHint},
	"systemd_service": {hint: svcHint},
	"lineinfile":      {hint: editHint},
	"blockinfile":     {hint: editHint},
	"replace":         {hint: editHint},
}

// podmanHint answers for containers.podman.* modules.
const podmanHint = `provision has no containers.podman modules; it has podman_migrate (podman system migrate), storage (storage.conf), registries (registries.conf), linger, systemd_unit (quadlet units) and command for other podman commands`

// resolveModule returns provision's module for a task key, the Ansible
// mapping used (nil for provision's own names), and an error message
// when the key is one of Ansible's modules that cannot be used as is.
// ok is false when the key is no module at all.
func resolveModule(key string) (name string, am *ansibleModule, msg string, ok bool) {
	if _, found := tasks.Lookup(key); found {
		return key, nil, "", true
	}
	if strings.HasPrefix(key, "containers.podman.") {
		return "", nil, key + ": " + podmanHint, true
	}
	short, qualified := key, false
	for _, c := range collections {
		if strings.HasPrefix(key, c) {
			short, qualified = strings.TrimPrefix(key, c), true
			break
		}
	}
	if structural[short] {
		return short, nil, "", true
	}
	if am := ansibleModules[short]; am != nil {
		if am.target == "" {
			return "", am, key + ": Ansible's " + short + " is not a provision module: " + am.hint, true
		}
		if _, found := tasks.Lookup(am.target); found {
			return am.target, am, "", true
		}
	}
	if qualified {
		if _, found := tasks.Lookup(short); found {
			return short, nil, "", true
		}
		return "", nil, key + ": provision has no module " + short + " (its modules: " + strings.Join(moduleNames(), ", ") + ")", true
	}
	return "", nil, "", false
}

// structural are Ansible "modules" that are playbook keys in provision.
var structural = map[string]bool{"meta": true, "include_tasks": true, "import_tasks": true,
	"import_playbook": true, "include_role": true, "import_role": true, "include_vars": true,
	"debug": true, "assert": true, "set_fact": true, "fail": true}

var subidPathRE = regexp.MustCompile(`^/etc/sub[ug]id$`)

// ansibleArgs rewrites the arguments of a task written with one of
// Ansible's module names: free-form command strings, `args:`, renamed
// arguments; it reports Ansible's arguments provision lacks.
func (p *parser) ansibleArgs(t *Task, am *ansibleModule) {
	if am == nil || t.Args == nil || t.Args.Kind != yaml.MappingNode {
		return
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: t.Args.Line, Column: t.Args.Column}
	for i := 0; i+1 < len(t.Args.Content); i += 2 {
		k, v := t.Args.Content[i], t.Args.Content[i+1]
		if contains(am.unsupported, k.Value) {
			p.errs.Add(p.pos(k), "%s: Ansible's argument %q is not supported by provision's %s (its arguments: %s)",
				t.written, k.Value, am.target, strings.Join(argNames(am.target), ", "))
			continue
		}
		if to, ok := am.rename[k.Value]; ok && !hasKey(t.Args, to) {
			nk := *k
			nk.Value = to
			k = &nk
		}
		out.Content = append(out.Content, k, v)
	}
	t.Args = out
}

// lineinfileHint names subid when lineinfile edits /etc/subuid or
// /etc/subgid.
func lineinfileHint(args *yaml.Node) string {
	if args == nil || args.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(args.Content); i += 2 {
		switch args.Content[i].Value {
		case "path", "dest", "name":
			if subidPathRE.MatchString(args.Content[i+1].Value) {
				return args.Content[i+1].Value + ": use provision's subid module, which gives each user a free range: subid: {user: alice, count: 65536}"
			}
		}
	}
	return ""
}

func argNames(module string) []string {
	m, _ := tasks.Lookup(module)
	var out []string
	for _, a := range m.Args() {
		out = append(out, a.Name)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

var inlineArgRE = regexp.MustCompile(`(^|\s)(creates|removes|chdir|executable|stdin|warn)=`)

// freeForm turns `command: prog args` (and shell) into {cmd: ...}, merged
// with the task's `args:` as Ansible does.
func (p *parser) freeForm(t *Task, args *yaml.Node) {
	a := t.Args
	if a != nil && a.Kind == yaml.ScalarNode && a.Tag == "!!str" && (t.Module == "command" || t.Module == "shell") {
		if m := inlineArgRE.FindStringSubmatch(a.Value); m != nil {
			p.errs.Add(p.pos(a), "%s: inline %s= arguments are not supported: give them under args:", t.Module, m[2])
		}
		t.Args = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: a.Line, Column: a.Column,
			Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: "cmd", Line: a.Line, Column: a.Column}, a}}
	}
	if args == nil {
		return
	}
	if args.Kind != yaml.MappingNode {
		p.errs.Add(p.pos(args), "args: expected a mapping of the module's arguments, found %s", kindName(args))
		return
	}
	if t.Args == nil || t.Args.Tag == "!!null" {
		t.Args = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: args.Line, Column: args.Column}
	}
	if t.Args.Kind != yaml.MappingNode {
		return // the decoder reports it
	}
	merged := *t.Args
	merged.Content = append(append([]*yaml.Node{}, t.Args.Content...), args.Content...)
	t.Args = &merged
}
