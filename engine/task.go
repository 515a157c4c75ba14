package engine

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/provision-tool/provision/diag"
	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
)

// task runs one task (all its loop items) and reports each result. It
// returns false when the host must stop: a failure not ignored.
func (r *runner) task(ctx context.Context, pr *playRun, t *playbook.Task, handler bool) bool {
	if t.RunOnce && !r.runOnce {
		return true // another host of the batch runs it, as in Ansible
	}
	vars := pr.vars
	if t.Vars != nil {
		vars = copyVars(pr.vars)
		if err := r.renderVars(t.Vars, vars); err != nil {
			return r.fail(pr, t, handler, nil, err, time.Now())
		}
	}
	items := []any{nil}
	looped := t.Loop != nil
	if looped {
		var err error
		if items, err = r.loopItems(t, vars); err != nil {
			return r.fail(pr, t, handler, nil, err, time.Now())
		}
	}
	var results []any
	ok := true
	anyChanged, anyFailed, notified := false, false, false
	nt := r.notices(pr, t, items, looped)
	for i, item := range items {
		iv, shown := vars, item
		if looped {
			iv, shown = r.loopVars(t, vars, item, i)
		}
		var applied bool
		ahead := func() error { applied = true; return nt.ahead() }
		ev, res := r.attempts(ctx, t, iv, shown, looped, handler, ahead)
		keepFacts(t, iv, pr.vars)
		ev.Play = pr.play.Name
		ev.Rescued = ev.Status == report.StatusFailed && !t.IgnoreErrors && t.Rescued()
		ev.Ignored = ev.Status == report.StatusFailed && t.IgnoreErrors
		if ev.Status == report.StatusChanged {
			anyChanged = true
		}
		// A failure after Apply began may leave the change made: keep its
		// notification rather than lose it.
		if ev.Status == report.StatusChanged || ev.Status == report.StatusFailed && applied && nt.written {
			notified = true
			r.notify(pr, t, item, looped)
		}
		r.emit(ev)
		if looped {
			res["item"] = item
			results = append(results, compact(res))
		} else if t.Register != "" {
			pr.vars[t.Register] = res
		}
		if ev.Status == report.StatusFailed {
			pr.failed, anyFailed = true, true
			if !t.IgnoreErrors {
				ok = false
				break
			}
		}
	}
	nt.settle(notified)
	if looped && t.Register != "" {
		pr.vars[t.Register] = map[string]any{"changed": anyChanged, "results": results, "failed": anyFailed}
	}
	return ok
}

// loopVars sets the loop variable (item, or loop_control.loop_var) and
// index_var for one item, and returns the item as shown: its rendered
// loop_control.label when there is one.
func (r *runner) loopVars(t *playbook.Task, vars map[string]any, item any, i int) (map[string]any, any) {
	iv := copyVars(vars)
	lc := t.LoopControl
	if lc == nil {
		iv["item"] = item
		return iv, item
	}
	iv[lc.LoopVar] = item
	if lc.IndexVar != "" {
		iv[lc.IndexVar] = i
	}
	if lc.Label != "" {
		if label, err := r.scope(iv).RenderString(lc.Label); err == nil {
			return iv, label
		}
	}
	return iv, item
}

func (r *runner) loopItems(t *playbook.Task, vars map[string]any) ([]any, error) {
	var raw any
	if err := t.Loop.Decode(&raw); err != nil {
		return nil, posErr(t.Pos.File, t.Loop, err)
	}
	v, err := renderValue(r.scope(vars), raw)
	if err != nil {
		return nil, posErr(t.Pos.File, t.Loop, fmt.Errorf("loop: %w", err))
	}
	switch x := v.(type) {
	case []any:
		return x, nil
	case []string:
		out := make([]any, len(x))
		for i := range x {
			out[i] = x[i]
		}
		return out, nil
	case nil:
		return []any{}, nil
	}
	return nil, posErr(t.Pos.File, t.Loop, fmt.Errorf("loop: expected a list, got %s", playbook.Stringify(v)))
}

// notify records in memory that the task notified its handlers; the
// task's notices persist it.
func (r *runner) notify(pr *playRun, t *playbook.Task, item any, looped bool) {
	for _, h := range t.Notify {
		n := pr.notify(h)
		if looped {
			n.items = append(n.items, item)
			if !t.NoLog && !r.secrets.in(playbook.Stringify(item)) {
				// A no_log task's items, and items holding a vault
				// secret, stay in memory, never in the state file.
				n.persist = append(n.persist, item)
			}
		}
	}
}

