// Package transport runs a playbook on one host and streams its events:
// in-process for the local host, or over one SSH session to this same
// binary started as the agent on a remote host.
package transport

import (
	"context"

	"github.com/provision-tool/provision/agent"
	"github.com/provision-tool/provision/engine"
	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
)

// Target is one host as the inventory resolved it.
type Target struct {
	// Name is the host's inventory name, used in every event.
	Name string
	// Connection is "local" or "ssh".
	Connection string
	// Address, Port, User and KeyFile are handed to ssh (-p, -l, -i); zero
	// values leave them to the user's ssh_config.
	Address string
	Port    int
	User    string
	KeyFile string
	// SSHArgs are extra arguments for ssh, before the host.
	SSHArgs []string
	// BecomePassword, when set, is given to sudo on stdin (-S), and only
	// after sudo printed the session's random prompt on stderr.
	BecomePassword string
	// Vars are the host's inventory variables.
	Vars map[string]any
}

// Job is what to run: the playbook (parsed, for the local transport) and
// the bundle the remote agent gets. The bundle's Host and HostVars are set
// per target.
type Job struct {
	Playbook *playbook.Playbook
	Bundle   agent.Bundle
	// Match tells whether a play's hosts pattern selects a host.
	Match func(host, pattern string) bool
	// Verbose turns on debug logs (local runs).
	Verbose bool
}

// Result is how one host's run ended.
type Result struct {
	Counts *report.Counts
	// Unreachable is true when the host could not be reached or the
	// connection broke.
	Unreachable bool
	// Err explains an unreachable host or a run that could not start.
	Err error
}

// A Transport runs a job on one target.
type Transport interface {
	Run(ctx context.Context, t Target, job *Job, sink report.Sink) Result
}

// Local runs the engine in this process, on this host.
type Local struct {
	// Root is "/" for the real host; tests use a temp dir.
	Root string
	// Runner overrides the command runner (tests).
	Runner tasks.Runner
	// Image runs the host as an image being built (tasks.System.Image).
	Image bool
}

// The state paths of a run (pending handlers, the run lock) come from the
// job's Bundle (StateDir, LockPath), for local and remote hosts alike.

// Run implements Transport.
func (l Local) Run(ctx context.Context, t Target, job *Job, sink report.Sink) Result {
	fx := facts.New(l.Root)
	runner := l.Runner
	if runner == nil {
		runner = tasks.ExecRunner{Facts: fx}
	}
	sys := &tasks.System{Root: l.Root, Runner: runner, Facts: fx, SourceDir: job.Playbook.Dir,
		Log: report.NewLogger(stderrOf(sink), job.Verbose), Image: l.Image}
	b := job.Bundle
	opts := engine.Options{Host: t.Name, Check: b.Check, NoVerify: b.NoVerify, Tags: b.Tags, SkipTags: b.SkipTags, StartAtTask: b.StartAtTask,
		HostVars: t.Vars, ExtraVars: b.ExtraVars, PlaybookID: b.PlaybookID, Sink: sink,
		StateDir: b.StateDir, LockPath: b.LockPath, Play: b.Play, RunOnceHosts: b.RunOnceHosts}
	if job.Match != nil {
		opts.MatchHosts = func(p string) bool { return job.Match(t.Name, p) }
	}
	counts, err := engine.Run(ctx, job.Playbook, sys, opts)
	return Result{Counts: counts, Err: err}
}
