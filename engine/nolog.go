package engine

import (
	"fmt"

	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
)

// Hidden stands for what a no_log task would have shown: its loop item,
// its error, its warnings and its log messages.
const Hidden = "(hidden by no_log)"

// hideNoLog masks, in an event of a no_log task, everything that may carry
// the task's secrets: change values (cleared here, so they never reach a
// sink nor cross the wire from a remote agent) and file paths (which may be
// rendered from secrets), the loop item, the error and the warnings. The task's name, module and position stay: they come
// from the playbook text, not from its variables.
func hideNoLog(t *playbook.Task, ev *report.Event) {
	if !t.NoLog {
		return
	}
	if ev.Item != nil {
		ev.Item = Hidden
	}
	if len(ev.Changes) > 0 {
		masked := make([]tasks.Change, len(ev.Changes))
		for i, c := range ev.Changes {
			masked[i] = tasks.Change{Field: c.Field, Sensitive: true}
		}
		ev.Changes = masked
	}
	if ev.Error != "" {
		ev.Error = "(output hidden by no_log)"
	}
	if n := len(ev.Warnings); n > 0 {
		ev.Warnings = []string{fmt.Sprintf("%d warning(s) %s", n, Hidden)}
	}
}

// noLogLogger is the logger a no_log task's module gets: its messages may
// quote the task's arguments (a command line, a file's content), so they
// are replaced by a line naming the task.
type noLogLogger struct {
	tasks.Logger
	pos string
}

func (l noLogLogger) Debugf(string, ...any) { l.Logger.Debugf("%s: debug message %s", l.pos, Hidden) }
func (l noLogLogger) Warnf(string, ...any)  { l.Logger.Warnf("%s: warning %s", l.pos, Hidden) }

// taskLogger is the logger for t's module.
func taskLogger(t *playbook.Task, l tasks.Logger) tasks.Logger {
	if !t.NoLog {
		return l
	}
	return noLogLogger{Logger: l, pos: t.Pos.String()}
}
