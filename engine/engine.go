// Package engine runs a playbook's plays on one host: for every task it
// renders the arguments, runs Check, and (unless in check mode) Apply and a
// verifying second Check; it runs notified handlers once at the end of each
// play and persists pending notifications so none is lost.
package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/hostfs"
)

// Options control one run on one host.
type Options struct {
	// Host is the host's inventory name, used in events.
	Host string
	// Check runs Check only: nothing on the host changes.
	Check bool
	// NoVerify skips the second Check after Apply.
	NoVerify bool
	// Tags, when set, runs only tasks with one of these tags (and tasks
	// tagged "always"); SkipTags skips tasks with any of these tags.
	Tags, SkipTags []string
	// StartAtTask, when set, skips the tasks before the first named so
	// (--start-at-task); handlers still run when notified.
	StartAtTask string
	// HostVars are the host's inventory variables; ExtraVars (-e) override
	// everything.
	HostVars, ExtraVars map[string]any
	// MatchHosts decides whether a play's hosts pattern selects this host.
	// nil selects plays for "all", "localhost" and the host's name.
	MatchHosts func(pattern string) bool
	// Play, when above 0, runs only the play of this number (from 1): the
	// controller runs a play with serial batches one play at a time.
	Play int
	// RunOnceHosts names, for each play by index, the host that runs its
	// run_once tasks (the first of its batch); other hosts leave them out.
	// A missing or empty entry: this host runs them.
	RunOnceHosts []string
	// StateDir and LockPath default to DefaultStateDir and DefaultLockPath.
	StateDir, LockPath string
	// PlaybookID names the playbook in the host's pending-handler state;
	// it defaults to the playbook file's absolute path. A remote agent gets
	// the controller's.
	PlaybookID string
	// Sink receives the events.
	Sink report.Sink
}

// Run runs the playbook on sys's host and returns the host's counts. The
// error is for problems outside any task (the lock, the state file); task
// failures are counted and reported as events.
func Run(ctx context.Context, pb *playbook.Playbook, sys *tasks.System, opts Options) (*report.Counts, error) {
	if opts.Host == "" {
		opts.Host = "localhost"
	}
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	if opts.LockPath == "" {
		opts.LockPath = DefaultLockPath
	}
	if opts.Sink == nil {
		opts.Sink = report.SinkFunc(func(report.Event) {})
	}
	lock, err := AcquireLock(sys, opts.LockPath)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	sys = perRun(sys, opts.Check)
	if err := sweepState(sys, opts); err != nil {
		sys.Logf().Warnf("remove leftover temp files: %v", err)
	}
	state, err := loadState(sys, opts.StateDir)
	if err != nil {
		return nil, err
	}
	key := opts.PlaybookID
	if key == "" {
		key, _ = filepath.Abs(pb.File)
	}
	r := &runner{opts: opts, sys: sys, pb: pb, pbKey: key, state: state, counts: &report.Counts{},
		secrets: newSecrets(pb.Vaulted)}
	for i, play := range pb.Plays {
		if !r.matches(play.Hosts) || opts.Play > 0 && i+1 != opts.Play {
			continue
		}
		r.runOnce = i >= len(opts.RunOnceHosts) || opts.RunOnceHosts[i] == "" || opts.RunOnceHosts[i] == opts.Host
		if err := ctx.Err(); err != nil {
			return r.counts, err
		}
		if !r.play(ctx, play) {
			break
		}
	}
	return r.counts, nil
}

// sweepState removes what a killed run left: the modules' leftovers
// (tasks.Cleanup) and the temp files in the state directory. In check
// mode nothing is removed.
func sweepState(sys *tasks.System, opts Options) error {
	if opts.Check {
		return nil
	}
	for _, err := range tasks.Cleanup(sys).WrappedErrors() {
		sys.Logf().Warnf("remove leftovers: %v", err)
	}
	return sys.FS().Sweep(opts.StateDir)
}

