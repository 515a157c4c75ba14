package containers

import (
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/provision-tool/provision/tasks"
)

// Inline tables ({k = v, ...}) cannot be extended by later statements or
// [table] headers, so a key under one is set or removed inside its braces.

// inlineEntry is one key = value of an inline table, as offsets.
type inlineEntry struct {
	key              []string
	start            int // the key
	valStart, valEnd int // the value, without blanks around it
	next             int // after the comma that follows, or at the '}'
}

func isInline(text string, at int) bool { return at < len(text) && text[at] == '{' }

// inlineOwner finds the statement whose inline-table value holds path.
func inlineOwner(text string, stmts []stmt, path []string) (stmt, bool) {
	for _, s := range stmts {
		if s.kind != stmtKeyVal || s.array {
			continue
		}
		if p := s.path(); len(p) < len(path) && hasPathPrefix(path, p) && isInline(text, s.valStart) {
			return s, true
		}
	}
	return stmt{}, false
}

// parseInline reads the inline table whose '{' is at open and returns its
// entries and the offset of its '}'.
func parseInline(text string, open int) ([]inlineEntry, int, error) {
	var out []inlineEntry
	i := open + 1
	for {
		i = skipSpace(text, i)
		if i >= len(text) {
			return nil, 0, fmt.Errorf("unterminated inline table")
		}
		if text[i] == '}' {
			return out, i, nil
		}
		parts, j, err := parseKey(text, i)
		if err != nil {
			return nil, 0, err
		}
		j = skipBlanks(text, j)
		if j >= len(text) || text[j] != '=' {
			return nil, 0, fmt.Errorf("expected '=' after key in inline table")
		}
		e := inlineEntry{key: parts, start: i, valStart: skipBlanks(text, j+1)}
		end, err := scanInlineValue(text, e.valStart)
		if err != nil {
			return nil, 0, err
		}
		e.valEnd = e.valStart + len(strings.TrimRight(text[e.valStart:end], " \t\r\n"))
		k := skipSpace(text, end)
		if k < len(text) && text[k] == ',' {
			k++
		}
		e.next = k
		out = append(out, e)
		i = k
	}
}

// skipSpace skips blanks, newlines and comments (TOML 1.1 allows them in
// inline tables).
func skipSpace(text string, i int) int {
	for i < len(text) {
		switch text[i] {
		case ' ', '\t', '\r', '\n':
			i++
		case '#':
			nl := strings.IndexByte(text[i:], '\n')
			if nl < 0 {
				return len(text)
			}
			i += nl
		default:
			return i
		}
	}
	return i
}

// scanInlineValue returns the offset of the ',' or '}' that ends the value
// starting at i.
func scanInlineValue(text string, i int) (int, error) {
	depth := 0
	for i < len(text) {
		switch c := text[i]; {
		case c == '"' || c == '\'':
			j, err := skipString(text, i)
			if err != nil {
				return 0, err
			}
			i = j
			continue
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			if depth == 0 {
				return i, nil
			}
			depth--
		case c == ',' && depth == 0:
			return i, nil
		case c == '#':
			i = skipSpace(text, i) - 1
		}
		i++
	}
	return 0, fmt.Errorf("unterminated inline table")
}

// skipString returns the offset after the string starting at i.
func skipString(text string, i int) (int, error) {
	for _, q := range []string{`"""`, `'''`} {
		if strings.HasPrefix(text[i:], q) {
			j := i + 3
			for ; j < len(text); j++ {
				if q[0] == '"' && text[j] == '\\' {
					j++
					continue
				}
				if strings.HasPrefix(text[j:], q) {
					j += 3
					for j < len(text) && text[j] == q[0] {
						j++
					}
					return j, nil
				}
			}
			return 0, fmt.Errorf("unterminated multi-line string")
		}
	}
	q := text[i]
	for j := i + 1; j < len(text) && text[j] != '\n'; j++ {
		if q == '"' && text[j] == '\\' {
			j++
			continue
		}
		if text[j] == q {
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string")
}

// setInline sets rel to value inside the inline table at open.
func setInline(text string, open int, rel []string, value string) (string, error) {
	entries, closing, err := parseInline(text, open)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		switch {
		case samePath(e.key, rel):
			return text[:e.valStart] + tomlQuote(value) + text[e.valEnd:], nil
		case len(e.key) < len(rel) && hasPathPrefix(rel, e.key) && isInline(text, e.valStart):
			return setInline(text, e.valStart, rel[len(e.key):], value)
		}
	}
	entry := joinKey(rel) + " = " + tomlQuote(value)
	if len(entries) == 0 {
		return text[:open+1] + entry + text[closing:], nil
	}
	last := entries[len(entries)-1].valEnd
	return text[:last] + ", " + entry + text[last:], nil
}

// removeInline removes rel from the inline table at open, with its comma.
func removeInline(text string, open int, rel []string) (string, error) {
	entries, _, err := parseInline(text, open)
	if err != nil {
		return "", err
	}
	for i, e := range entries {
		switch {
		case samePath(e.key, rel) && i+1 < len(entries):
			return text[:e.start] + text[entries[i+1].start:], nil
		case samePath(e.key, rel) && i > 0:
			return text[:entries[i-1].valEnd] + text[e.valEnd:], nil
		case samePath(e.key, rel):
			return text[:e.start] + text[e.next:], nil
		case len(e.key) < len(rel) && hasPathPrefix(rel, e.key) && isInline(text, e.valStart):
			return removeInline(text, e.valStart, rel[len(e.key):])
		}
	}
	return text, nil
}

// checkUTF8 returns an input error naming arg and the byte offset where s
// stops being valid UTF-8, which no TOML file may contain.
func checkUTF8(arg, s string) error {
	if utf8.ValidString(s) {
		return nil
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return tasks.BadArg(arg, fmt.Sprintf("not valid UTF-8: byte 0x%02x at offset %d", s[i], i))
		}
		i += n
	}
	return nil
}

// checkUTF8Text returns an error with line and column where text stops
// being valid UTF-8.
func checkUTF8Text(text string) error {
	if utf8.ValidString(text) {
		return nil
	}
	line, col := 1, 1
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		if r == utf8.RuneError && n <= 1 {
			return fmt.Errorf("line %d, column %d: invalid UTF-8 byte 0x%02x", line, col, text[i])
		}
		if r == '\n' {
			line, col = line+1, 0
		}
		col++
		i += n
	}
	return nil
}

// checkUTF8Args checks every string argument of a task (fields with a yaml
// tag, through pointers, slices, maps and structs) for valid UTF-8, so
// that bad bytes are an input error naming the argument, not a TOML file
// that fails to parse.
func checkUTF8Args(task any) error {
	return utf8Value("", reflect.ValueOf(task))
}

func utf8Value(name string, v reflect.Value) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return utf8Value(name, v.Elem())
	case reflect.String:
		return checkUTF8(name, v.String())
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if err := utf8Value(fmt.Sprintf("%s[%d]", name, i), v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if err := utf8Value(name, it.Key()); err != nil {
				return err
			}
			if err := utf8Value(name+"."+fmt.Sprint(it.Key()), it.Value()); err != nil {
				return err
			}
		}
	case reflect.Struct:
		return utf8Struct(name, v)
	}
	return nil
}

func utf8Struct(name string, v reflect.Value) error {
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		arg := tasks.ArgName(f)
		if arg == "" {
			continue
		}
		if name != "" {
			arg = name + "." + arg
		}
		if err := utf8Value(arg, v.Field(i)); err != nil {
			return err
		}
	}
	return nil
}
