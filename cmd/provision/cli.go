package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/go-multierror"
	"github.com/mattn/go-isatty"
	"github.com/spf13/pflag"

	"github.com/provision-tool/provision/agent"
	"github.com/provision-tool/provision/diag"
	"github.com/provision-tool/provision/doctor"
	"github.com/provision-tool/provision/engine"
	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/transport"
)

// Exit codes, documented in docs/cli.md.
const (
	exitOK      = 0
	exitFailed  = 1
	exitPending = 2
)

const usage = `usage: provision <command> [flags] [args]

commands:
  apply PLAYBOOK      bring this host to the state the playbook describes
  check PLAYBOOK      show what apply would change; change nothing (apply --check)
  validate PLAYBOOK   report every problem in a playbook, without a host
  doctor              tell why rootless Podman will fail on this host, and the fix
  pull                re-apply a playbook on this host from a systemd timer
  status              the last pull runs on this host
  facts               print what provision knows about this host
  doc [MODULE]        print a module's reference (doc -w DIR writes them all)
  schema              print the JSON Schema of playbooks, for editors
  version             print the version
  help [COMMAND]      print this list, or a command's help
  completion SHELL    print a bash, zsh or fish completion script

exit codes: 0 converged, 1 failed or invalid input, 2 changes pending (check mode)
run "provision <command> --help" for a command's flags
`

// summaries are the commands' one-line descriptions, for their help.
var summaries = map[string]string{
	"apply":      "Bring the hosts to the state the playbook describes.",
	"check":      "Show what apply would change; change nothing (apply --check). Exit 2 when changes are pending.",
	"validate":   "Report every problem in the playbooks, without a host.",
	"doctor":     "Tell why rootless Podman will fail on this host (or the hosts of an inventory), and the fix.",
	"pull":       "Install or remove the systemd timer that re-applies a playbook on this host, or (--once) do one such run.",
	"status":     "Show the last pull runs on this host.",
	"facts":      "Print what provision knows about this host (or the tree under --root).",
	"doc":        "Print a module's reference, or the list of modules.",
	"schema":     "Print the JSON Schema of playbooks (docs/playbook.schema.json), for editors: it completes and checks play and task keys and module arguments.",
	"version":    "Print the version, the Go version and the VCS revision of this build.",
	"completion": "Print a shell completion script for bash, zsh or fish: source <(provision completion bash), provision completion fish | source.",
}

// commandNames are the commands a user types, for suggestions.
var commandNames = []string{"apply", "check", "validate", "doctor", "pull", "status", "facts", "doc", "schema", "version", "help", "completion"}

// version is set at build time with -ldflags "-X main.version=..."; by
// default the module's version is printed.
var version = "dev"

type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprintf(stderr, "provision: missing command\n%s", usage)
		return exitFailed
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "apply":
		return e.apply(ctx, rest, false)
	case "check":
		return e.apply(ctx, rest, true)
	case "validate":
		return e.validate(rest)
	case "facts":
		return e.facts(rest)
	case "doctor":
		graceful.Store(true)
		return e.doctor(ctx, rest)
	case "pull":
		graceful.Store(true)
		return e.pullCmd(ctx, rest)
	case "status":
		return e.status(rest)
	case "doc":
		return e.doc(rest)
	case "schema":
		return e.schema(rest)
	case "completion":
		return e.completion(rest)
	case "agent":
		// The host side of a remote run, started by the controller over SSH.
		graceful.Store(true)
		return agent.Serve(ctx, stdin, stdout, stderr)
	case transport.ChrootHelper:
		// The inside of a chroot run, started by transport.Chroot.
		if len(rest) != 2 {
			fmt.Fprintln(stderr, "provision: chroot-agent is internal: started by provision apply --chroot")
			return exitFailed
		}
		err := transport.ChrootExec(rest[0], rest[1])
		fmt.Fprintf(stderr, "provision: %v\n", err)
		return exitFailed
	case "version", "--version":
		return e.versionCmd(rest)
	case "help", "-h", "--help":
		return e.help(ctx, rest)
	}
	fmt.Fprintf(stderr, "provision: unknown command %q%s\nRun 'provision help' for the list of commands.\n", cmd, playbook.Suggest(cmd, commandNames))
	return exitFailed
}

