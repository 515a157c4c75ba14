// Package tasks defines the contract every provision module implements: a
// Task checks the host and returns a Plan of changes, and applies exactly
// that plan. The engine derives check mode, diff output, "changed" and the
// convergence proof from the Plan; no module reports "changed" by hand.
package tasks

import (
	"context"
	"strings"
)

// A Task is one piece of desired state on one host, decoded from a playbook.
type Task interface {
	// Check inspects the host and returns what Apply would change. It must
	// not modify the host. An empty Plan means the host already matches.
	Check(ctx context.Context, sys *System) (Plan, error)
	// Apply makes exactly the changes in p, which Check has just returned.
	Apply(ctx context.Context, sys *System, p Plan) error
}

// A Change is one difference between the host and the task.
type Change struct {
	// Field names what differs: "state", "mode", "content", "subuid".
	Field string `json:"field"`
	// Before and After render the value for humans; "" means absent.
	Before string `json:"before"`
	After  string `json:"after"`
	// Path, when set, marks Before and After as the contents of that file,
	// so --diff renders them as a unified diff with path headers.
	Path string `json:"path,omitempty"`
	// Sensitive hides Before and After in every output.
	Sensitive bool `json:"sensitive,omitempty"`
}

// A Plan is what Check found: the changes Apply would make, warnings about
// the host that do not block the task, and the module's private data for
// Apply.
type Plan struct {
	Changes  []Change `json:"changes"`
	Warnings []string `json:"warnings,omitempty"`
	// Data carries whatever Check computed that Apply needs (rendered
	// content, allocated ranges). The engine never looks at it.
	Data any `json:"-"`
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Changes) == 0 }

// Add appends a change to the plan.
func (p *Plan) Add(field, before, after string) {
	p.Changes = append(p.Changes, Change{Field: field, Before: before, After: after})
}

// Warn records a warning about the host.
func (p *Plan) Warn(msg string) { p.Warnings = append(p.Warnings, msg) }

// String renders the plan as one line per change, for logs and errors.
func (p Plan) String() string {
	var b strings.Builder
	for i, c := range p.Changes {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.Field)
		if c.Path != "" {
			b.WriteString(" of " + c.Path)
			continue
		}
		if c.Sensitive {
			b.WriteString(": (sensitive value)")
			continue
		}
		b.WriteString(": " + quoteOrAbsent(c.Before) + " -> " + quoteOrAbsent(c.After))
	}
	return b.String()
}

func quoteOrAbsent(s string) string {
	if s == "" {
		return "(absent)"
	}
	return s
}

// Validator is implemented by tasks that check their arguments after
// decoding, without touching the host. Return an *ArgError to point the
// message at one argument.
type Validator interface {
	Validate() error
}

// Imperative is implemented by tasks whose plan is an action to run (a
// command) rather than a state to reach. The engine does not run the
// verifying second Check for them, since their plan may legitimately stay
// non-empty.
type Imperative interface {
	Imperative() bool
}

// Outputter is implemented by tasks that have output worth registering
// (stdout, rc). The engine adds it to the registered result.
type Outputter interface {
	Output() map[string]any
}

// ArgError is a problem with one argument of a task. The engine turns it
// into a file:line:col error at that argument.
type ArgError struct {
	Arg string
	Msg string
}

func (e *ArgError) Error() string { return e.Arg + ": " + e.Msg }

// BadArg returns an *ArgError for arg.
func BadArg(arg, msg string) error { return &ArgError{Arg: arg, Msg: msg} }

// ParseMode parses a file mode written as an octal string ("0644", "644",
// "0o755"). "" gives 0 (keep or default).
func ParseMode(s string) (uint32, error) {
	if s == "" {
		return 0, nil
	}
	t := strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	var m uint32
	for _, c := range t {
		if c < '0' || c > '7' {
			return 0, BadArg("mode", "not an octal mode: "+s)
		}
		m = m*8 + uint32(c-'0')
		if m > 0o7777 {
			return 0, BadArg("mode", "mode out of range: "+s)
		}
	}
	return m, nil
}
