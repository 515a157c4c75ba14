package command

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// splitWords splits a command line into words the way a POSIX shell does,
// but without any expansion: whitespace separates words; single quotes keep
// everything literally; double quotes keep everything but \" \\ \$ \` and
// backslash-newline; a backslash outside quotes keeps the next character
// literally (and joins lines before a newline).
//
// The command then runs without a shell, so anything a shell would have
// treated specially (|, &, ;, <, >, (, ), $ and backquotes, a # that starts
// a word) is refused rather than passed on silently as a literal argument.
// Glob characters (* ? [) and ~ are passed literally, as Ansible's command
// module does.
func splitWords(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			if i+1 == len(s) {
				return nil, errors.New("trailing backslash")
			}
			i++
			if s[i] == '\n' {
				continue
			}
			cur.WriteByte(s[i])
			inWord = true
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			inWord = true
			for i++; ; i++ {
				if i >= len(s) {
					return nil, errors.New("unterminated double quote")
				}
				c := s[i]
				if c == '"' {
					break
				}
				if c == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					i++
					if s[i] != '\n' {
						cur.WriteByte(s[i])
					}
					continue
				}
				if c == '$' || c == '`' {
					return nil, expansionError(s, i)
				}
				cur.WriteByte(c)
			}
		case c == '$' || c == '`':
			return nil, expansionError(s, i)
		case strings.IndexByte("|&;<>()", c) >= 0:
			return nil, fmt.Errorf("unquoted %q is shell syntax, and commands run without a shell: use the shell module, or quote it", operatorAt(s, i))
		case c == '#' && !inWord:
			return nil, errors.New("unquoted # would start a comment in a shell: remove the comment, or quote the #")
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// operatorAt returns the shell operator starting at s[i] ("&&", ">>", "|").
func operatorAt(s string, i int) string {
	for _, op := range []string{"&&", "||", ">>", "<<", "&>", "|&"} {
		if strings.HasPrefix(s[i:], op) {
			return op
		}
	}
	return s[i : i+1]
}

func expansionError(s string, i int) error {
	what := s[i : i+1]
	if strings.HasPrefix(s[i:], "$(") {
		what = "$("
	}
	return fmt.Errorf("%q would be expanded by a shell, and commands run without one: use the shell module, or put it in single quotes to pass it literally", what)
}

var plainWord = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// quoteArgv renders argv as one line a shell would split back into the
// same words: plain words as they are, others in single quotes.
func quoteArgv(argv []string) string {
	out := make([]string, len(argv))
	for i, w := range argv {
		if plainWord.MatchString(w) {
			out[i] = w
		} else {
			out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