// help is `provision help [COMMAND]`: the command list, or a command's
// help (the same as `provision COMMAND --help`).
func (e *env) help(ctx context.Context, args []string) int {
	switch {
	case len(args) == 0:
		fmt.Fprint(e.stdout, usage)
		return exitOK
	case len(args) > 1:
		return e.usageErr("help", fmt.Sprintf("one COMMAND at most, found %q", args))
	case summaries[args[0]] == "":
		fmt.Fprintf(e.stderr, "provision help: unknown command %q%s\nRun 'provision help' for the list of commands.\n", args[0], playbook.Suggest(args[0], commandNames))
		return exitFailed
	}
	return run(ctx, []string{args[0], "--help"}, e.stdin, e.stdout, e.stderr)
}

// versionCmd is `provision version`.
func (e *env) versionCmd(args []string) int {
	fs := newFlags("version", "", summaries["version"])
	if code, ok := fs.parseNone(e, args, ""); !ok {
		return code
	}
	fmt.Fprintln(e.stdout, versionLine())
	fmt.Fprintln(e.stdout, cfgVersionLine())
	return exitOK
}

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

// Type names the value in help.
func (l *listFlag) Type() string { return "list" }

// Set adds the comma-separated items of s.
func (l *listFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// statePaths are the flags naming the host's state: the directory that
// keeps pending handlers, pull runs and agent binaries, and the run lock.
// Both are host paths (under --root when it is given).
type statePaths struct {
	dir, lock string
}

func (p *statePaths) register(fs *pflag.FlagSet) {
	fs.StringVar(&p.dir, "state-dir", engine.DefaultStateDir, "the host's state directory: pending handlers, pull runs, agent binaries")
	fs.StringVar(&p.lock, "lock-file", engine.DefaultLockPath, "the host's run lock: one provision run at a time holds it")
}

// check refuses relative paths, which would depend on the working
// directory of whatever runs provision.
func (p *statePaths) check() error {
	for _, f := range []struct{ name, v string }{{"--state-dir", p.dir}, {"--lock-file", p.lock}} {
		if !path.IsAbs(f.v) {
			return fmt.Errorf("%s %q: must be an absolute path", f.name, f.v)
		}
	}
	return nil
}

// nonDefaultDir and nonDefaultLock are the paths to pass on to another
// run (the pull timer's): "" when they are the defaults.
func (p *statePaths) nonDefaultDir() string  { return nonDefault(p.dir, engine.DefaultStateDir) }
func (p *statePaths) nonDefaultLock() string { return nonDefault(p.lock, engine.DefaultLockPath) }

func nonDefault(v, def string) string {
	if v == def {
		return ""
	}
	return v
}

type applyFlags struct {
	state                    statePaths
	check, diff, noVerify    bool
	verbose                  int
	output, root, chroot     string
	image                    imageFlag
	tags, skipTags           listFlag
	extra                    extraVars
	inventories              inventoryFlag
	limit                    patternFlag
	forks                    int
	listHosts, askBecomePass bool
	vaultPasswordFile        string
	ansible                  ansibleFlags
	cfg                      *ansibleCfg // the ansible.cfg read, if any
}

// register adds apply's (or, when check, check's) flags to fs.
func (f *applyFlags) register(fs *cmdFlags, check bool) {
	fs.BoolVarP(&f.check, "check", "C", check, "change nothing; exit 2 when changes are pending")
	fs.BoolVarP(&f.diff, "diff", "D", false, "show file changes as unified diffs")
	fs.BoolVar(&f.noVerify, "no-verify", false, "skip the second check after each apply")
	fs.CountVarP(&f.verbose, "verbose", "v", verboseHelp)
	fs.StringVar(&f.output, "output", "human", "output format: human or json (one event per line)")
	fs.StringVar(&f.root, "root", "/", "operate on the files of the tree rooted here (an image, a test tree); tasks that run programs fail")
	fs.VarP(&f.tags, "tags", "t", "run only tasks with these tags (comma separated)")
	fs.Var(&f.skipTags, "skip-tags", "skip tasks with these tags")
	fs.VarP(&f.extra, "extra-vars", "e", "extra variables: key=value, @file.yml or a JSON object (repeatable)")
	fs.VarP(&f.inventories, "inventory", "i", "inventory: an Ansible INI or YAML file, a directory, or host1,host2, (repeatable)")
	fs.VarP(&f.limit, "limit", "l", "limit the run to hosts matching this pattern (Ansible's forms: group, glob, !excluded, &both)")
	fs.IntVarP(&f.forks, "forks", "f", 50, "run this many hosts at a time")
	fs.BoolVar(&f.listHosts, "list-hosts", false, "print the hosts each play would run on, and exit")
	fs.BoolVarP(&f.askBecomePass, "ask-become-pass", "K", false, "ask for the sudo password of the login user on remote hosts")
	fs.Var(&f.image, "image", "build an image: nothing is started or applied live (default: detected, see docs/images.md; --image=false: a live host)")
	fs.Lookup("image").NoOptDefVal = "true"
	fs.StringVar(&f.chroot, "chroot", "", "provision the image tree at this directory from outside: the agent runs chrooted in it, with the image's own tools")
	fs.StringVar(&f.vaultPasswordFile, "vault-password-file", os.Getenv("ANSIBLE_VAULT_PASSWORD_FILE"), "file holding the ansible-vault password that decrypts the playbook's !vault values")
	f.state.register(fs.FlagSet)
	f.ansible.register(fs)
}

func (e *env) apply(ctx context.Context, args []string, check bool) int {
	name := "apply"
	if check {
		name = "check"
	}
	fs := newFlags(name, "PLAYBOOK", summaries[name])
	var f applyFlags
	f.register(fs, check)
	pos, code, ok := fs.parse(e, args)
	if !ok {
		return code
	}
	switch len(pos) {
	case 0:
		return e.usageErr(name, "missing PLAYBOOK")
	case 1:
	default:
		return e.usageErr(name, fmt.Sprintf("one PLAYBOOK, found %d arguments: %q", len(pos), pos))
	}
	var err error
	if f.cfg, err = loadAnsibleCfg(os.Getenv); err != nil {
		fmt.Fprintf(e.stderr, "provision: %v\n", err)
		return exitFailed
	}
	e.applyCfg(f.cfg, &f, fs.Changed)
	if err = f.check1(); err != nil {
		fmt.Fprintf(e.stderr, "provision: %v\n", err)
		return exitFailed
	}
	if check && !f.check {
		fmt.Fprintln(e.stderr, "provision: check always checks: --check=false would apply; run provision apply to apply")
		return exitFailed
	}
	if err := f.state.check(); err != nil {
		fmt.Fprintf(e.stderr, "provision: %v\n", err)
		return exitFailed
	}
	opts := e.loadOptions(f.cfg, pos[0], f.extra.vars)
	if f.ansible.syntaxCheck {
		opts.Vars = nil // syntax only: templated hosts and notify are not rendered
	}
	pb, err := loadPlaybook(pos[0], f.vaultPasswordFile, opts)
	if err != nil {
		e.printErr(err)
		return exitFailed
	}
	if err := f.ansible.checkPlaybook(pb); err != nil {
		fmt.Fprintf(e.stderr, "provision: %v\n", err)
		return exitFailed
	}
	if err := syntaxCheckExtra(&f, pb); err != nil {
		e.printErr(err)
		return exitFailed
	}
	if f.ansible.listing(e.stdout, pb) {
		return exitOK
	}
	return e.fleet(ctx, pb, &f)
}

// check1 checks the flags that need no file: output, forks, the
// Ansible flags, root.
func (f *applyFlags) check1() error {
	if err := checkOutput(f.output, "human", "json"); err != nil {
		return err
	}
	if err := checkForks(f.forks); err != nil {
		return err
	}
	if err := f.ansible.check(f.chroot); err != nil {
		return err
	}
	return checkRoot(f.root)
}

func (e *env) sink(output string, diff, verbose bool) report.Sink {
	if output == "json" {
		return report.NewJSON(e.stdout)
	}
	return &report.Human{W: e.stdout, Color: colorOf(e.stdout), Diff: diff, Verbose: verbose}
}

// colorOf reports whether to colour output to w: a terminal, and NO_COLOR
// unset.
func colorOf(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && os.Getenv("NO_COLOR") == "" && isatty.IsTerminal(f.Fd())
}

// printErr prints an error; playbook errors (and a multierror of them)
// one per line, file:line:col first, then how many there are.
func (e *env) printErr(err error) {
	var errs playbook.Errors
	var m *multierror.Error
	n := 0
	switch {
	case errors.As(err, &m):
		n = len(m.Errors)
		fmt.Fprintln(e.stderr, report.Escape(diag.Lines(m.Errors), true))
	case errors.As(err, &errs):
		n = len(errs)
		fmt.Fprintln(e.stderr, report.Escape(errs.Error(), true))
	default:
		fmt.Fprintf(e.stderr, "provision: %s\n", report.Escape(err.Error(), true))
		return
	}
	fmt.Fprintf(e.stderr, "%d %s\n", n, plural(n, "problem", "problems"))
}

// validateOne validates one playbook for validate: its problems, or its
// file's error at the file's name.
func validateOne(path string, extra map[string]any, o playbook.Options) error {
	pb, err := playbook.LoadOptions(path, o)
	if err == nil {
		return playbook.CheckExtraVars(pb, extra)
	}
	var errs playbook.Errors
	if errors.As(err, &errs) {
		return errs
	}
	return &playbook.Error{Pos: playbook.Pos{File: path}, Msg: unwrapPath(err).Error()}
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// unwrapPath drops the "open FILE:" of a path error for messages that
// name the file already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (e *env) validate(args []string) int {
	fs := newFlags("validate", "PLAYBOOK...", summaries["validate"])
	var extra extraVars
	fs.VarP(&extra, "extra-vars", "e", "check the templated arguments these variables decide (key=value, @file.yml or JSON; repeatable)")
	pos, code, ok := fs.parse(e, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return e.usageErr("validate", "missing PLAYBOOK")
	}
	cfg, err := loadAnsibleCfg(os.Getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "provision: %v\n", err)
		return exitFailed
	}
	e.cfgWarnings(cfg)
	var problems *multierror.Error
	for _, p := range pos {
		problems = diag.Append(problems, validateOne(p, extra.vars, playbook.Options{RolesPath: e.playbookRolesPath(cfg, p)}))
	}
	if problems != nil {
		e.printErr(problems)
		return exitFailed
	}
	for _, p := range pos {
		fmt.Fprintf(e.stdout, "%s: ok\n", p)
	}
	return exitOK
}

