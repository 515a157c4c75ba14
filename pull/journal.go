package pull

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/sirupsen/logrus"

	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
)

// JournalHook is a logrus hook that sends every entry to the systemd
// journal through go-systemd's journal package (the native protocol, no
// cgo): the message, a priority from the level, SYSLOG_IDENTIFIER and the
// entry's fields as journal fields (upper-cased; other characters become
// _), so `journalctl -t provision TASK=...` or `STATUS=failed` finds them.
type JournalHook struct {
	// Identifier is SYSLOG_IDENTIFIER; "" means Identifier ("provision").
	Identifier string
	// Send is journal.Send; tests replace it.
	Send func(msg string, p journal.Priority, vars map[string]string) error
}

// Levels implements logrus.Hook: every level.
func (h *JournalHook) Levels() []logrus.Level { return logrus.AllLevels }

// Fire implements logrus.Hook.
func (h *JournalHook) Fire(e *logrus.Entry) error {
	id := h.Identifier
	if id == "" {
		id = Identifier
	}
	vars := map[string]string{"SYSLOG_IDENTIFIER": id}
	for k, v := range e.Data {
		name := fieldName(k)
		if name == "" {
			continue
		}
		vars[name] = fmt.Sprint(v)
	}
	send := h.Send
	if send == nil {
		send = journal.Send
	}
	return send(e.Message, priority(e.Level), vars)
}

// fieldName makes a journal field name of a logrus key: upper case
// letters, digits and underscores, not starting with an underscore or a
// digit (journald drops such fields).
func fieldName(k string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(k) {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := strings.TrimLeft(b.String(), "_0123456789")
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

func priority(l logrus.Level) journal.Priority {
	switch l {
	case logrus.PanicLevel, logrus.FatalLevel:
		return journal.PriCrit
	case logrus.ErrorLevel:
		return journal.PriErr
	case logrus.WarnLevel:
		return journal.PriWarning
	case logrus.InfoLevel:
		return journal.PriInfo
	}
	return journal.PriDebug
}

// UnderSystemd reports whether this process runs as a systemd service
// whose output goes to the journal: stderr is the journal stream named by
// JOURNAL_STREAM, or INVOCATION_ID is set (systemd sets it for every
// service) and the journal socket answers. An administrator's shell on a
// systemd host is neither, so a manual `provision pull --once` logs to
// stderr.
func UnderSystemd() bool {
	if ok, err := journal.StderrIsJournalStream(); err == nil && ok {
		return true
	}
	return os.Getenv("INVOCATION_ID") != "" && journal.Enabled()
}

// NewLogger returns the logger of a pull run: under systemd (UnderSystemd)
// entries go only to the journal, through JournalHook; otherwise they are
// written to stderr as text. Info is the level: changed and failed tasks
// and each run's summary are logged, ok and skipped tasks only at debug.
func NewLogger(stderr io.Writer) *logrus.Logger {
	l := logrus.New()
	l.SetLevel(logrus.InfoLevel)
	if UnderSystemd() {
		l.SetOutput(io.Discard)
		l.AddHook(&JournalHook{})
		return l
	}
	l.SetOutput(stderr)
	l.SetFormatter(&logrus.TextFormatter{DisableTimestamp: false, FullTimestamp: true})
	return l
}

// Sink returns a report.Sink that logs the engine's task results through
// l, with the fields TASK, STATUS, CHANGED, HOST, PLAY, MODULE, POS (and
// CHANGES, WARNINGS, ERROR, CHECK when present): failed tasks at error
// level, changed ones at info (warning in check mode, where a change is
// drift), ok and skipped at debug.
func Sink(l *logrus.Logger) report.Sink {
	return report.SinkFunc(func(e report.Event) {
		if e.Type != report.TaskResult {
			return
		}
		f := logrus.Fields{
			"TASK":    e.Task,
			"STATUS":  e.Status,
			"CHANGED": fmt.Sprint(e.Status == report.StatusChanged),
			"HOST":    e.Host,
		}
		set := func(k, v string) {
			if v != "" {
				f[k] = v
			}
		}
		set("PLAY", e.Play)
		set("MODULE", e.Module)
		set("POS", e.Pos)
		set("ERROR", e.Error)
		if e.Check {
			f["CHECK"] = "true"
		}
		if len(e.Changes) > 0 {
			f["CHANGES"] = tasks.Plan{Changes: e.Changes}.String()
		}
		if len(e.Warnings) > 0 {
			f["WARNINGS"] = strings.Join(e.Warnings, "; ")
		}
		if e.Item != nil {
			f["ITEM"] = fmt.Sprint(e.Item)
		}
		status := e.Status
		if e.Check && status == report.StatusChanged {
			status = "drift"
		}
		msg := fmt.Sprintf("%s: %s", status, e.Task)
		if e.Handler {
			msg = fmt.Sprintf("%s: handler %s", status, e.Task)
		}
		if len(e.Changes) > 0 {
			msg += " (" + tasks.Plan{Changes: e.Changes}.String() + ")"
		}
		if e.Error != "" {
			msg += ": " + e.Error
		}
		entry := l.WithFields(f)
		switch {
		case e.Status == report.StatusFailed && !e.Ignored && !e.Rescued:
			entry.Error(msg)
		case e.Status == report.StatusFailed, e.Status == report.StatusChanged && e.Check:
			entry.Warn(msg)
		case e.Status == report.StatusChanged:
			entry.Info(msg)
		default:
			entry.Debug(msg)
		}
	})
}

// TaskLogger adapts l to the tasks.Logger modules and the engine use.
func TaskLogger(l *logrus.Logger) tasks.Logger { return taskLogger{l} }

type taskLogger struct{ l *logrus.Logger }

func (t taskLogger) Debugf(format string, args ...any) { t.l.Debugf(format, args...) }
func (t taskLogger) Warnf(format string, args ...any)  { t.l.Warnf(format, args...) }
