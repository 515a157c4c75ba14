package main

import (
	"errors"
	"fmt"
	"strings"
)

// splitKV splits -e key=value pairs as Ansible's split_args does: on
// blanks outside quotes and outside {{ }} and {% %} blocks; quotes group
// and are removed.
func splitKV(s string) ([]string, error) { return splitWords(s, true) }

// splitArgs splits a command line the way a shell would, without running
// one: quotes and backslashes group words.
func splitArgs(s string) ([]string, error) {
	words, err := splitWords(s, false)
	if err != nil {
		return nil, fmt.Errorf("%v in %q", err, s)
	}
	return words, nil
}

var errUnterminated = errors.New("unterminated quote")

// splitWords splits s into words as a shell would, without running one:
// blanks separate words, quotes group and are removed, and a backslash
// (outside single quotes) takes the next character as it is. With
// templates, as Ansible's split_args: {{ }} and {% %} blocks stay whole,
// blanks and all, and a backslash at the end is itself; without, it is
// an error.
func splitWords(s string, templates bool) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, depth := false, 0
	var quote rune
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case templates && quote == 0 && i+1 < len(rs) && r == '{' && (rs[i+1] == '{' || rs[i+1] == '%'):
			depth++
			cur.WriteString(string(rs[i : i+2]))
			i, inWord = i+1, true
		case templates && quote == 0 && depth > 0 && i+1 < len(rs) && (r == '}' || r == '%') && rs[i+1] == '}':
			depth--
			cur.WriteString(string(rs[i : i+2]))
			i++
		case r == '\\' && quote != '\'' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			inWord = true
		case r == '\\' && quote != '\'' && !templates:
			return nil, errUnterminated
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case depth == 0 && (r == ' ' || r == '\t' || r == '\n'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errUnterminated
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
