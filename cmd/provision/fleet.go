package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mattn/go-isatty"
	"golang.org/x/term"

	"github.com/provision-tool/provision/agent"
	"github.com/provision-tool/provision/input"
	"github.com/provision-tool/provision/inventory"
	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/transport"
)

// target is a host to run on, or why it cannot be run on.
type target struct {
	transport.Target
	err error
}

// fleet runs the playbook on every selected host, forks at a time, and
// prints the recap. Without -i the only host is this one.
func (e *env) fleet(ctx context.Context, pb *playbook.Playbook, f *applyFlags) int {
	start := time.Now()
	root, err := filepath.Abs(f.root)
	if err != nil {
		fmt.Fprintf(e.stderr, "provision: --root: %v\n", err)
		return exitFailed
	}
	inv, targets, err := e.targets(pb, f, root)
	if errors.Is(err, errListed) {
		return exitOK
	}
	if err != nil {
		e.printInventoryErr(err)
		return exitFailed
	}
	if err := f.ansible.apply(targets); err != nil {
		fmt.Fprintf(e.stderr, "provision: %v\n", err)
		return exitFailed
	}
	if f.cfg != nil {
		f.cfg.applySSH(targets, &f.ansible)
	}
	if f.askBecomePass {
		pass, err := e.readPassword("BECOME password: ")
		if err != nil {
			fmt.Fprintf(e.stderr, "provision: %v\n", err)
			return exitFailed
		}
		for i := range targets {
			targets[i].BecomePassword = pass
		}
	}

	if err := agent.CheckSources(pb); err != nil {
		fmt.Fprintf(e.stderr, "provision: %v\n", err)
		return exitFailed
	}
	source, err := input.ReadFile(pb.File)
	if err != nil {
		fmt.Fprintf(e.stderr, "provision: %v\n", err)
		return exitFailed
	}
	abs, _ := filepath.Abs(pb.File)
	job := &transport.Job{Playbook: pb, Verbose: f.verbose >= levelVerbose, Bundle: agent.Bundle{
		Version: agent.BundleVersion, Playbook: pb.File, PlaybookID: abs, Source: source,
		Check: f.check, NoVerify: f.noVerify, Tags: f.tags, SkipTags: f.skipTags, StartAtTask: f.ansible.startAtTask, ExtraVars: f.extra.vars, Vaulted: pb.Vaulted,
		StateDir: f.state.dir, LockPath: f.state.lock, RolesPath: pb.RolesPath,
	}}
	job.Match = inv.Match
	remote := false
	for _, t := range targets {
		remote = remote || t.Connection != "local"
	}
	if remote {
		if job.Bundle.Files, err = agent.CollectFiles(pb); err != nil {
			fmt.Fprintf(e.stderr, "provision: %v\n", err)
			return exitFailed
		}
	}

	sink := e.sink(f.output, f.diff, f.verbose >= levelVerbose)
	var live *report.Live
	if h, ok := sink.(*report.Human); ok {
		h.ShowHost, h.TaskPath = len(targets) > 1, f.verbose >= levelTaskPath
		for _, t := range targets {
			h.HostWidth = max(h.HostWidth, len(t.Name))
		}
		if h.ShowHost && isTerminal(e.stdout) && isTerminal(e.stderr) && !playByPlay(pb) {
			live = &report.Live{W: e.stdout, Total: len(targets)}
			h.Live = live
			live.Run(250 * time.Millisecond)
		}
	}
	if f.cfg != nil && f.cfg.path != "" {
		sink.Emit(report.Event{V: report.SchemaVersion, Type: report.RunStart, Time: time.Now().UTC(), Check: f.check, Config: f.cfg.path})
	}
	local := transport.Local{Root: root, Image: root != "/"}
	if root != "/" {
		local.Runner = noRunner{root: root}
	} else if img, why := f.image.decide(); img {
		local.Image = true
		fmt.Fprintf(e.stderr, "provision: image mode: %s\n", why)
	}
	ssh := &transport.SSH{Binaries: &transport.Binaries{}, ControlDir: transport.DefaultControlDir(), StateDir: f.state.dir, Trace: e.sshTrace(f.verbose)}

	if ctx.Err() != nil {
		fmt.Fprintln(e.stderr, "provision: interrupted before any host was touched")
		return exitFailed
	}
	graceful.Store(true)
	fr := &fleetRun{forks: max(f.forks, 1), check: f.check, sink: sink, live: live, local: local, ssh: ssh, recap: map[string]*report.Counts{}}
	fr.run(ctx, e, pb, inv, targets, job)
	recap, notStarted, failures := fr.recap, fr.notStarted, &fr.failures
	if live != nil {
		live.Close()
	}
	sink.Emit(report.Event{V: report.SchemaVersion, Type: report.Recap, Time: time.Now().UTC(), Check: f.check,
		Recap: recap, DurationMS: float64(time.Since(start).Microseconds()) / 1000})
	if f.output == "human" {
		failures.print(e.stderr, len(targets), "failed outside their tasks")
	}
	if notStarted > 0 {
		fmt.Fprintf(e.stderr, "provision: interrupted: %d %s not started\n", notStarted, plural(notStarted, "host", "hosts"))
	}
	code := exitOK
	for _, c := range recap {
		switch report.ExitCode(c, f.check) {
		case exitFailed:
			code = exitFailed
		case exitPending:
			if code == exitOK {
				code = exitPending
			}
		}
	}
	if ctx.Err() != nil {
		code = exitFailed
	}
	return code
}

