package engine

import (
	"context"

	"github.com/provision-tool/provision/playbook"
)

// blocks is the state of a play's blocks with rescue or always: which
// have a failure in their body (so the rest of the body is skipped and
// rescue runs), and which end failed (their failure goes on outwards when
// always has run).
type blocks struct {
	failed map[*playbook.Block]bool
	fatal  map[*playbook.Block]bool
}

// runs reports whether t runs, given the failures of its blocks: the
// rest of a failed body is skipped, rescue runs only after a failure,
// always runs in any case.
func (bs *blocks) runs(t *playbook.Task) bool {
	b, part := t.Block, t.Section
	for b != nil {
		switch {
		case part == "body" && bs.failed[b]:
			return false
		case part == "rescue" && (!bs.failed[b] || bs.fatal[b]):
			return false
		}
		b, part = b.Parent, b.ParentSection
	}
	return true
}

// fail records a failure of t; it returns false when no block catches
// it and the host must stop.
func (bs *blocks) fail(t *playbook.Task) bool {
	if t.Block == nil {
		return false
	}
	if bs.failed == nil {
		bs.failed, bs.fatal = map[*playbook.Block]bool{}, map[*playbook.Block]bool{}
	}
	return bs.failIn(t.Block, t.Section)
}

func (bs *blocks) failIn(b *playbook.Block, part string) bool {
	for b != nil {
		switch part {
		case "body":
			bs.failed[b] = true
			if !b.HasRescue {
				bs.fatal[b] = true // always runs, then the failure goes on
			}
			return true
		case "rescue":
			bs.fatal[b] = true
			return true
		}
		// A failure in always fails the block's place in its parent.
		b, part = b.Parent, b.ParentSection
	}
	return false
}

// end runs when t, the last task of one or more blocks, is done: a block
// that ends failed passes its failure outwards. It returns false when the
// host must stop.
func (bs *blocks) end(t *playbook.Task) bool {
	for b := t.Block; b != nil && b.Last == t; b = b.Parent {
		if bs.fatal[b] {
			delete(bs.fatal, b)
			if !bs.failIn(b.Parent, b.ParentSection) {
				return false
			}
		}
	}
	return true
}

// reached reports whether t is at or after the task Options.StartAtTask
// names.
func (r *runner) reached(t *playbook.Task) bool {
	if !r.started && (r.opts.StartAtTask == "" || t.Name == r.opts.StartAtTask) {
		r.started = true
	}
	return r.started
}

// playTasks runs a play's tasks in order, with flush_handlers, tags,
// and blocks' rescue and always. It returns false when the host must stop.
func (r *runner) playTasks(ctx context.Context, pr *playRun, play *playbook.Play) bool {
	bs := &blocks{}
	for _, t := range play.Tasks {
		if ctx.Err() != nil {
			return false
		}
		if !r.reached(t) {
			continue
		}
		if t.Meta == "flush_handlers" {
			if !r.flush(ctx, pr) {
				return false
			}
			continue
		}
		if r.selected(play, t) && bs.runs(t) && !r.task(ctx, pr, t, false) && !bs.fail(t) {
			return false
		}
		if !bs.end(t) {
			return false
		}
	}
	return true
}
