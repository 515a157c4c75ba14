package files

import (
	"context"
	"errors"
	"fmt"

	"github.com/provision-tool/provision/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name:    "template",
		Summary: "render a template with the play's variables and write it to a file on the host",
		Doc: `The template module renders ` + "`src`" + ` (a template file on the
controller, relative to the playbook's directory or absolute) or
` + "`content`" + ` (the template text itself), expanding every ` + "`{{ expr }}`" + `
with the task's variables and facts, in the same expression language as the
rest of the playbook. The result is written to ` + "`dest`" + ` exactly as the
copy module writes content: Check renders the template (rendering has no side
effects) and compares content, mode, owner and group; Apply writes atomically
or fixes attributes in place. ` + "`--diff`" + ` shows the rendered old and new
text; ` + "`backup: true`" + ` keeps the old file as ` + "`DEST~`" + `.

Besides ` + "`{{ expr }}`" + `, a template holds the Jinja statements
` + "`{% if %}`" + ` / ` + "`{% elif %}`" + ` / ` + "`{% else %}`" + ` / ` + "`{% endif %}`" + `,
` + "`{% for x in list %}`" + ` (with ` + "`loop.index`" + `, ` + "`loop.first`" + `, ` + "`loop.last`" + `,
` + "`{% else %}`" + ` for an empty list, ` + "`for k, v in map.items()`" + `) / ` + "`{% endfor %}`" + `,
` + "`{% set x = expr %}`" + ` and ` + "`{# comments #}`" + `. As in Ansible the newline
after a statement is dropped, and ` + "`{%-`" + ` / ` + "`-%}`" + ` strip the whitespace
before / after it. Other statements (macro, include, block, with) are an
error. See docs/playbooks.md for what is and is not Jinja.`,
		Example: `- name: storage.conf for this host
  template:
    src: templates/storage.conf.tmpl
    dest: /etc/containers/storage.conf
    mode: "0644"
- name: a greeting with a fact in it
  template:
    content: "welcome to {{ facts.os.id }}\n"
    dest: /etc/motd`,
		New: func() tasks.Task { return new(Template) },
	})
}

// Template renders a template with the play's variables into a host file.
type Template struct {
	Src     string  `yaml:"src" doc:"template file on the controller: relative to the playbook's directory, or absolute"`
	Content *string `yaml:"content" render:"false" doc:"template text to render instead of src"`
	Dest    string  `yaml:"dest" required:"true" doc:"absolute path of the file on the host"`
	Mode    string  `yaml:"mode" doc:"octal mode such as \"0640\"; unset keeps an existing file's mode (new files 0644)"`
	Owner   string  `yaml:"owner" doc:"user name or UID; unset keeps the owner (root for new files)"`
	Group   string  `yaml:"group" doc:"group name or GID; unset keeps the group"`
	Backup  bool    `yaml:"backup" default:"false" doc:"keep the old file as DEST~ before changing its content (one generation)"`
}

// Validate implements tasks.Validator.
func (t *Template) Validate() error {
	return validateSource(t.Src, t.Content, t.Dest, t.Mode, t.Owner, t.Group)
}

// Check implements tasks.Task.
func (t *Template) Check(_ context.Context, sys *tasks.System) (tasks.Plan, error) {
	if err := t.Validate(); err != nil {
		return tasks.Plan{}, err
	}
	if sys.Render == nil {
		return tasks.Plan{}, errors.New("no template renderer on this system (System.Render is not set)")
	}
	var text string
	if t.Content != nil {
		text = *t.Content
	} else {
		data, err := readSource(sys, t.Src)
		if err != nil {
			return tasks.Plan{}, err
		}
		text = string(data)
	}
	out, err := sys.Render(text)
	if err != nil {
		if t.Src != "" {
			return tasks.Plan{}, fmt.Errorf("render %s: %w", t.Src, err)
		}
		return tasks.Plan{}, fmt.Errorf("render content: %w", err)
	}
	return planDest(sys, t.Dest, []byte(out), t.Mode, t.Owner, t.Group, t.Backup)
}

// Apply implements tasks.Task.
func (t *Template) Apply(_ context.Context, sys *tasks.System, p tasks.Plan) error {
	return apply(sys, p)
}

var _ tasks.Task = (*Template)(nil)