func (e *env) facts(args []string) int {
	fs := newFlags("facts", "", summaries["facts"])
	output := fs.String("output", "human", "human or json")
	root := fs.String("root", "/", "read the facts of the filesystem rooted here (an image)")
	if code, ok := fs.parseNone(e, args, ""); !ok {
		return code
	}
	if err := firstErr(checkOutput(*output, "human", "json"), checkRoot(*root)); err != nil {
		fmt.Fprintf(e.stderr, "provision: %v\n", err)
		return exitFailed
	}
	m := facts.New(*root).Map()
	if *output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(m)
		return exitOK
	}
	printFacts(e.stdout, "", m)
	return exitOK
}

func printFacts(w io.Writer, prefix string, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if sub, ok := m[k].(map[string]any); ok {
			printFacts(w, prefix+k+".", sub)
			continue
		}
		// Values come from the host (an image's hostname, os-release):
		// escape sequences in them must not reach the terminal.
		fmt.Fprintf(w, "%-28s %s\n", report.Escape(prefix+k, false), report.Escape(playbook.Stringify(m[k]), false))
	}
}

func (e *env) doc(args []string) int {
	fs := newFlags("doc", "[MODULE...]", summaries["doc"])
	dir := fs.StringP("write", "w", "", "write every module's page into this directory")
	pos, code, ok := fs.parse(e, args)
	if !ok {
		return code
	}
	if *dir != "" {
		for _, m := range tasks.Modules() {
			if err := os.WriteFile(filepath.Join(*dir, m.Name+".md"), []byte(m.Markdown()), 0o644); err != nil {
				fmt.Fprintf(e.stderr, "provision: %v\n", err)
				return exitFailed
			}
		}
		return exitOK
	}
	if len(pos) == 0 {
		for _, m := range tasks.Modules() {
			fmt.Fprintf(e.stdout, "%-16s %s\n", m.Name, m.Summary)
		}
		return exitOK
	}
	for _, name := range pos {
		m, ok := tasks.Lookup(name)
		if !ok {
			var names []string
			for _, m := range tasks.Modules() {
				names = append(names, m.Name)
			}
			fmt.Fprintf(e.stderr, "provision: no module %q%s\n", name, playbook.Suggest(name, names))
			return exitFailed
		}
		fmt.Fprint(e.stdout, m.Markdown())
	}
	return exitOK
}

