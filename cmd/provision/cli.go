package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mattn/go-isatty"

	"github.com/provision-tool/provision/agent"
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
  version             print the version

exit codes: 0 converged, 1 failed or invalid input, 2 changes pending (check mode)
run "provision <command> -h" for a command's flags
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
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
		fmt.Fprintln(stdout, "provision", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "provision: unknown command %q%s\n\n%s", cmd, playbook.Suggest(cmd, []string{"apply", "check", "validate", "doctor", "pull", "status", "facts", "doc", "version"}), usage)
	return exitFailed
}

// parse parses flags that may come before or after positional arguments,
// as ansible-playbook allows.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
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

func (p *statePaths) register(fs *flag.FlagSet) {
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
	state                          statePaths
	check, diff, noVerify, verbose bool
	output, root, chroot           string
	image                          imageFlag
	tags, skipTags                 listFlag
	extra                          extraVars
	inventories                    inventoryFlag
	limit                          patternFlag
	forks                          int
	listHosts, askBecomePass       bool
	vaultPasswordFile              string
}

func (e *env) apply(ctx context.Context, args []string, check bool) int {
	name := "apply"
	if check {
		name = "check"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var f applyFlags
	fs.BoolVar(&f.check, "check", check, "change nothing; exit 2 when changes are pending")
	fs.BoolVar(&f.check, "C", check, "short for --check")
	fs.BoolVar(&f.diff, "diff", false, "show file changes as unified diffs")
	fs.BoolVar(&f.diff, "D", false, "short for --diff")
	fs.BoolVar(&f.noVerify, "no-verify", false, "skip the second check after each apply")
	fs.BoolVar(&f.verbose, "v", false, "verbose: show changes of every task and debug logs")
	fs.StringVar(&f.output, "output", "human", "output format: human or json (one event per line)")
	fs.StringVar(&f.root, "root", "/", "operate on the files of the tree rooted here (an image, a test tree); tasks that run programs fail")
	fs.Var(&f.tags, "tags", "run only tasks with these tags (comma separated)")
	fs.Var(&f.tags, "t", "short for --tags")
	fs.Var(&f.skipTags, "skip-tags", "skip tasks with these tags")
	fs.Var(&f.extra, "e", "extra variables: key=value, @file.yml or a JSON object (repeatable)")
	fs.Var(&f.extra, "extra-vars", "long for -e")
	fs.Var(&f.inventories, "i", "inventory: an Ansible INI or YAML file, a directory, or host1,host2, (repeatable)")
	fs.Var(&f.inventories, "inventory", "long for -i")
	fs.Var(&f.limit, "l", "limit the run to hosts matching this pattern (Ansible's forms: group, glob, !excluded, &both)")
	fs.Var(&f.limit, "limit", "long for -l")
	fs.IntVar(&f.forks, "f", 50, "run this many hosts at a time")
	fs.IntVar(&f.forks, "forks", 50, "long for -f")
	fs.BoolVar(&f.listHosts, "list-hosts", false, "print the hosts each play would run on, and exit")
	fs.BoolVar(&f.askBecomePass, "ask-become-pass", false, "ask for the sudo password of the login user on remote hosts")
	fs.BoolVar(&f.askBecomePass, "K", false, "short for --ask-become-pass")
	fs.Var(&f.image, "image", "build an image: nothing is started or applied live (default: detected, see docs/images.md; --image=false: a live host)")
	fs.StringVar(&f.chroot, "chroot", "", "provision the image tree at this directory from outside: the agent runs chrooted in it, with the image's own tools")
	fs.StringVar(&f.vaultPasswordFile, "vault-password-file", os.Getenv("ANSIBLE_VAULT_PASSWORD_FILE"), "file holding the ansible-vault password that decrypts the playbook's !vault values")
	f.state.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: provision %s [flags] PLAYBOOK\n", name)
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return exitFailed
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitFailed
	}
	if err := f.check1(); err != nil {
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
	pb, err := loadPlaybook(pos[0], f.vaultPasswordFile)
	if err != nil {
		e.printErr(err)
		return exitFailed
	}
	return e.fleet(ctx, pb, &f)
}

// check1 checks the flags that need no file: output, forks, root.
func (f *applyFlags) check1() error {
	if err := checkOutput(f.output, "human", "json"); err != nil {
		return err
	}
	if err := checkForks(f.forks); err != nil {
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

// printErr prints an error; playbook errors one per line, file:line:col first.
func (e *env) printErr(err error) {
	var errs playbook.Errors
	if errors.As(err, &errs) {
		for _, x := range errs {
			fmt.Fprintln(e.stderr, x.Error())
		}
		fmt.Fprintf(e.stderr, "%d %s\n", len(errs), plural(len(errs), "problem", "problems"))
		return
	}
	fmt.Fprintf(e.stderr, "provision: %v\n", err)
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
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { fmt.Fprintln(e.stderr, "usage: provision validate PLAYBOOK...") }
	pos, err := parse(fs, args)
	if err != nil {
		return exitFailed
	}
	if len(pos) == 0 {
		fs.Usage()
		return exitFailed
	}
	var all playbook.Errors
	for _, p := range pos {
		_, err := playbook.Load(p)
		var errs playbook.Errors
		switch {
		case errors.As(err, &errs):
			all = append(all, errs...)
		case err != nil:
			all = append(all, &playbook.Error{Pos: playbook.Pos{File: p}, Msg: unwrapPath(err).Error()})
		}
	}
	if len(all) > 0 {
		e.printErr(all)
		return exitFailed
	}
	for _, p := range pos {
		fmt.Fprintf(e.stdout, "%s: ok\n", p)
	}
	return exitOK
}

func (e *env) facts(args []string) int {
	fs := flag.NewFlagSet("facts", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	output := fs.String("output", "human", "human or json")
	root := fs.String("root", "/", "read the facts of the filesystem rooted here (an image)")
	pos, err := parse(fs, args)
	if err != nil {
		return exitFailed
	}
	if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "provision: facts takes no arguments, found %q\nusage: provision facts [--output json] [--root DIR]\n", pos)
		return exitFailed
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
	fs := flag.NewFlagSet("doc", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dir := fs.String("w", "", "write every module's page into this directory")
	pos, err := parse(fs, args)
	if err != nil {
		return exitFailed
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
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var users, checks listFlag
	var invs inventoryFlag
	var limit patternFlag
	fs.Var(&users, "user", "check this rootless user (repeatable, comma separated); default: every user with subuid ranges")
	fs.Var(&checks, "checks", "run only these checks, by number or name (comma separated)")
	smoke := fs.Bool("smoke", false, "also run a container as each user (check 20)")
	image := fs.String("smoke-image", doctor.DefaultSmokeImage, "the image the smoke test runs")
	output := fs.String("output", "human", "human or json")
	fs.Var(&invs, "i", "check the hosts of this inventory over SSH (repeatable)")
	fs.Var(&limit, "l", "limit the hosts to this pattern")
	forks := fs.Int("f", 50, "check this many hosts at a time")
	stateDir := fs.String("state-dir", engine.DefaultStateDir, "with -i: the hosts' state directory (agent binaries in its bin/)")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: provision doctor [--user USER]... [--checks N,...] [--smoke] [--output json] [-i INVENTORY [-l PATTERN]]")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return exitFailed
	}
	if len(pos) > 0 {
		fs.Usage()
		return exitFailed
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