// errListed stops a run after --list-hosts.
var errListed = errors.New("hosts listed")

// targets resolves the hosts to run on: with -i those of the inventory,
// else this machine, named localhost, for the plays that select it.
func (e *env) targets(pb *playbook.Playbook, f *applyFlags, root string) (*inventory.Inventory, []target, error) {
	if f.chroot != "" {
		return e.chrootTargets(pb, f, root)
	}
	if len(f.inventories) == 0 {
		return e.localTargets(pb, f)
	}
	if root != "/" {
		return nil, nil, errors.New("--root and -i do not mix")
	}
	inv, err := inventory.Load(f.inventories, pb.Dir)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range inv.Warnings {
		fmt.Fprintf(e.stderr, "warning: %v\n", w)
	}
	targets, err := e.hostsToRun(pb, inv, f, "no hosts matched")
	if err != nil {
		return nil, nil, err
	}
	return inv, targets, nil
}

// localTargets is targets without -i: the plays select among one host,
// localhost, as they would with an inventory of only that host.
func (e *env) localTargets(pb *playbook.Playbook, f *applyFlags) (*inventory.Inventory, []target, error) {
	inv, err := inventory.ParseHostList("localhost,")
	if err != nil {
		return nil, nil, err
	}
	return e.oneHost(pb, f, inv, target{Target: transport.Target{Name: "localhost", Connection: "local"}}, "without -i")
}

// selectTargets resolves the hosts the playbook's plays select, in
// inventory order, limited by -l; with --list-hosts it prints them.
func (e *env) selectTargets(pb *playbook.Playbook, inv *inventory.Inventory, f *applyFlags) ([]target, error) {
	seen := map[string]bool{}
	var targets []target
	for _, play := range pb.Plays {
		hosts, err := inv.SelectLimit(play.Hosts, f.limit.value)
		if err != nil {
			return nil, fmt.Errorf("%s: play %q: %w", play.Pos, play.Name, err)
		}
		if len(hosts) == 0 && !f.listHosts {
			fmt.Fprintf(e.stderr, "warning: %s: play %q: hosts %q select no host: it runs nowhere\n", play.Pos, play.Name, play.Hosts)
		}
		if f.listHosts {
			fmt.Fprintf(e.stdout, "play %q (%s):\n", play.Name, play.Hosts)
			inventory.WriteHostList(e.stdout, "  ", hosts)
		}
		for _, h := range hosts {
			if seen[h.Name] {
				continue
			}
			seen[h.Name] = true
			targets = append(targets, targetFor(inv, h))
		}
	}
	return targets, nil
}

func targetFor(inv *inventory.Inventory, h *inventory.Host) target {
	vars := map[string]any{}
	for k, v := range h.Vars {
		vars[k] = v
	}
	for k, v := range inv.MagicVars(h) {
		vars[k] = v
	}
	c := h.Conn
	t := target{Target: transport.Target{Name: h.Name, Connection: c.Type, Address: c.Host, Port: c.Port,
		User: c.User, KeyFile: c.KeyFile, Vars: vars}, err: h.ConnErr}
	// Extra ssh arguments, as Ansible users set them.
	for _, k := range []string{"ansible_ssh_common_args", "ansible_ssh_extra_args"} {
		if s, ok := vars[k].(string); ok && s != "" {
			args, err := splitArgs(s)
			if err != nil && t.err == nil {
				t.err = fmt.Errorf("%s: %v", k, err)
			}
			t.SSHArgs = append(t.SSHArgs, args...)
		}
	}
	return t
}

func (e *env) printInventoryErr(err error) {
	if errs, ok := err.(inventory.Errors); ok {
		for _, x := range errs {
			fmt.Fprintln(e.stderr, x.Error())
		}
		fmt.Fprintf(e.stderr, "%d %s\n", len(errs), plural(len(errs), "problem", "problems"))
		return
	}
	fmt.Fprintf(e.stderr, "provision: %v\n", err)
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// readPassword reads a password from the terminal without echo.
func (e *env) readPassword(prompt string) (string, error) {
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", fmt.Errorf("--ask-become-pass needs a terminal")
	}
	fmt.Fprint(e.stderr, prompt)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	return string(b), err
}

var _ tasks.Runner = noRunner{}
