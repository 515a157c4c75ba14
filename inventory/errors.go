package inventory

import "github.com/provision-tool/provision/diag"

// Pos is a position in an inventory or vars file. A zero Line means the
// whole file.
type Pos = diag.Pos

// Error is one problem at one position: "file:line:col: message".
type Error = diag.Error

// Errors is a list of problems, sorted by position when returned by this
// package. Warnings use the same type.
type Errors = diag.Errors

func suggest(word string, candidates []string) string { return diag.Suggest(word, candidates) }
