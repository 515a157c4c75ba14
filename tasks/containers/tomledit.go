package containers

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
)

// This file is a small TOML-aware line editor: it sets or removes single
// string keys of a TOML document in place and keeps every other byte,
// comments included. It understands enough TOML to know where statements
// start and end (strings, multi-line strings and arrays, inline tables,
// comments, table headers, dotted and quoted keys); callers decode the
// result with a real TOML parser to prove the edit.

type stmtKind int

const (
	stmtTrivia stmtKind = iota // blank line or comment
	stmtHeader                 // [table] or [[array.table]]
	stmtKeyVal                 // key = value, possibly over several lines
)

// stmt is one statement of a TOML document, as a byte range of the text.
type stmt struct {
	kind       stmtKind
	start, end int      // text[start:end] is the statement with its newline
	table      []string // header: the table it opens; keyval: the table it is in
	array      bool     // header: [[...]]; keyval: inside an array of tables
	key        []string // keyval: the (dotted) key
	keyText    string   // keyval: the key as written
	indent     string   // keyval: leading blanks
	comment    string   // keyval on one line: its trailing comment, with the blanks before it
	multiLine  bool     // keyval: the value spans lines
	valStart   int      // keyval: offset of the value
}

func (s stmt) path() []string {
	return append(append([]string(nil), s.table...), s.key...)
}

func samePath(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func hasPathPrefix(p, prefix []string) bool {
	return len(p) >= len(prefix) && samePath(p[:len(prefix)], prefix)
}

// parseStmts splits a TOML document into statements. It assumes the text
// is valid TOML (callers decode it first) and reports what it cannot
// follow.
func parseStmts(text string) ([]stmt, error) {
	if err := checkUTF8Text(text); err != nil {
		return nil, err
	}
	var out []stmt
	var table []string
	inArray := false
	line := 1
	for pos := 0; pos < len(text); {
		lineEnd := strings.IndexByte(text[pos:], '\n')
		if lineEnd < 0 {
			lineEnd = len(text)
		} else {
			lineEnd += pos
		}
		next := min(lineEnd+1, len(text))
		l := text[pos:lineEnd]
		t := strings.TrimLeft(l, " \t")
		indent := l[:len(l)-len(t)]
		switch {
		case strings.TrimRight(t, "\r") == "" || t[0] == '#':
			out = append(out, stmt{kind: stmtTrivia, start: pos, end: next})
		case t[0] == '[':
			i := pos + len(indent) + 1
			array := i < len(text) && text[i] == '['
			if array {
				i++
			}
			parts, j, err := parseKey(text, i)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			j = skipBlanks(text, j)
			closing := "]"
			if array {
				closing = "]]"
			}
			if !strings.HasPrefix(text[j:], closing) {
				return nil, fmt.Errorf("line %d: bad table header", line)
			}
			rest := strings.TrimSpace(text[j+len(closing) : lineEnd])
			if rest != "" && rest[0] != '#' {
				return nil, fmt.Errorf("line %d: text after table header", line)
			}
			table, inArray = parts, array
			out = append(out, stmt{kind: stmtHeader, start: pos, end: next, table: parts, array: array})
		default:
			kstart := pos + len(indent)
			parts, j, err := parseKey(text, kstart)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			keyText := strings.TrimRight(text[kstart:j], " \t")
			j = skipBlanks(text, j)
			if j >= len(text) || text[j] != '=' {
				return nil, fmt.Errorf("line %d: expected '=' after key", line)
			}
			end, comment, err := scanValue(text, j+1)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			s := stmt{kind: stmtKeyVal, start: pos, end: end, table: table, array: inArray,
				key: parts, keyText: keyText, indent: indent, valStart: skipBlanks(text, j+1)}
			body := strings.TrimSuffix(text[pos:end], "\n")
			s.multiLine = strings.Contains(body, "\n")
			if !s.multiLine && comment >= 0 {
				for comment > j+1 && (text[comment-1] == ' ' || text[comment-1] == '\t') {
					comment-- // keep the blanks before the comment too
				}
				s.comment = strings.TrimRight(text[comment:pos+len(body)], "\r")
			}
			out = append(out, s)
			next = end
		}
		line += strings.Count(text[pos:next], "\n")
		pos = next
	}
	return out, nil
}

func skipBlanks(text string, i int) int {
	for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
		i++
	}
	return i
}

