// Package playbook reads provision playbooks: YAML documents in the shape
// Ansible users know, decoded strictly from yaml.Node so that every play,
// task and argument keeps its file:line:col. It validates everything it can
// without a host (unknown keys and modules, types, expressions, handler
// names) and reports all problems at once. It runs nothing.
package playbook

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agnivade/levenshtein"
)

// Pos is a position in a playbook file. Line and Col are 1-based.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one problem at one position.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errors is a list of problems, sorted by position when returned by this
// package. It is an error itself.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return es
}

func (es *Errors) add(pos Pos, format string, args ...any) {
	*es = append(*es, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// Suggest returns ` (did you mean "x"?)` when one of candidates is close to
// word, or "".
func Suggest(word string, candidates []string) string {
	best, bestDist := "", 0
	for _, c := range candidates {
		d := levenshtein.ComputeDistance(strings.ToLower(word), strings.ToLower(c))
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := len(word) / 3
	if limit < 2 {
		limit = 2
	}
	if best == "" || bestDist > limit && !strings.HasPrefix(best, word) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}
