// Package command provides the command and shell modules: they run a
// program on the host. A bare command plans "run" every time and says so;
// creates, removes and unless let Check decide that there is nothing to do,
// and then the engine also verifies after the run that the command did its
// job.
package command

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/provision-tool/provision/tasks"
)

// guard holds the arguments command and shell share besides the command
// itself.
type guard struct {
	chdir, creates, removes string
	unless                  []string // the probe's argv; nil when none
	stdin                   string
	env                     map[string]string
}

// cmd builds the tasks.Cmd for argv with the guard's directory,
// environment and (when withStdin) standard input.
func (g guard) cmd(argv []string, withStdin bool) tasks.Cmd {
	c := tasks.Cmd{Argv: argv, Dir: g.chdir}
	keys := make([]string, 0, len(g.env))
	for k := range g.env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.Env = append(c.Env, k+"="+g.env[k])
	}
	if withStdin && g.stdin != "" {
		c.Stdin = []byte(g.stdin)
	}
	return c
}

// imperative reports whether nothing tells Check that the command's work
// is done, so that its plan stays "run" after running.
func (g guard) imperative() bool {
	return g.creates == "" && g.removes == "" && g.unless == nil
}

// plan is the Check shared by command and shell. The unless probe is run
// here, in check mode too: it must be read-only.
func (g guard) plan(ctx context.Context, sys *tasks.System, argv []string) (tasks.Plan, error) {
	var p tasks.Plan
	if g.creates != "" && sys.Exists(g.creates) {
		sys.Logf().Debugf("not running %s: %s exists", quoteArgv(argv), g.creates)
		return p, nil
	}
	if g.removes != "" && !sys.Exists(g.removes) {
		sys.Logf().Debugf("not running %s: %s does not exist", quoteArgv(argv), g.removes)
		return p, nil
	}
	if g.chdir != "" {
		if fi, err := sys.Stat(g.chdir); err != nil || !fi.IsDir() {
			// An earlier task may only have planned the directory (check
			// mode): say what would run rather than fail, and let Apply
			// fail if it is still missing then.
			p.Warn(fmt.Sprintf("chdir %s is not a directory (yet): applying fails unless an earlier task creates it", g.chdir))
			if g.unless != nil {
				p.Warn("the unless probe was not run, since it runs in chdir")
			}
			return g.planRun(p, argv), nil
		}
	}
	if g.unless != nil {
		res, err := sys.Run(ctx, g.cmd(g.unless, false))
		if err != nil {
			return p, fmt.Errorf("unless %s: %w", quoteArgv(g.unless), err)
		}
		if res.ExitCode == 0 {
			sys.Logf().Debugf("not running %s: unless probe %s succeeded", quoteArgv(argv), quoteArgv(g.unless))
			return p, nil
		}
	}
	return g.planRun(p, argv), nil
}

// planRun adds the planned run of argv to p.
func (g guard) planRun(p tasks.Plan, argv []string) tasks.Plan {
	p.Add("command", "", "run: "+quoteArgv(argv))
	c := g.cmd(argv, true)
	p.Data = &c
	return p
}

// run is the Apply shared by command and shell.
func run(ctx context.Context, sys *tasks.System, p tasks.Plan) (*tasks.Result, error) {
	if p.Empty() {
		return nil, nil
	}
	c, ok := p.Data.(*tasks.Cmd)
	if !ok || c == nil {
		return nil, fmt.Errorf("plan has no command (was it made by Check?)")
	}
	res, err := sys.RunOK(ctx, *c)
	return &res, err
}

// output renders a result for register, as Ansible does: stdout and
// stderr without their trailing newlines, stdout_lines, and rc.
func output(r *tasks.Result) map[string]any {
	if r == nil {
		return map[string]any{"stdout": "", "stderr": "", "stdout_lines": []string{}, "rc": 0}
	}
	stdout := strings.TrimRight(r.Stdout, "\r\n")
	lines := []string{}
	if stdout != "" {
		lines = strings.Split(stdout, "\n")
	}
	return map[string]any{
		"stdout":       stdout,
		"stderr":       strings.TrimRight(r.Stderr, "\r\n"),
		"stdout_lines": lines,
		"rc":           r.ExitCode,
	}
}

// validateGuard checks the shared arguments.
func validateGuard(chdir, creates, removes string, env map[string]string) error {
	for _, a := range []struct{ name, val string }{{"chdir", chdir}, {"creates", creates}, {"removes", removes}} {
		if a.val != "" && !strings.HasPrefix(a.val, "/") {
			return tasks.BadArg(a.name, "must be an absolute path: "+a.val)
		}
	}
	for k, v := range env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return tasks.BadArg("env", fmt.Sprintf("bad variable name %q", k))
		}
		if strings.ContainsRune(v, 0) {
			return tasks.BadArg("env", fmt.Sprintf("value of %s contains a NUL byte", k))
		}
	}
	return nil
}

// validateArgv checks a program's argv.
func validateArgv(arg string, argv []string) error {
	if len(argv) == 0 || argv[0] == "" {
		return tasks.BadArg(arg, "names no program")
	}
	if strings.HasPrefix(argv[0], "-") {
		return tasks.BadArg(arg, "program name must not start with '-': "+argv[0])
	}
	return nil
}
