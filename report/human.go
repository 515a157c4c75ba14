package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	udiff "github.com/aymanbagabas/go-udiff"

	"github.com/provision-tool/provision/tasks"
)

// Human writes the report people read: one line per task result, the
// changes under it (as unified diffs for files with Diff), and a recap.
// Each event is written with one Write, so hosts never interleave mid-line.
type Human struct {
	W     io.Writer
	Color bool
	// Diff prints file changes as unified diffs and values before/after.
	Diff bool
	// Verbose prints changes of ok tasks' warnings and messages too.
	Verbose bool
	// TaskPath prints under each result the task's file:line:col and
	// module (-vv).
	TaskPath bool
	// ShowHost prefixes lines with the host name (fleets).
	ShowHost bool
	// HostWidth pads host names to this width (fleets).
	HostWidth int
	// Live, when set, is a status line Human keeps below the output.
	Live *Live

	playsShown map[string]bool

	mu sync.Mutex
}

const (
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	red    = "\x1b[31m"
	cyan   = "\x1b[36m"
	bold   = "\x1b[1m"
	reset  = "\x1b[0m"
)

func (h *Human) paint(color, s string) string {
	if !h.Color {
		return s
	}
	return color + s + reset
}

// Emit implements Sink.
func (h *Human) Emit(e Event) {
	e = escaped(e)
	var b strings.Builder
	switch e.Type {
	case PlayStart:
		h.mu.Lock()
		shown := h.playsShown[e.Play]
		if h.playsShown == nil {
			h.playsShown = map[string]bool{}
		}
		h.playsShown[e.Play] = true
		h.mu.Unlock()
		if shown && h.ShowHost {
			// A fleet: every host starts the play; say it once.
			return
		}
		mode := ""
		if e.Check {
			mode = " (check mode: nothing will be changed)"
		}
		if e.Image {
			mode += " (image build: nothing is started or applied live; settings take effect at boot)"
		}
		fmt.Fprintf(&b, "%s%s\n", h.paint(bold, "PLAY "+e.Play), mode)
	case RunStart:
		if e.Config == "" {
			return
		}
		fmt.Fprintf(&b, "config file = %s\n", e.Config)
	case TaskResult:
		h.result(&b, e)
	case Recap:
		h.recap(&b, e)
	case HostError:
		prefix := ""
		if h.ShowHost {
			prefix = fmt.Sprintf("%-*s  ", h.HostWidth, e.Host)
		}
		fmt.Fprintf(&b, "%s%s %s\n", prefix, h.paint(red, fmt.Sprintf("%-8s", e.Status)), e.Error)
	default:
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Live != nil {
		h.Live.around(func() { io.WriteString(h.W, b.String()) })
		return
	}
	io.WriteString(h.W, b.String())
}

func (h *Human) result(b *strings.Builder, e Event) {
	label, color := e.Status, ""
	switch e.Status {
	case StatusOK:
		color = green
	case StatusChanged:
		color = yellow
		if e.Check {
			label = "pending"
		}
	case StatusFailed:
		color = red
		if e.Ignored {
			label = "ignored"
		}
	case StatusSkipped:
		color = cyan
	}
	name := e.Task
	if e.Handler {
		name = "handler: " + name
	}
	if e.Item != nil {
		name += fmt.Sprintf(" (item=%s)", Escape(itemString(e.Item), false))
	}
	prefix := ""
	if h.ShowHost {
		prefix = fmt.Sprintf("%-*s  ", h.HostWidth, e.Host)
	}
	dur := ""
	if e.DurationMS > 0 {
		dur = "  " + formatMS(e.DurationMS)
	}
	fmt.Fprintf(b, "%s%s %s%s\n", prefix, h.paint(color, fmt.Sprintf("%-8s", label)), name, dur)
	indent := strings.Repeat(" ", len(prefix)) + "         "
	if h.TaskPath && e.Pos != "" {
		fmt.Fprintf(b, "%stask path: %s%s\n", indent, e.Pos, parens(e.Module))
	}
	if e.Status == StatusChanged || h.Verbose {
		for _, c := range e.Changes {
			h.change(b, indent, c)
		}
	}
	for _, w := range e.Warnings {
		fmt.Fprintf(b, "%s%s %s\n", indent, h.paint(yellow, "warning:"), w)
	}
	if e.Error != "" {
		for _, line := range strings.Split(strings.TrimRight(e.Error, "\n"), "\n") {
			fmt.Fprintf(b, "%s%s\n", indent, h.paint(red, line))
		}
	}
	if e.Msg != "" && (h.Verbose || e.Status == StatusSkipped || e.Module == "debug") {
		fmt.Fprintf(b, "%s%s\n", indent, e.Msg)
	}
}

func (h *Human) change(b *strings.Builder, indent string, c tasks.Change) {
	switch {
	case c.Sensitive:
		fmt.Fprintf(b, "%s%s: (sensitive value)\n", indent, c.Field)
	case c.Path != "" && h.Diff:
		d := udiff.Unified("before: "+c.Path, "after: "+c.Path, c.Before, c.After)
		for _, line := range strings.Split(strings.TrimRight(d, "\n"), "\n") {
			color := ""
			switch {
			case strings.HasPrefix(line, "+"):
				color = green
			case strings.HasPrefix(line, "-"):
				color = red
			case strings.HasPrefix(line, "@@"):
				color = cyan
			}
			if color != "" {
				line = h.paint(color, line)
			}
			fmt.Fprintf(b, "%s%s\n", indent, line)
		}
	case c.Path != "":
		fmt.Fprintf(b, "%s%s of %s (--diff shows it)\n", indent, c.Field, c.Path)
	default:
		fmt.Fprintf(b, "%s%s: %s -> %s\n", indent, c.Field, orAbsent(c.Before), orAbsent(c.After))
	}
}

func parens(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func orAbsent(s string) string {
	if s == "" {
		return "(absent)"
	}
	return s
}

func itemString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if n, ok := x["name"]; ok {
			return fmt.Sprint(n)
		}
	}
	return fmt.Sprint(v)
}

func formatMS(ms float64) string {
	d := time.Duration(ms * float64(time.Millisecond))
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func (h *Human) recap(b *strings.Builder, e Event) {
	fmt.Fprintf(b, "%s\n", h.paint(bold, "RECAP"))
	hosts := make([]string, 0, len(e.Recap))
	width := 0
	for host := range e.Recap {
		hosts = append(hosts, host)
		width = max(width, len(Escape(host, false)))
	}
	sort.Strings(hosts)
	for _, host := range hosts {
		c := e.Recap[host]
		fmt.Fprintf(b, "%-*s  ok=%d changed=%d failed=%d skipped=%d", width, Escape(host, false), c.OK, c.Changed, c.Failed, c.Skipped)
		if c.Rescued > 0 {
			fmt.Fprintf(b, " rescued=%d", c.Rescued)
		}
		if c.Ignored > 0 {
			fmt.Fprintf(b, " ignored=%d", c.Ignored)
		}
		if e.Check {
			fmt.Fprintf(b, " pending=%d", c.Pending)
		}
		if c.Unreachable {
			b.WriteString(" " + h.paint(red, "unreachable"))
		}
		b.WriteString("\n")
	}
	if e.DurationMS > 0 {
		fmt.Fprintf(b, "took %s\n", formatMS(e.DurationMS))
	}
}
