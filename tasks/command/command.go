package command

import (
	"context"

	"github.com/provision-tool/provision/tasks"
)

const commonDoc = `Check decides whether the command has to run:

- with ` + "`creates`" + `, not when that path exists;
- with ` + "`removes`" + `, not when that path does not exist;
- with ` + "`unless`" + `, not when that probe exits 0. The probe runs during
  Check, in check mode too, so it must be read-only (a ` + "`test`" + `, a
  ` + "`grep -q`" + `, a query). Its output is not shown. It runs in ` + "`chdir`" + `
  with ` + "`env`" + `, without ` + "`stdin`" + `.

When ` + "`chdir`" + ` does not exist (yet), Check warns and plans the run
without running the probe, so that check mode works when an earlier task
only plans to create the directory; Apply then fails if it is still missing.

Otherwise the plan is one change, ` + "`command: run: ARGV`" + `. In check mode
(` + "`--check`" + `) that is reported and the command is not run. Apply runs it
with PATH set to the system directories and LC_ALL=C; a non-zero exit fails
the task with the exit status and the end of stderr. ` + "`register`" + ` gets
` + "`stdout`" + `, ` + "`stderr`" + ` (trailing newlines removed, as Ansible does),
` + "`stdout_lines`" + ` and ` + "`rc`" + `; ` + "`become_user`" + ` runs the command (and the
probe) as that user.

A command with none of ` + "`creates`" + `, ` + "`removes`" + `, ` + "`unless`" + ` runs on every
run and is reported changed every time: that is the truth, since nothing
says what it does. Add one of them, or ` + "`changed_when: false`" + ` for
read-only commands. With one of them the engine checks again after the run
and fails the task if the command did not do its job (did not create the
path, did not remove it, did not make the probe pass).`

func init() {
	tasks.Register(tasks.Module{
		Name:    "command",
		Summary: "run a program, without a shell, unless creates, removes or an unless probe say it is done",
		Doc: `The command module runs one program with its arguments, never through a
shell. Give ` + "`argv`" + `, a list with one item per argument (no quoting to get
wrong), or ` + "`cmd`" + `, one string split into words the way a shell would:
single and double quotes and backslashes work, and nothing is expanded.
Anything a shell would have treated specially (` + "`|`" + `, ` + "`;`" + `, ` + "`&`" + `,
` + "`<`" + `, ` + "`>`" + `, ` + "`(`" + `, ` + "`)`" + `, ` + "`$`" + `, backquotes, a leading ` + "`#`" + `) is refused
unless quoted, with a hint to use the shell module; globs (` + "`*`" + `, ` + "`?`" + `)
and ` + "`~`" + ` are passed literally.

` + commonDoc + `

` + "`unless`" + ` given as a list is an argv; given as one string it is split like
` + "`cmd`" + ` (so a one-word program path containing spaces must be quoted).`,
		Example: `- name: initialise the database once
  command:
    argv: [/usr/bin/app-init, --data, /var/lib/app]
    creates: /var/lib/app/initialised
- name: create the podman network unless it exists
  command:
    cmd: podman network create --subnet 10.89.7.0/24 appnet
    unless: podman network exists appnet`,
		New: func() tasks.Task { return new(Command) },
	})
}

// Command runs a program without a shell.
type Command struct {
	Argv    []string          `yaml:"argv" doc:"the program and its arguments, one item each (preferred)"`
	Cmd     string            `yaml:"cmd" doc:"the command as one string, split into words like a shell would but run without one"`
	Chdir   string            `yaml:"chdir" default:"/" doc:"absolute directory to run in"`
	Creates string            `yaml:"creates" doc:"absolute path; when it exists the command is not run"`
	Removes string            `yaml:"removes" doc:"absolute path; when it does not exist the command is not run"`
	Unless  []string          `yaml:"unless" doc:"read-only probe run during Check (in check mode too); exit 0 means nothing to do. A list is an argv, a string is split like cmd"`
	Stdin   string            `yaml:"stdin" doc:"text fed to the command's standard input"`
	Env     map[string]string `yaml:"env" doc:"extra environment variables"`

	result *tasks.Result
}

// argv returns the program to run, splitting cmd when argv is not given.
func (c *Command) argv() ([]string, error) {
	if len(c.Argv) > 0 {
		return c.Argv, nil
	}
	words, err := splitWords(c.Cmd)
	if err != nil {
		return nil, tasks.BadArg("cmd", err.Error())
	}
	return words, nil
}

func (c *Command) guard() (guard, error) {
	g := guard{chdir: c.Chdir, creates: c.Creates, removes: c.Removes, stdin: c.Stdin, env: c.Env}
	switch len(c.Unless) {
	case 0:
	case 1:
		words, err := splitWords(c.Unless[0])
		if err != nil {
			return g, tasks.BadArg("unless", err.Error())
		}
		g.unless = words
	default:
		g.unless = c.Unless
	}
	if g.unless != nil {
		if err := validateArgv("unless", g.unless); err != nil {
			return g, err
		}
	}
	return g, nil
}

// Validate implements tasks.Validator.
func (c *Command) Validate() error {
	switch {
	case len(c.Argv) > 0 && c.Cmd != "":
		return tasks.BadArg("cmd", "give argv or cmd, not both")
	case len(c.Argv) == 0 && c.Cmd == "":
		return tasks.BadArg("argv", "is required (or give cmd)")
	}
	argv, err := c.argv()
	if err != nil {
		return err
	}
	arg := "argv"
	if c.Cmd != "" {
		arg = "cmd"
	}
	if err := validateArgv(arg, argv); err != nil {
		return err
	}
	if _, err := c.guard(); err != nil {
		return err
	}
	return validateGuard(c.Chdir, c.Creates, c.Removes, c.Env)
}

// Check implements tasks.Task.
func (c *Command) Check(ctx context.Context, sys *tasks.System) (tasks.Plan, error) {
	if err := c.Validate(); err != nil {
		return tasks.Plan{}, err
	}
	argv, _ := c.argv()
	g, _ := c.guard()
	return g.plan(ctx, sys, argv)
}

// Apply implements tasks.Task.
func (c *Command) Apply(ctx context.Context, sys *tasks.System, p tasks.Plan) error {
	r, err := run(ctx, sys, p)
	c.result = r
	return err
}

// Imperative implements tasks.Imperative: without creates, removes or
// unless the plan stays "run" after running, so the engine must not demand
// convergence. With one of them it should, and it checks.
func (c *Command) Imperative() bool {
	g, _ := c.guard()
	return g.imperative()
}

// Output implements tasks.Outputter.
func (c *Command) Output() map[string]any { return output(c.result) }

var (
	_ tasks.Task       = (*Command)(nil)
	_ tasks.Imperative = (*Command)(nil)
	_ tasks.Outputter  = (*Command)(nil)
)
