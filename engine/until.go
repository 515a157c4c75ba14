package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
)

// attempts runs one item of a task, again while its until: condition is
// false, as Ansible's until / retries / delay do. The condition sees the
// result under the task's register name. A task still short of it after
// its retries fails. In check mode the task is checked once.
func (r *runner) attempts(ctx context.Context, t *playbook.Task, vars map[string]any, item any, looped, handler bool, ahead func() error) (report.Event, map[string]any) {
	ev, res := r.one(ctx, t, vars, item, looped, handler, ahead)
	realInCheck := t.CheckMode != nil && !*t.CheckMode
	if t.Until == nil || ev.Status == report.StatusSkipped || r.opts.Check && !realInCheck {
		// In check mode nothing ran that could make the condition hold.
		return ev, res
	}
	retries, delay := 3, 5
	if t.Retries != nil {
		retries = *t.Retries
	}
	if t.Delay != nil {
		delay = *t.Delay
	}
	for n := 0; ; n++ {
		done, err := r.untilHolds(t, vars, res)
		if done && err == nil {
			res["attempts"] = n + 1
			return ev, res
		}
		if n >= retries {
			ev.Status, ev.Error = report.StatusFailed, untilError(t, n+1, err)
			res["failed"], res["msg"], res["attempts"] = true, ev.Error, n+1
			return ev, res
		}
		select {
		case <-ctx.Done():
			ev.Status, ev.Error = report.StatusFailed, "until: stopped"
			return ev, res
		case <-time.After(time.Duration(delay) * time.Second):
		}
		ev, res = r.one(ctx, t, vars, item, looped, handler, ahead)
	}
}

func (r *runner) untilHolds(t *playbook.Task, vars, res map[string]any) (bool, error) {
	v := copyVars(vars)
	if t.Register != "" {
		v[t.Register] = res
	}
	return r.scope(v).EvalBool(t.Until.Expr)
}

func untilError(t *playbook.Task, tries int, err error) string {
	if err != nil {
		return fmt.Sprintf("%s: until: %v (after %d attempts)", t.Until.Pos, err, tries)
	}
	return fmt.Sprintf("%s: until: %s still false after %d attempts", t.Until.Pos, t.Until.Expr, tries)
}
