package engine

import (
	"fmt"

	"github.com/provision-tool/provision/playbook"
)

// notices makes one task's notifications durable with at most two writes
// of the handler state, whatever the number of loop items: ahead of the
// task's first Apply, each handler it notifies is recorded as pending
// ("intent", with every loop item it may get), and after its last item
// the record is settled to what really happened. A kill at any instant
// thus leaves the handler pending or already run, never forgotten.
type notices struct {
	r       *runner
	pr      *playRun
	t       *playbook.Task
	items   []any // the loop's items that may be persisted; nil without a loop
	written bool  // the intent is on disk
}

func (r *runner) notices(pr *playRun, t *playbook.Task, items []any, looped bool) *notices {
	n := &notices{r: r, pr: pr, t: t}
	if looped && !t.NoLog {
		// Only what may be written: a no_log task's items, and items
		// holding a vault secret, never reach the state file.
		for _, it := range items {
			if !r.secrets.in(playbook.Stringify(it)) {
				n.items = append(n.items, it)
			}
		}
	}
	return n
}

// active reports whether this task's notifications are persisted at all.
func (n *notices) active() bool {
	return len(n.t.Notify) > 0 && !n.r.opts.Check
}

// ahead persists the intent before the task's first change. An error
// means the change must not be made: its notification could be lost.
func (n *notices) ahead() error {
	if n.written || !n.active() {
		return nil
	}
	upd := map[string]update{}
	for _, h := range n.t.Notify {
		var items []any
		if cur, ok := n.pr.notified[h]; ok {
			items = append(items, cur.persist...)
		}
		items = append(items, n.items...)
		upd[h] = update{Pending: true, Intent: true, Items: dedupe(items)}
	}
	if err := n.r.state.put(n.r.pbKey, n.pr.play.Name, upd); err != nil {
		return fmt.Errorf("persist notification of %s before the change: %w", n.t.Notify[0], err)
	}
	n.written = true
	return nil
}

// settle records the task's outcome: each handler it notifies stays
// pending with the items notified so far in this play, or is dropped when
// nothing notified it (the intent was not needed).
func (n *notices) settle(notified bool) {
	if !n.active() || !n.written && !notified {
		return
	}
	upd := map[string]update{}
	for _, h := range n.t.Notify {
		if cur, ok := n.pr.notified[h]; ok {
			upd[h] = update{Pending: true, Items: dedupe(cur.persist)}
		} else {
			upd[h] = update{}
		}
	}
	if err := n.r.state.put(n.r.pbKey, n.pr.play.Name, upd); err != nil {
		n.r.sys.Logf().Warnf("persist notification of %s: %v", n.t.Notify[0], err)
	}
}