func isBare(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// parseKey reads a dotted key starting at i and returns its parts and the
// offset just after it.
func parseKey(text string, i int) ([]string, int, error) {
	var parts []string
	for {
		i = skipBlanks(text, i)
		if i >= len(text) {
			return nil, i, fmt.Errorf("unexpected end of key")
		}
		switch c := text[i]; {
		case c == '"':
			j := i + 1
			for j < len(text) && text[j] != '"' && text[j] != '\n' {
				if text[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(text) || text[j] != '"' {
				return nil, i, fmt.Errorf("unterminated quoted key")
			}
			var v struct{ K string }
			if _, err := toml.Decode("K = "+text[i:j+1], &v); err != nil {
				return nil, i, fmt.Errorf("bad quoted key: %w", err)
			}
			parts = append(parts, v.K)
			i = j + 1
		case c == '\'':
			j := strings.IndexAny(text[i+1:], "'\n")
			if j < 0 || text[i+1+j] != '\'' {
				return nil, i, fmt.Errorf("unterminated quoted key")
			}
			parts = append(parts, text[i+1:i+1+j])
			i += j + 2
		case isBare(c):
			j := i
			for j < len(text) && isBare(text[j]) {
				j++
			}
			parts = append(parts, text[i:j])
			i = j
		default:
			return nil, i, fmt.Errorf("unexpected %q in key", c)
		}
		j := skipBlanks(text, i)
		if j < len(text) && text[j] == '.' {
			i = j + 1
			continue
		}
		return parts, i, nil
	}
}

// scanValue finds the end of the value that starts at i: the offset after
// the newline that ends the statement, and where a trailing comment on
// its last line starts (-1 when none).
func scanValue(text string, i int) (end, comment int, err error) {
	depth := 0
	comment = -1
	for i < len(text) {
		c := text[i]
		switch {
		case strings.HasPrefix(text[i:], `"""`):
			j := i + 3
			for {
				if j >= len(text) {
					return 0, 0, fmt.Errorf("unterminated multi-line string")
				}
				if text[j] == '\\' {
					j += 2
					continue
				}
				if strings.HasPrefix(text[j:], `"""`) {
					j += 3
					for j < len(text) && text[j] == '"' {
						j++
					}
					break
				}
				j++
			}
			i = j
		case strings.HasPrefix(text[i:], `'''`):
			k := strings.Index(text[i+3:], `'''`)
			if k < 0 {
				return 0, 0, fmt.Errorf("unterminated multi-line literal string")
			}
			i += 3 + k + 3
			for i < len(text) && text[i] == '\'' {
				i++
			}
		case c == '"':
			j := i + 1
			for j < len(text) && text[j] != '"' {
				if text[j] == '\n' {
					return 0, 0, fmt.Errorf("unterminated string")
				}
				if text[j] == '\\' {
					j++
				}
				j++
			}
			i = j + 1
		case c == '\'':
			k := strings.IndexAny(text[i+1:], "'\n")
			if k < 0 || text[i+1+k] != '\'' {
				return 0, 0, fmt.Errorf("unterminated literal string")
			}
			i += k + 2
		case c == '[' || c == '{':
			depth++
			i++
		case c == ']' || c == '}':
			depth--
			i++
		case c == '#':
			comment = i
			nl := strings.IndexByte(text[i:], '\n')
			if nl < 0 {
				return len(text), comment, nil
			}
			i += nl
		case c == '\n':
			if depth <= 0 {
				return i + 1, comment, nil
			}
			comment = -1
			i++
		default:
			i++
		}
	}
	return len(text), comment, nil
}

var bareKeyRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func joinKey(parts []string) string {
	out := make([]string, len(parts))
	for i, p := range parts {
		if bareKeyRe.MatchString(p) {
			out[i] = p
		} else {
			out[i] = tomlQuote(p)
		}
	}
	return strings.Join(out, ".")
}

// tomlQuote renders s as a TOML basic string.
func tomlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// lineEnding returns the newline a statement ends with ("" at the end of a
// file without one).
func lineEnding(text string, s stmt) string {
	body := text[s.start:s.end]
	switch {
	case strings.HasSuffix(body, "\r\n"):
		return "\r\n"
	case strings.HasSuffix(body, "\n"):
		return "\n"
	}
	return ""
}

// setTOMLString makes path (a table path plus key) hold the string value,
// editing the text in place: an existing key is rewritten on its line
// (keeping indentation and a trailing comment), a missing key is added to
// its table (after a commented-out example of it, or after the table's
// last key), and a missing table is appended at the end of the file.
func setTOMLString(text string, path []string, value string) (string, error) {
	out, err := editTOMLString(text, path, value)
	if err != nil {
		return "", err
	}
	return out, verifyEdit(text, out, path, &value)
}

// verifyEdit is the editor's own proof: when the file was valid TOML, the
// edited text must be too, with path holding want (nil: absent). A key
// that clashes with a table of the same name ends here, with an error
// instead of a file podman cannot read.
func verifyEdit(before, after string, path []string, want *string) error {
	var doc map[string]any
	if _, err := toml.Decode(before, &doc); err != nil {
		return nil // the caller reports the file's own problem
	}
	doc = nil
	key := joinKey(path)
	if _, err := toml.Decode(after, &doc); err != nil {
		return fmt.Errorf("cannot change %s here without breaking the file: %v", key, err)
	}
	got, ok := lookupTOML(doc, path)
	switch {
	case want == nil && ok:
		return fmt.Errorf("cannot remove %s here: it is still set", key)
	case want != nil && (!ok || got != *want):
		return fmt.Errorf("cannot set %s here: another definition of it wins", key)
	}
	return nil
}

func editTOMLString(text string, path []string, value string) (string, error) {
	if err := checkUTF8("value", value); err != nil {
		return "", err
	}
	if err := checkKeyPath(path); err != nil {
		return "", err
	}
	stmts, err := parseStmts(text)
	if err != nil {
		return "", err
	}
	for _, s := range stmts {
		if s.kind == stmtKeyVal && !s.array && samePath(s.path(), path) {
			line := s.indent + s.keyText + " = " + tomlQuote(value)
			line += s.comment
			nl := lineEnding(text, s)
			if nl == "" {
				nl = "\n"
			}
			return text[:s.start] + line + nl + text[s.end:], nil
		}
	}
	if s, ok := inlineOwner(text, stmts, path); ok {
		return setInline(text, s.valStart, path[len(s.path()):], value)
	}
	table, key := path[:len(path)-1], path[len(path)-1]
	eol := "\n"
	if strings.Contains(text, "\r\n") {
		eol = "\r\n"
	}
	newLine := joinKey([]string{key}) + " = " + tomlQuote(value) + eol
	if len(table) == 0 {
		return insertLine(text, topLevelEnd(stmts), newLine), nil
	}
	example := regexp.MustCompile(`^[ \t]*#[ \t]*` + regexp.QuoteMeta(key) + `[ \t]*=`)
	for i, h := range stmts {
		if h.kind != stmtHeader || h.array || !samePath(h.table, table) {
			continue
		}
		at, exampleAt := h.end, -1
		for _, s := range stmts[i+1:] {
			if s.kind == stmtHeader {
				break
			}
			if s.kind == stmtKeyVal {
				at = s.end
			}
			if s.kind == stmtTrivia && exampleAt < 0 && example.MatchString(text[s.start:s.end]) {
				exampleAt = s.end
			}
		}
		if exampleAt >= 0 {
			at = exampleAt
		}
		return insertLine(text, at, newLine), nil
	}
	// The table may exist only through dotted keys of a parent table
	// ([storage] options.overlay.mountopt = ...): add a sibling there, since
	// a [table] header for it would be a redefinition.
	for _, s := range stmts {
		if s.kind == stmtKeyVal && !s.array && len(s.table) < len(table) &&
			hasPathPrefix(table, s.table) && hasPathPrefix(s.path(), table) {
			rel := path[len(s.table):]
			return insertLine(text, s.end, s.indent+joinKey(rel)+" = "+tomlQuote(value)+eol), nil
		}
	}
	var b strings.Builder
	b.WriteString(text)
	if text != "" && !strings.HasSuffix(text, "\n") {
		b.WriteString(eol)
	}
	if text != "" && !strings.HasSuffix(text, "\n\n") && !strings.HasSuffix(text, "\n\r\n") {
		b.WriteString(eol)
	}
	b.WriteString("[" + joinKey(table) + "]" + eol + newLine)
	return b.String(), nil
}

// checkKeyPath refuses a key path TOML cannot hold: no key, or a key that
// is not UTF-8.
func checkKeyPath(path []string) error {
	if len(path) == 0 {
		return fmt.Errorf("no key to set")
	}
	for _, k := range path {
		if err := checkUTF8("key", k); err != nil {
			return err
		}
	}
	return nil
}

// topLevelEnd is where a new top-level key goes: after the last key
// before the first table header (a key after a header belongs to that
// table), or at the start of the file when there is none.
func topLevelEnd(stmts []stmt) int {
	at := 0
	for _, s := range stmts {
		if s.kind == stmtHeader {
			break
		}
		if s.kind == stmtKeyVal {
			at = s.end
		}
	}
	return at
}

// insertLine inserts a line at offset at, which is the end of a previous
// statement; it adds the newline that statement may lack at the end of
// the file.
func insertLine(text string, at int, line string) string {
	if at > 0 && text[at-1] != '\n' {
		line = line[len(strings.TrimRight(line, "\r\n")):] + strings.TrimRight(line, "\r\n")
	}
	return text[:at] + line + text[at:]
}

// removeTOMLKey deletes every statement that sets path, with its lines.
func removeTOMLKey(text string, path []string) (string, error) {
	out, err := removeTOMLKeyText(text, path)
	if err != nil {
		return "", err
	}
	return out, verifyEdit(text, out, path, nil)
}

func removeTOMLKeyText(text string, path []string) (string, error) {
	if err := checkKeyPath(path); err != nil {
		return "", err
	}
	stmts, err := parseStmts(text)
	if err != nil {
		return "", err
	}
	for i := len(stmts) - 1; i >= 0; i-- {
		s := stmts[i]
		if s.kind != stmtKeyVal || s.array {
			continue
		}
		switch p := s.path(); {
		case samePath(p, path):
			text = text[:s.start] + text[s.end:]
		case len(p) < len(path) && hasPathPrefix(path, p) && isInline(text, s.valStart):
			if text, err = removeInline(text, s.valStart, path[len(p):]); err != nil {
				return "", err
			}
		}
	}
	return text, nil
}

// lookupTOML returns the value at path in a decoded document.
func lookupTOML(doc map[string]any, path []string) (any, bool) {
	var cur any = doc
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// deleteTOML removes path from a decoded document.
func deleteTOML(doc map[string]any, path []string) {
	m := doc
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	delete(m, path[len(path)-1])
}

// pruneEmpty removes tables left empty, recursively.
func pruneEmpty(m map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			pruneEmpty(sub)
			if len(sub) == 0 {
				delete(m, k)
			}
		}
	}
}
