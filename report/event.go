// Package report turns the engine's events into output: a human report
// with a recap and optional diffs, or JSON Lines for machines. Both read the
// same Event stream, which is also what a remote agent sends back.
package report

import (
	"time"

	"github.com/provision-tool/provision/tasks"
)

// SchemaVersion is the version of the JSON event schema (docs/json-output.md).
const SchemaVersion = 1

// Event types.
const (
	RunStart   = "run_start"
	PlayStart  = "play_start"
	TaskStart  = "task_start"
	TaskResult = "task_result"
	Recap      = "recap"
	// HostError says a host could not be reached (Status "unreachable")
	// or its run could not start or finish (Status "failed").
	HostError = "host_error"
)

// StatusUnreachable is a HostError's status for a host that could not be
// reached.
const StatusUnreachable = "unreachable"

// Task statuses.
const (
	StatusOK      = "ok"
	StatusChanged = "changed"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// Event is one thing that happened during a run.
type Event struct {
	V    int       `json:"v"`
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	Host string    `json:"host,omitempty"`
	Play string    `json:"play,omitempty"`
	Task string    `json:"task,omitempty"`
	// Module is the task's module; "" for meta tasks.
	Module  string `json:"module,omitempty"`
	Pos     string `json:"pos,omitempty"`
	Handler bool   `json:"handler,omitempty"`
	// Item is the loop item this result is for, when the task loops.
	Item any `json:"item,omitempty"`
	// Check is true when nothing was applied (check mode).
	Check bool `json:"check,omitempty"`
	// Applied marks a task result whose changes were made although the
	// run is in check mode (check_mode: false): it is not a check result.
	Applied  bool           `json:"-"`
	Status   string         `json:"status,omitempty"`
	Changes  []tasks.Change `json:"changes,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
	Error    string         `json:"error,omitempty"`
	// Msg explains a skip or an ok with no changes where useful.
	Msg string `json:"msg,omitempty"`
	// Rescued marks a failure that a block's rescue handles: counted as
	// rescued, not failed.
	Rescued bool `json:"rescued,omitempty"`
	// Ignored marks a failure of a task with ignore_errors: counted as
	// ignored, not failed, as Ansible's recap does; the run goes on and
	// its exit code does not count it.
	Ignored bool `json:"ignored,omitempty"`
	// Image is set on play_start when the host is an image being built:
	// nothing is started or applied live.
	Image bool `json:"image,omitempty"`
	// Config is the ansible.cfg the run read (on run_start).
	Config     string             `json:"config,omitempty"`
	DurationMS float64            `json:"duration_ms,omitempty"`
	Recap      map[string]*Counts `json:"recap,omitempty"`
}

// Counts are the per-host totals of a run.
type Counts struct {
	OK          int  `json:"ok"`
	Changed     int  `json:"changed"`
	Failed      int  `json:"failed"`
	Skipped     int  `json:"skipped"`
	Unreachable bool `json:"unreachable,omitempty"`
	// Pending counts tasks with changes pending (check mode).
	Pending int `json:"pending"`
	// Rescued counts failures a block's rescue handled.
	Rescued int `json:"rescued,omitempty"`
	// Ignored counts failures of tasks with ignore_errors.
	Ignored int `json:"ignored,omitempty"`
}

// Add counts one task result.
func (c *Counts) Add(e Event) {
	switch e.Status {
	case StatusOK:
		c.OK++
	case StatusChanged:
		if e.Check {
			c.Pending++
		} else {
			c.Changed++
		}
	case StatusFailed:
		switch {
		case e.Rescued:
			c.Rescued++
		case e.Ignored:
			c.Ignored++
		default:
			c.Failed++
		}
	case StatusSkipped:
		c.Skipped++
	}
}

// A Sink receives events. Implementations must be safe for use by several
// hosts' goroutines at once.
type Sink interface {
	Emit(e Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// Emit implements Sink.
func (f SinkFunc) Emit(e Event) { f(e) }
