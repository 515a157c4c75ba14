package engine

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

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

// vaultMask is what a decrypted vault value is replaced with in output.
const vaultMask = "(vaulted value)"

// secrets are the playbook's decrypted `!vault` values, masked wherever
// they appear in events and logs of every task. Nil masks nothing.
type secrets struct {
	values   []string
	replacer *strings.Replacer
}

func newSecrets(vaulted map[string]string) *secrets {
	var s secrets
	for _, v := range vaulted {
		if v != "" {
			s.values = append(s.values, quotedForms(v)...)
		}
	}
	if len(s.values) == 0 {
		return nil
	}
	// Longest first, so that a secret containing another is masked whole.
	sort.Slice(s.values, func(i, j int) bool { return len(s.values[i]) > len(s.values[j]) })
	var pairs []string
	for _, v := range s.values {
		pairs = append(pairs, v, vaultMask)
	}
	s.replacer = strings.NewReplacer(pairs...)
	return &s
}

// quotedForms is v and the forms it takes inside a Go-quoted string (%q,
// %+q, and %q of a message already holding it quoted): errors quote the
// values they refuse, and a secret holding a quote, a backslash, a control
// or a non-ASCII character is not literally in the quoted text.
func quotedForms(v string) []string {
	forms := []string{v}
	add := func(q string) string {
		q = q[1 : len(q)-1]
		if !slices.Contains(forms, q) {
			forms = append(forms, q)
		}
		return q
	}
	add(strconv.Quote(add(strconv.Quote(v))))
	add(strconv.Quote(add(strconv.QuoteToASCII(v))))
	return forms
}

// in reports whether text contains a secret.
func (s *secrets) in(text string) bool {
	if s == nil {
		return false
	}
	for _, v := range s.values {
		if strings.Contains(text, v) {
			return true
		}
	}
	return false
}

func (s *secrets) replace(text string) string {
	if s == nil {
		return text
	}
	return s.replacer.Replace(text)
}

// mask hides the secrets in an event: a change showing one becomes
// sensitive (values and path emptied), a loop item holding one is hidden,
// and they are cut out of errors, messages and warnings.
func (s *secrets) mask(e *report.Event) {
	if s == nil {
		return
	}
	if e.Item != nil && s.in(playbook.Stringify(e.Item)) {
		e.Item = Hidden
	}
	if len(e.Changes) > 0 {
		changes := make([]tasks.Change, len(e.Changes))
		for i, c := range e.Changes {
			if s.in(c.Before) || s.in(c.After) || s.in(c.Path) {
				c = tasks.Change{Field: c.Field, Sensitive: true}
			}
			changes[i] = c
		}
		e.Changes = changes
	}
	e.Error, e.Msg, e.Task = s.replace(e.Error), s.replace(e.Msg), s.replace(e.Task)
	if len(e.Warnings) > 0 {
		warnings := make([]string, len(e.Warnings))
		for i, w := range e.Warnings {
			warnings[i] = s.replace(w)
		}
		e.Warnings = warnings
	}
}

// secretLogger cuts the secrets out of a module's log messages.
type secretLogger struct {
	tasks.Logger
	s *secrets
}

func (l secretLogger) Debugf(format string, args ...any) {
	l.Logger.Debugf("%s", l.s.replace(fmt.Sprintf(format, args...)))
}

func (l secretLogger) Warnf(format string, args ...any) {
	l.Logger.Warnf("%s", l.s.replace(fmt.Sprintf(format, args...)))
}

// taskLogger is the logger for t's module: a no_log task's messages are
// replaced, and vault secrets are cut out of everyone's.
func (r *runner) taskLogger(t *playbook.Task) tasks.Logger {
	l := r.sys.Logf()
	if r.secrets != nil {
		l = secretLogger{Logger: l, s: r.secrets}
	}
	if t.NoLog {
		l = noLogLogger{Logger: l, pos: t.Pos.String()}
	}
	return l
}