// perRun gives sys the Memo, Sweeper and Labels of one run, unless it has
// them, and says whether the run only checks.
func perRun(sys *tasks.System, check bool) *tasks.System {
	if sys.Memo != nil && sys.Sweeper != nil && sys.Labels != nil && sys.CheckOnly == check {
		return sys
	}
	run := *sys
	run.CheckOnly = check
	if run.Memo == nil {
		run.Memo = &tasks.Memo{}
	}
	if run.Sweeper == nil {
		run.Sweeper = hostfs.NewSweeper(time.Now())
	}
	if run.Labels == nil {
		run.Labels = hostfs.NewLabels(run.Logf().Warnf)
	}
	return &run
}

type runner struct {
	opts   Options
	sys    *tasks.System
	pb     *playbook.Playbook
	pbKey  string
	state  *stateStore
	counts *report.Counts
	// started is whether the task Options.StartAtTask names has been
	// reached (always, without one).
	started bool
	// secrets are the playbook's decrypted vault values, masked in output.
	secrets *secrets
	// runOnce: this host runs the current play's run_once tasks.
	runOnce bool
}

func (r *runner) matches(pattern string) bool {
	if r.opts.MatchHosts != nil {
		return r.opts.MatchHosts(pattern)
	}
	for _, p := range strings.FieldsFunc(pattern, func(c rune) bool { return c == ':' || c == ',' }) {
		p = strings.TrimSpace(p)
		if p == "all" || p == "*" || p == "localhost" || p == r.opts.Host {
			return true
		}
	}
	return false
}

// playRun is the state of one play on this host.
type playRun struct {
	play     *playbook.Play
	vars     map[string]any
	notified map[string]*notification // by handler name
	order    []string
	failed   bool // a task of this run failed (ignored or not)
}

type notification struct {
	items []any
	// persist are the items written to the state file: those of tasks
	// without no_log.
	persist []any
}

func (r *runner) emit(e report.Event) {
	e.V = report.SchemaVersion
	e.Time = time.Now().UTC()
	e.Host = r.opts.Host
	e.Check = r.opts.Check && !e.Applied
	if e.Type == report.TaskResult {
		r.counts.Add(e)
	}
	r.secrets.mask(&e)
	r.opts.Sink.Emit(e)
}

// play runs one play; it returns false when the host failed and must stop.
func (r *runner) play(ctx context.Context, play *playbook.Play) bool {
	r.emit(report.Event{Type: report.PlayStart, Play: play.Name, Pos: play.Pos.String(), Image: r.sys.Image})
	pr := &playRun{play: play, notified: map[string]*notification{}}
	vars, err := r.playVars(play)
	if err != nil {
		r.emit(report.Event{Type: report.TaskResult, Play: play.Name, Task: "play vars", Pos: play.Pos.String(), Status: report.StatusFailed, Error: err.Error()})
		return false
	}
	pr.vars = vars
	for _, p := range r.state.pending(r.pbKey, play.Name) {
		n := pr.notify(p.Handler)
		n.items = append(n.items, p.Items...)
		n.persist = append(n.persist, p.Items...)
	}
	if !r.playTasks(ctx, pr, play) {
		return false
	}
	return r.flush(ctx, pr)
}

func (pr *playRun) notify(handler string) *notification {
	n, ok := pr.notified[handler]
	if !ok {
		n = &notification{}
		pr.notified[handler] = n
		pr.order = append(pr.order, handler)
	}
	return n
}

// playVars renders the play's variables in order on top of the host's,
// with extra vars winning.
func (r *runner) playVars(play *playbook.Play) (map[string]any, error) {
	vars := map[string]any{
		// As Ansible names them.
		"inventory_hostname": r.opts.Host,
		"check_mode":         r.opts.Check,
	}
	if err := r.renderVars(play.Defaults, vars); err != nil { // roles' defaults
		return nil, err
	}
	for k, v := range r.opts.HostVars {
		vars[k] = v
	}
	for k, v := range r.opts.ExtraVars {
		vars[k] = v
	}
	if err := r.renderVars(play.Vars, vars); err != nil {
		return nil, err
	}
	return vars, nil
}