// noRunner refuses to run programs on a host that is only a directory
// tree: they would run on the machine itself, not in the tree.
type noRunner struct{ root string }

func (n noRunner) Run(_ context.Context, c tasks.Cmd) (tasks.Result, error) {
	return tasks.Result{}, fmt.Errorf("cannot run %s under --root %s: programs would run on this machine, not in the tree", c.Argv[0], n.root)
}

func (e *env) doctor(ctx context.Context, args []string) int {
	fs := newFlags("doctor", "", summaries["doctor"])
	var users, checks listFlag
	var invs inventoryFlag
	var limit patternFlag
	fs.Var(&users, "user", "check this rootless user (repeatable, comma separated); default: every user with subuid ranges")
	fs.Var(&checks, "checks", "run only these checks, by number or name (comma separated)")
	smoke := fs.Bool("smoke", false, "also run a container as each user (check 20)")
	image := fs.String("smoke-image", doctor.DefaultSmokeImage, "the image the smoke test runs")
	output := fs.String("output", "human", "human or json")
	fs.VarP(&invs, "inventory", "i", "check the hosts of this inventory over SSH (repeatable)")
	fs.VarP(&limit, "limit", "l", "limit the hosts to this pattern")
	forks := fs.IntP("forks", "f", 50, "check this many hosts at a time")
	stateDir := fs.String("state-dir", engine.DefaultStateDir, "with -i: the hosts' state directory (agent binaries in its bin/)")
	if code, ok := fs.parseNone(e, args, ""); !ok {
		return code
	}
	if err := firstErr(checkOutput(*output, "human", "json"), checkForks(*forks)); err != nil {
		fmt.Fprintf(e.stderr, "provision: %v\n", err)
		return exitFailed
	}
	if limit.set && len(invs) == 0 {
		fmt.Fprintln(e.stderr, "provision: doctor: -l needs -i")
		return exitFailed
	}
	if len(invs) == 0 && *stateDir != engine.DefaultStateDir {
		fmt.Fprintln(e.stderr, "provision: doctor: --state-dir is for the hosts of an inventory (-i); the local doctor keeps no state")
		return exitFailed
	}
	opts := doctor.Options{Users: users, Smoke: *smoke, SmokeImage: *image}
	for _, c := range checks {
		chk, ok := doctor.CheckByName(c)
		if !ok {
			fmt.Fprintf(e.stderr, "provision: doctor: no check %q\n", c)
			return exitFailed
		}
		opts.Checks = append(opts.Checks, chk.ID)
	}
	if len(invs) > 0 {
		// The same flags, for the remote doctor.
		remote := []string{"doctor", "--output", "json", "--smoke-image", *image}
		for _, u := range users {
			remote = append(remote, "--user", u)
		}
		for _, c := range opts.Checks {
			remote = append(remote, "--checks", fmt.Sprint(c))
		}
		if *smoke {
			remote = append(remote, "--smoke")
		}
		ssh := &transport.SSH{Binaries: &transport.Binaries{}, ControlDir: transport.DefaultControlDir(), StateDir: *stateDir}
		return e.fleetDoctor(ctx, ssh, invs, limit.value, *forks, remote, opts, *output)
	}
	fx := facts.New("/")
	sys := &tasks.System{Root: "/", Runner: tasks.ExecRunner{Facts: fx}, Facts: fx, Log: report.NewLogger(e.stderr, false)}
	rep := doctor.Run(ctx, sys, opts)
	if *output == "json" {
		doctor.RenderJSON(e.stdout, rep)
	} else {
		doctor.Render(e.stdout, rep, colorOf(e.stdout))
	}
	return rep.ExitCode()
}