func (r *runner) fail(pr *playRun, t *playbook.Task, handler bool, item any, err error, start time.Time) bool {
	ev := report.Event{Type: report.TaskResult, Play: pr.play.Name, Task: t.DisplayName(), Module: t.Module,
		Pos: t.Pos.String(), Handler: handler, Item: item, Status: report.StatusFailed, Error: err.Error(),
		DurationMS: ms(time.Since(start)), Rescued: !t.IgnoreErrors && t.Rescued(), Ignored: t.IgnoreErrors}
	hideNoLog(t, &ev)
	r.emit(ev)
	return t.IgnoreErrors
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// one runs one iteration of a task and returns its result event and the
// value registered for it.
// ahead is called before Apply; its error fails the item unchanged.
func (r *runner) one(ctx context.Context, t *playbook.Task, vars map[string]any, item any, looped, handler bool, ahead func() error) (report.Event, map[string]any) {
	start := time.Now()
	ev := report.Event{Type: report.TaskResult, Task: t.DisplayName(), Module: t.Module, Pos: t.Pos.String(), Handler: handler}
	if looped {
		ev.Item = item
	}
	res := map[string]any{"changed": false, "failed": false, "skipped": false}
	finish := func(status string, err error) (report.Event, map[string]any) {
		ev.Status = status
		if err != nil {
			ev.Error = err.Error()
			res["msg"] = ev.Error
		}
		ev.DurationMS = ms(time.Since(start))
		res["changed"] = status == report.StatusChanged
		res["failed"] = status == report.StatusFailed
		res["skipped"] = status == report.StatusSkipped
		res["changes"] = ev.Changes
		hideNoLog(t, &ev)
		return ev, res
	}
	begin := report.Event{Type: report.TaskStart, Task: ev.Task, Module: t.Module, Pos: ev.Pos, Handler: handler, Item: ev.Item}
	hideNoLog(t, &begin)
	r.emit(begin)

	scope := r.scope(vars)
	for _, c := range t.When {
		ok, err := scope.EvalBool(c.Expr)
		if err != nil {
			return finish(report.StatusFailed, &playbook.Error{Pos: c.Pos, Msg: "when: " + err.Error()})
		}
		if !ok {
			ev.Msg = "when: " + c.Expr + " is false"
			return finish(report.StatusSkipped, nil)
		}
	}
	if t.Builtin != nil {
		return finish(r.builtin(t, vars, &ev))
	}
	if t.Module == "" {
		return finish(report.StatusOK, nil)
	}
	task, err := r.build(t, scope)
	if err != nil {
		return finish(report.StatusFailed, err)
	}
	sys := *r.sys
	sys.Render = scope.RenderTemplate
	sys.Log = r.taskLogger(t)
	u, err := r.becomeUser(t, scope)
	if err != nil {
		return finish(report.StatusFailed, err)
	}
	if u != "" && u != "root" {
		sys.Runner = asUser{Runner: r.sys.Runner, user: u}
	}

	// A stop request (Ctrl-C) is honoured between tasks: the task that has
	// started runs to its end.
	ctx = context.WithoutCancel(ctx)
	plan, err := task.Check(ctx, &sys)
	if err != nil {
		return finish(report.StatusFailed, fmt.Errorf("%s: check: %w", t.Module, err))
	}
	ev.Changes, ev.Warnings = plan.Changes, plan.Warnings
	if plan.Empty() {
		return finish(r.judge(t, scope, res, report.StatusOK))
	}
	realInCheck := t.CheckMode != nil && !*t.CheckMode
	if r.opts.Check && !realInCheck {
		if t.ChangedWhen != nil && t.ChangedWhen.Expr == "false" {
			ev.Msg = "would run; changed_when: false"
			return finish(report.StatusOK, nil)
		}
		return finish(report.StatusChanged, nil)
	}
	if err := ahead(); err != nil {
		return finish(report.StatusFailed, err)
	}
	ev.Applied = realInCheck
	if err := task.Apply(ctx, &sys, plan); err != nil {
		r.addOutput(task, res)
		return finish(report.StatusFailed, fmt.Errorf("%s: %w", t.Module, err))
	}
	r.addOutput(task, res)
	if !r.opts.NoVerify && !imperative(task) {
		again, err := task.Check(ctx, &sys)
		if err != nil {
			return finish(report.StatusFailed, fmt.Errorf("%s: check after apply: %w", t.Module, err))
		}
		if !again.Empty() {
			return finish(report.StatusFailed, fmt.Errorf("module %s did not converge on %s: this is a bug in the module; a second check still plans: %s",
				t.Module, r.opts.Host, again))
		}
	}
	return finish(r.judge(t, scope, res, report.StatusChanged))
}

// judge applies changed_when and failed_when to a result.
func (r *runner) judge(t *playbook.Task, scope *playbook.Scope, res map[string]any, status string) (string, error) {
	if t.ChangedWhen == nil && t.FailedWhen == nil {
		return status, nil
	}
	vars := copyVars(scope.Vars)
	res["changed"] = status == report.StatusChanged
	for k, v := range res {
		vars[k] = v
	}
	if t.Register != "" {
		vars[t.Register] = res
	}
	s := &playbook.Scope{Vars: vars, Facts: scope.Facts}
	if t.FailedWhen != nil {
		failed, err := s.EvalBool(t.FailedWhen.Expr)
		if err != nil {
			return report.StatusFailed, &playbook.Error{Pos: t.FailedWhen.Pos, Msg: "failed_when: " + err.Error()}
		}
		if failed {
			return report.StatusFailed, &playbook.Error{Pos: t.FailedWhen.Pos, Msg: "failed_when: " + t.FailedWhen.Expr + " is true"}
		}
	}
	if t.ChangedWhen != nil {
		changed, err := s.EvalBool(t.ChangedWhen.Expr)
		if err != nil {
			return report.StatusFailed, &playbook.Error{Pos: t.ChangedWhen.Pos, Msg: "changed_when: " + err.Error()}
		}
		if changed {
			return report.StatusChanged, nil
		}
		return report.StatusOK, nil
	}
	return status, nil
}

func (r *runner) addOutput(task tasks.Task, res map[string]any) {
	if o, ok := task.(tasks.Outputter); ok {
		for k, v := range o.Output() {
			res[k] = v
		}
	}
}

func imperative(task tasks.Task) bool {
	i, ok := task.(tasks.Imperative)
	return ok && i.Imperative()
}

// build makes the task from its arguments rendered for this host.
func (r *runner) build(t *playbook.Task, scope *playbook.Scope) (tasks.Task, error) {
	m, ok := tasks.Lookup(t.Module)
	if !ok {
		return nil, fmt.Errorf("unknown module %s", t.Module)
	}
	task := m.New()
	args := t.Args
	if args == nil || args.Kind == yaml.ScalarNode && args.Tag == "!!null" {
		args = &yaml.Node{Kind: yaml.MappingNode, Line: t.ModulePos.Line, Column: t.ModulePos.Col}
	}
	if errs := playbook.DecodeArgs(r.pb.File, args, task, scope.Render); len(errs) > 0 {
		for _, e := range errs {
			e.Msg = t.Module + ": " + e.Msg
		}
		// Every problem, one per line at its file:line:col.
		return nil, diag.Join(errs)
	}
	if err := playbook.Validate(task); err != nil {
		e := playbook.ArgPos(r.pb.File, t.Module, args, err)
		return nil, e
	}
	return task, nil
}

// asUser runs commands as the task's become_user.
type asUser struct {
	tasks.Runner
	user string
}

func (a asUser) Run(ctx context.Context, c tasks.Cmd) (tasks.Result, error) {
	if c.User == "" {
		c.User = a.user
	}
	return a.Runner.Run(ctx, c)
}

// maxKept bounds the before and after texts a loop item's registered
// result keeps: a loop over a huge file must not hold every item's copy
// of it. The event (and so the report and --diff) has them in full.
const maxKept = 64 << 10

// compact returns res with file contents over maxKept replaced by their
// size and SHA-256 digest.
func compact(res map[string]any) map[string]any {
	changes, _ := res["changes"].([]tasks.Change)
	var out []tasks.Change
	for i, c := range changes {
		if len(c.Before) <= maxKept && len(c.After) <= maxKept {
			continue
		}
		if out == nil {
			out = append([]tasks.Change(nil), changes...)
		}
		out[i].Before, out[i].After = digest(c.Before), digest(c.After)
	}
	if out != nil {
		res["changes"] = out
	}
	return res
}

func digest(s string) string {
	if len(s) <= maxKept {
		return s
	}
	return fmt.Sprintf("(%d bytes, sha256 %x)", len(s), sha256.Sum256([]byte(s)))
}