// renderVars renders a vars mapping into vars, in order, so that later
// variables can use earlier ones. Extra vars are never overridden.
func (r *runner) renderVars(node *yaml.Node, vars map[string]any) error {
	if node == nil {
		return nil
	}
	scope := r.scope(vars)
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		if _, fixed := r.opts.ExtraVars[k.Value]; fixed {
			continue
		}
		var val any
		if err := v.Decode(&val); err != nil {
			return posErr(r.pb.File, v, err)
		}
		rendered, err := renderValue(scope, val)
		if err != nil {
			return posErr(r.pb.File, v, fmt.Errorf("vars: %s: %w", k.Value, err))
		}
		vars[k.Value] = rendered
	}
	return nil
}

func posErr(file string, n *yaml.Node, err error) error {
	return &playbook.Error{Pos: playbook.Pos{File: file, Line: n.Line, Col: n.Column}, Msg: err.Error()}
}

func renderValue(scope *playbook.Scope, v any) (any, error) {
	switch x := v.(type) {
	case string:
		if !playbook.HasTemplate(x) {
			return x, nil
		}
		return scope.Render(x)
	case []any:
		out := make([]any, len(x))
		for i := range x {
			var err error
			if out[i], err = renderValue(scope, x[i]); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			var err error
			if out[k], err = renderValue(scope, e); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

func (r *runner) scope(vars map[string]any) *playbook.Scope {
	return &playbook.Scope{Vars: vars, Facts: r.sys.Facts.Map}
}

// selected applies --tags and --skip-tags, and the special tags always
// and never.
func (r *runner) selected(play *playbook.Play, t *playbook.Task) bool {
	tags := append(append([]string{}, play.Tags...), t.Tags...)
	has := func(list []string) bool {
		for _, a := range tags {
			for _, b := range list {
				if a == b {
					return true
				}
			}
		}
		return false
	}
	if len(r.opts.SkipTags) > 0 && has(r.opts.SkipTags) {
		return false
	}
	if len(r.opts.Tags) > 0 && !has(r.opts.Tags) && !has([]string{"always"}) {
		return false
	}
	// As in Ansible: a task tagged never runs only when one of its
	// tags (never included) is asked for.
	if has([]string{"never"}) && !has(r.opts.Tags) {
		return false
	}
	return true
}

// flush runs the notified handlers, in the order the play defines them.
func (r *runner) flush(ctx context.Context, pr *playRun) bool {
	if len(pr.notified) == 0 {
		return true
	}
	ok := true
	for _, h := range pr.play.Handlers {
		var items []any
		var hit bool
		for _, name := range append([]string{h.Name}, h.Listen...) {
			if n, found := pr.notified[name]; found && name != "" {
				hit = true
				items = append(items, n.items...)
			}
		}
		if !hit {
			continue
		}
		vars := copyVars(pr.vars)
		vars["notified_items"] = dedupe(items)
		hr := &playRun{play: pr.play, vars: vars, notified: pr.notified}
		if !r.task(ctx, hr, h, true) {
			ok = false
			break
		}
		r.handled(pr, h, !hr.failed)
	}
	return ok
}

// handled forgets the notifications of a handler that ran. Only a handler
// that succeeded is cleared from the persisted state: one that failed
// (with ignore_errors) stays pending for the next run.
func (r *runner) handled(pr *playRun, h *playbook.Task, succeeded bool) {
	upd := map[string]update{}
	for _, name := range append([]string{h.Name}, h.Listen...) {
		if name == "" {
			continue
		}
		delete(pr.notified, name)
		upd[name] = update{}
	}
	if r.opts.Check || !succeeded {
		return
	}
	if err := r.state.put(r.pbKey, pr.play.Name, upd); err != nil {
		r.sys.Logf().Warnf("forget handler %s: %v", h.Name, err)
	}
}

func copyVars(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+2)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func dedupe(items []any) []any {
	out := []any{}
	seen := map[string]bool{}
	for _, it := range items {
		key := playbook.Stringify(it)
		if !seen[key] {
			seen[key] = true
			out = append(out, it)
		}
	}
	return out
}
