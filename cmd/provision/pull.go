package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/provision-tool/provision/agent"
	"github.com/provision-tool/provision/engine"
	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/pull"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
)

// pullCmd is `provision pull`: install or remove the timer that re-applies
// a playbook on this host, or (--once) do one such run, which is what the
// timer's service executes.
func (e *env) pullCmd(ctx context.Context, args []string) int {
	fs := newFlags("pull", "", summaries["pull"])
	pbPath := fs.String("playbook", "", "the playbook to re-apply (kept at this path on the host)")
	every := fs.Duration("every", 30*time.Minute, "how often to re-apply it")
	check := fs.Bool("check", false, "only check: report drift in the journal and the state file, change nothing")
	remove := fs.Bool("remove", false, "remove the timer and its service")
	once := fs.Bool("once", false, "run the playbook once now, as the timer does, logging to the journal under systemd")
	root := fs.String("root", "/", "install into the image rooted here (enable by symlink; nothing is started)")
	var image imageFlag
	fs.Var(&image, "image", "install into the image being built here: provision and the playbook are copied into it (implied by --root; default: detected, see docs/images.md)")
	fs.Lookup("image").NoOptDefVal = "true"
	var state statePaths
	state.register(fs.FlagSet)
	if code, ok := fs.parseNone(e, args, " (the playbook goes after --playbook)"); !ok {
		return code
	}
	if err := firstErr(state.check(), checkRoot(*root)); err != nil {
		return e.fail(err)
	}
	if *every <= 0 {
		fmt.Fprintf(e.stderr, "provision: --every must be positive, not %v\n", *every)
		return exitFailed
	}
	rootAbs := filepath.Clean(*root)
	fx := facts.New(rootAbs)
	var runner tasks.Runner = tasks.ExecRunner{Facts: fx}
	if rootAbs != "/" {
		runner = noRunner{root: rootAbs}
	}
	sys := &tasks.System{Root: rootAbs, Runner: runner, Facts: fx, Image: rootAbs != "/"}
	if img, why := image.decide(); rootAbs == "/" && img && !*once {
		sys.Image = true
		fmt.Fprintf(e.stderr, "provision: image mode: %s\n", why)
	}

	switch {
	case *remove:
		res, err := pull.Remove(ctx, sys)
		return e.pullResult(res, err, "removed")
	case *pbPath == "":
		return e.usageErr("pull", "missing --playbook PATH (or --remove)")
	case *once:
		abs, err := filepath.Abs(*pbPath)
		if err != nil {
			return e.fail(err)
		}
		pb, err := playbook.LoadOptions(abs, playbook.Options{Vars: map[string]any{}})
		if err != nil {
			e.printErr(err)
			return exitFailed
		}
		if err := agent.CheckSources(pb); err != nil {
			return e.fail(err)
		}
		sys.SourceDir = pb.Dir
		counts, err := pull.RunOnce(ctx, sys, pb, pull.RunOptions{Check: *check,
			Engine: engine.Options{StateDir: state.dir, LockPath: state.lock}})
		if err != nil {
			return e.fail(err)
		}
		return report.ExitCode(counts, *check)
	}
	abs, err := filepath.Abs(*pbPath)
	if err != nil {
		return e.fail(err)
	}
	if _, err := playbook.Load(abs); err != nil {
		e.printErr(err)
		return exitFailed
	}
	res, err := pull.Install(ctx, sys, pull.Options{Playbook: abs, Every: *every, Check: *check,
		StateDir: state.nonDefaultDir(), LockFile: state.nonDefaultLock(), Image: sys.Image})
	return e.pullResult(res, err, "installed")
}

func (e *env) pullResult(res pull.Result, err error, what string) int {
	if err != nil {
		fmt.Fprintf(e.stderr, "provision: pull: %v\n", err)
		return exitFailed
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	if !res.Changed {
		fmt.Fprintf(e.stdout, "ok: pull mode already %s\n", what)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "changed: pull mode %s\n", what)
	for _, c := range res.Changes {
		fmt.Fprintf(e.stdout, "  %s\n", c)
	}
	return exitOK
}

// status is `provision status`: the last pull runs on this host.
func (e *env) status(args []string) int {
	fs := newFlags("status", "", summaries["status"])
	n := fs.IntP("runs", "n", 10, "how many runs to show")
	var state statePaths
	state.register(fs.FlagSet)
	if code, ok := fs.parseNone(e, args, ""); !ok {
		return code
	}
	if err := state.check(); err != nil {
		return e.fail(err)
	}
	fx := facts.New("/")
	if err := pull.Status(e.stdout, &tasks.System{Root: "/", Facts: fx}, state.dir, *n); err != nil {
		fmt.Fprintf(e.stderr, "provision: status: %v\n", err)
		return exitFailed
	}
	return exitOK
}
