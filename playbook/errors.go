// Package playbook reads provision playbooks: YAML documents in the shape
// Ansible users know, decoded strictly from yaml.Node so that every play,
// task and argument keeps its file:line:col. It validates everything it can
// without a host (unknown keys and modules, types, expressions, handler
// names) and reports all problems at once. It runs nothing.
package playbook

import "github.com/provision-tool/provision/diag"

// Pos is a position in a playbook file.
type Pos = diag.Pos

// Error is one problem at one position.
type Error = diag.Error

// Errors is a list of problems, sorted by position when returned by this
// package.
type Errors = diag.Errors

// Suggest returns ` (did you mean "x"?)` when one of candidates is close to
// word, or "".
func Suggest(word string, candidates []string) string { return diag.Suggest(word, candidates) }
