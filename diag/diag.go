// Package diag is how provision reports problems in the files users write
// (playbooks, inventories, vars files): each at a file:line:col position,
// all of them at once, sorted, with a "did you mean" hint where one fits.
package diag

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agnivade/levenshtein"
)

// Pos is a position in a file. Line and Col are 1-based; Col counts
// characters, as yaml.v3 does. A zero Line means the whole file.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

// String renders the position the `go vet` way: file:line:col.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	if p.Col == 0 {
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// IsZero reports whether p is the zero position (no source).
func (p Pos) IsZero() bool { return p == Pos{} }

// Before orders positions by file, line and column.
func (p Pos) Before(q Pos) bool {
	if p.File != q.File {
		return p.File < q.File
	}
	if p.Line != q.Line {
		return p.Line < q.Line
	}
	return p.Col < q.Col
}

// Error is one problem at one position: "file:line:col: message".
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string {
	if e.Pos.IsZero() {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// Errors is a list of problems. It is an error itself, one problem per
// line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Sort sorts the problems by position, keeping the order of problems at
// the same position, and returns the list.
func (es Errors) Sort() Errors {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Pos.Before(es[j].Pos) })
	return es
}

// Add appends a problem.
func (es *Errors) Add(pos Pos, format string, args ...any) {
	*es = append(*es, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// Suggest returns ` (did you mean "x"?)` when one of candidates is close to
// word, or "".
func Suggest(word string, candidates []string) string {
	best, bestDist := "", 0
	for _, c := range candidates {
		if c == word {
			continue
		}
		d := levenshtein.ComputeDistance(strings.ToLower(word), strings.ToLower(c))
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := max(len(word)/3, 2)
	if best == "" || bestDist > limit && !strings.HasPrefix(best, word) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}
