package command

import (
	"context"

	"github.com/provision-tool/provision/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name:    "shell",
		Summary: "run a command line with /bin/sh -c, unless creates, removes or an unless probe say it is done",
		Doc: `The shell module runs ` + "`cmd`" + ` with ` + "`/bin/sh -c`" + `, so pipes,
redirections, variables and globs work. Prefer the command module when you do
not need them: it has no quoting pitfalls. Values interpolated with
` + "`{{ }}`" + ` are inserted as they are, not quoted for the shell.

` + commonDoc + `

` + "`unless`" + ` given as one string is run with ` + "`/bin/sh -c`" + ` too; given as a
list of several items it is an argv, run without a shell.`,
		Example: `- name: export the base image once
  shell:
    cmd: podman save registry.example.com/base:1 | gzip > /var/backups/base-1.tar.gz
    creates: /var/backups/base-1.tar.gz
- name: trust the internal CA unless the bundle has it
  shell:
    cmd: cat /etc/pki/internal/ca.pem >> /etc/pki/tls/certs/ca-bundle.crt
    unless: grep -qxF "$(sed -n 2p /etc/pki/internal/ca.pem)" /etc/pki/tls/certs/ca-bundle.crt`,
		New: func() tasks.Task { return new(Shell) },
	})
}

// Shell runs a command line with /bin/sh -c.
type Shell struct {
	Cmd     string            `yaml:"cmd" required:"true" doc:"the command line, run with /bin/sh -c"`
	Chdir   string            `yaml:"chdir" default:"/" doc:"absolute directory to run in"`
	Creates string            `yaml:"creates" doc:"absolute path; when it exists the command is not run"`
	Removes string            `yaml:"removes" doc:"absolute path; when it does not exist the command is not run"`
	Unless  []string          `yaml:"unless" doc:"read-only probe run during Check (in check mode too); exit 0 means nothing to do. A string runs with /bin/sh -c, a list of several items is an argv"`
	Stdin   string            `yaml:"stdin" doc:"text fed to the command's standard input"`
	Env     map[string]string `yaml:"env" doc:"extra environment variables"`

	result *tasks.Result
}

// Sh is the shell the module runs.
const Sh = "/bin/sh"

func (s *Shell) guard() guard {
	g := guard{chdir: s.Chdir, creates: s.Creates, removes: s.Removes, stdin: s.Stdin, env: s.Env}
	switch len(s.Unless) {
	case 0:
	case 1:
		g.unless = []string{Sh, "-c", s.Unless[0]}
	default:
		g.unless = s.Unless
	}
	return g
}

// Validate implements tasks.Validator.
func (s *Shell) Validate() error {
	if s.Cmd == "" {
		return tasks.BadArg("cmd", "is required")
	}
	if len(s.Unless) == 1 && s.Unless[0] == "" {
		return tasks.BadArg("unless", "is empty")
	}
	if len(s.Unless) > 1 {
		if err := validateArgv("unless", s.Unless); err != nil {
			return err
		}
	}
	return validateGuard(s.Chdir, s.Creates, s.Removes, s.Env)
}

// Check implements tasks.Task.
func (s *Shell) Check(ctx context.Context, sys *tasks.System) (tasks.Plan, error) {
	if err := s.Validate(); err != nil {
		return tasks.Plan{}, err
	}
	return s.guard().plan(ctx, sys, []string{Sh, "-c", s.Cmd})
}

// Apply implements tasks.Task.
func (s *Shell) Apply(ctx context.Context, sys *tasks.System, p tasks.Plan) error {
	r, err := run(ctx, sys, p)
	s.result = r
	return err
}

// Imperative implements tasks.Imperative, as for the command module.
func (s *Shell) Imperative() bool { return s.guard().imperative() }

// Output implements tasks.Outputter.
func (s *Shell) Output() map[string]any { return output(s.result) }

var (
	_ tasks.Task       = (*Shell)(nil)
	_ tasks.Imperative = (*Shell)(nil)
	_ tasks.Outputter  = (*Shell)(nil)
)
