package report

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/provision-tool/provision/tasks"
)

// Escape makes s safe to print on a terminal: control characters
// (escape sequences, carriage returns, and newlines unless keepNewlines)
// and invalid UTF-8 are shown as Go escapes (\x1b, \r, \n), so that a task
// name or a host's data can neither move the cursor, recolour the report
// nor fake a line of it. Tabs are kept.
func Escape(s string, keepNewlines bool) string {
	if !needsEscape(s, keepNewlines) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !validAt(s, i):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t' || r == '\n' && keepNewlines:
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			if r < 0x100 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func validAt(s string, i int) bool {
	r, size := utf8.DecodeRuneInString(s[i:])
	return r != utf8.RuneError || size > 1
}

func needsEscape(s string, keepNewlines bool) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r == '\t' || r == '\n' && keepNewlines {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return true
		}
	}
	return false
}

// escaped returns e with every text a user or a host controls escaped for
// the human report.
func escaped(e Event) Event {
	e.Play, e.Task, e.Host, e.Config = Escape(e.Play, false), Escape(e.Task, false), Escape(e.Host, false), Escape(e.Config, false)
	e.Pos, e.Module = Escape(e.Pos, false), Escape(e.Module, false)
	e.Error, e.Msg = Escape(e.Error, true), Escape(e.Msg, true)
	if e.Warnings != nil {
		ws := make([]string, len(e.Warnings))
		for i, w := range e.Warnings {
			ws[i] = Escape(w, true)
		}
		e.Warnings = ws
	}
	if e.Changes != nil {
		cs := make([]tasks.Change, len(e.Changes))
		for i, c := range e.Changes {
			c.Field, c.Path = Escape(c.Field, false), Escape(c.Path, false)
			c.Before, c.After = Escape(c.Before, c.Path != ""), Escape(c.After, c.Path != "")
			cs[i] = c
		}
		e.Changes = cs
	}
	return e
}
