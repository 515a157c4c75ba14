package inventory

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// parseINIValue gives an INI value the type Ansible gives it: Ansible runs
// Python's ast.literal_eval on it and keeps the text unchanged when that
// fails. So 22 is a number, 'x' and "x" are the string x, True, False and
// None are a boolean and null, [1, 2], (1, 2) and {'a': 1} are a list, a list
// and a mapping, and anything else (web, true, 0644, a b) stays the text it
// is. Note that lower-case true and false stay strings, as in Ansible.
func parseINIValue(s string) any {
	p := &pyParser{s: strings.TrimLeft(s, " \t")}
	v, ok := p.expr()
	if !ok {
		return s
	}
	p.space()
	if p.i != len(p.s) {
		return s
	}
	return v
}

type pyParser struct {
	s string
	i int
}

// space skips blanks and a trailing # comment, which ends the input.
func (p *pyParser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\f':
			p.i++
		case '#':
			p.i = len(p.s)
		default:
			return
		}
	}
}

func (p *pyParser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// expr is a value or a bare tuple "1, 2" (a list here).
func (p *pyParser) expr() (any, bool) {
	v, ok := p.value()
	if !ok {
		return nil, false
	}
	if p.peek() != ',' {
		return v, true
	}
	list := []any{v}
	for p.peek() == ',' {
		p.i++
		if c := p.peek(); c == 0 {
			break
		}
		w, ok := p.value()
		if !ok {
			return nil, false
		}
		list = append(list, w)
	}
	return list, true
}

func (p *pyParser) value() (any, bool) {
	c := p.peek()
	switch {
	case c == 0:
		return nil, false
	case c == '[':
		p.i++
		return p.seq(']')
	case c == '(':
		p.i++
		// (x) is x; (x,) and () are tuples.
		if p.peek() == ')' {
			p.i++
			return []any{}, true
		}
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		switch p.peek() {
		case ')':
			p.i++
			return v, true
		case ',':
			p.i++
			rest, ok := p.seq(')')
			if !ok {
				return nil, false
			}
			return append([]any{v}, rest.([]any)...), true
		}
		return nil, false
	case c == '{':
		p.i++
		return p.dictOrSet()
	case c == '+' || c == '-':
		p.i++
		if c2 := p.peek(); !(c2 >= '0' && c2 <= '9' || c2 == '.') {
			return nil, false
		}
		n, ok := p.number()
		if !ok {
			return nil, false
		}
		if c == '-' {
			switch x := n.(type) {
			case int:
				return -x, true
			case float64:
				return -x, true
			}
		}
		return n, true
	case c >= '0' && c <= '9':
		return p.number()
	case c == '.':
		if strings.HasPrefix(p.s[p.i:], "...") {
			p.i += 3
			return "...", true
		}
		return p.number()
	case c == '\'' || c == '"':
		return p.stringLits()
	case isIdentStart(c):
		start := p.i
		for p.i < len(p.s) && isIdentChar(p.s[p.i]) {
			p.i++
		}
		word := p.s[start:p.i]
		if p.i < len(p.s) && (p.s[p.i] == '\'' || p.s[p.i] == '"') && isStringPrefix(word) {
			p.i = start
			return p.stringLits()
		}
		switch word {
		case "True":
			return true, true
		case "False":
			return false, true
		case "None":
			return nil, true
		}
	}
	return nil, false
}

// seq parses "a, b, c]" (the opening bracket consumed) into a list.
func (p *pyParser) seq(closer byte) (any, bool) {
	list := []any{}
	for {
		if p.peek() == closer {
			p.i++
			return list, true
		}
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		list = append(list, v)
		switch p.peek() {
		case ',':
			p.i++
		case closer:
		default:
			return nil, false
		}
	}
}

func (p *pyParser) dictOrSet() (any, bool) {
	if p.peek() == '}' {
		p.i++
		return map[string]any{}, true
	}
	first, ok := p.value()
	if !ok {
		return nil, false
	}
	if p.peek() != ':' {
		// A set: a list here, without duplicates, in written order.
		list := []any{first}
		seen := map[string]bool{pyKey(first): true}
		for p.peek() == ',' {
			p.i++
			if p.peek() == '}' {
				break
			}
			v, ok := p.value()
			if !ok {
				return nil, false
			}
			if k := pyKey(v); !seen[k] {
				seen[k] = true
				list = append(list, v)
			}
		}
		if p.peek() != '}' {
			return nil, false
		}
		p.i++
		return list, true
	}
	m := map[string]any{}
	key := first
	for {
		if p.peek() != ':' {
			return nil, false
		}
		p.i++
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		if _, isList := key.([]any); isList {
			return nil, false // lists are unhashable
		}
		m[pyKey(key)] = v
		switch p.peek() {
		case ',':
			p.i++
			if p.peek() == '}' {
				p.i++
				return m, true
			}
			if key, ok = p.value(); !ok {
				return nil, false
			}
		case '}':
			p.i++
			return m, true
		default:
			return nil, false
		}
	}
}

// pyKey renders a mapping key as Python's str() would.
func pyKey(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

var (
	pyDecimal = regexp.MustCompile(`^(?:[1-9](?:_?[0-9])*|0(?:_?0)*)$`)
	pyHex     = regexp.MustCompile(`^0[xX](?:_?[0-9a-fA-F])+$`)
	pyOct     = regexp.MustCompile(`^0[oO](?:_?[0-7])+$`)
	pyBin     = regexp.MustCompile(`^0[bB](?:_?[01])+$`)
	pyFloat   = regexp.MustCompile(`^(?:(?:[0-9](?:_?[0-9])*)?\.[0-9](?:_?[0-9])*|[0-9](?:_?[0-9])*\.?)(?:[eE][+-]?[0-9](?:_?[0-9])*)?$`)
)

func (p *pyParser) number() (any, bool) {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if isIdentChar(c) || c == '.' {
			p.i++
			continue
		}
		if (c == '+' || c == '-') && (p.s[p.i-1] == 'e' || p.s[p.i-1] == 'E') && !strings.ContainsAny(p.s[start:p.i], "xX") {
			p.i++
			continue
		}
		break
	}
	tok := p.s[start:p.i]
	clean := strings.ReplaceAll(tok, "_", "")
	var base int
	switch {
	case pyDecimal.MatchString(tok):
		base = 10
	case pyHex.MatchString(tok):
		base, clean = 16, clean[2:]
	case pyOct.MatchString(tok):
		base, clean = 8, clean[2:]
	case pyBin.MatchString(tok):
		base, clean = 2, clean[2:]
	case pyFloat.MatchString(tok) && strings.ContainsAny(tok, ".eE"):
		f, err := strconv.ParseFloat(clean, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, false
		}
		return f, true
	default:
		return nil, false // 0644, 1.2.3, 10abc, 1j: not a Python number we keep
	}
	n, err := strconv.ParseInt(clean, base, 64)
	if err != nil {
		return nil, false // beyond int64: keep the text
	}
	return int(n), true
}

// stringLits parses one or more adjacent string literals ('a' "b" is "ab").
func (p *pyParser) stringLits() (any, bool) {
	var b strings.Builder
	n, bytesLit := 0, false
	for {
		p.space()
		start := p.i
		for p.i < len(p.s) && isIdentChar(p.s[p.i]) {
			p.i++
		}
		prefix := strings.ToLower(p.s[start:p.i])
		if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') || !isStringPrefix(prefix) {
			p.i = start
			break
		}
		if strings.Contains(prefix, "f") {
			return nil, false // f-strings are not literals
		}
		isBytes := strings.Contains(prefix, "b")
		if n > 0 && isBytes != bytesLit {
			return nil, false // cannot mix bytes and str
		}
		bytesLit = isBytes
		s, ok := p.quoted(strings.Contains(prefix, "r"), isBytes)
		if !ok {
			return nil, false
		}
		b.WriteString(s)
		n++
	}
	if n == 0 {
		return nil, false
	}
	return b.String(), true
}

func isStringPrefix(w string) bool {
	switch strings.ToLower(w) {
	case "", "r", "u", "b", "br", "rb", "f", "fr", "rf":
		return true
	}
	return false
}

// quoted reads one quoted literal at p.i, single or triple quoted.
func (p *pyParser) quoted(raw, isBytes bool) (string, bool) {
	q := p.s[p.i : p.i+1]
	if strings.HasPrefix(p.s[p.i:], q+q+q) {
		q = q + q + q
	}
	p.i += len(q)
	var b strings.Builder
	for {
		if p.i >= len(p.s) {
			return "", false
		}
		if strings.HasPrefix(p.s[p.i:], q) {
			p.i += len(q)
			return b.String(), true
		}
		c := p.s[p.i]
		if c == '\n' && len(q) == 1 {
			return "", false
		}
		if c != '\\' {
			r, size := utf8.DecodeRuneInString(p.s[p.i:])
			b.WriteRune(r)
			p.i += size
			continue
		}
		if p.i+1 >= len(p.s) {
			return "", false
		}
		if raw {
			// A raw string keeps the backslash, and \' does not end it.
			b.WriteByte('\\')
			b.WriteByte(p.s[p.i+1])
			p.i += 2
			continue
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case '\\', '\'', '"':
			b.WriteByte(e)
		case '\n':
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := p.i - 1
			for j < len(p.s) && j < p.i+2 && p.s[j] >= '0' && p.s[j] <= '7' {
				j++
			}
			n, _ := strconv.ParseUint(p.s[p.i-1:j], 8, 32)
			p.i = j
			if isBytes {
				b.WriteByte(byte(n))
			} else {
				b.WriteRune(rune(n))
			}
		case 'x', 'u', 'U':
			size := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if isBytes && e != 'x' {
				b.WriteByte('\\')
				b.WriteByte(e)
				continue
			}
			if p.i+size > len(p.s) {
				return "", false
			}
			n, err := strconv.ParseUint(p.s[p.i:p.i+size], 16, 32)
			if err != nil || n > utf8.MaxRune {
				return "", false
			}
			p.i += size
			if isBytes {
				b.WriteByte(byte(n))
			} else {
				b.WriteRune(rune(n))
			}
		case 'N':
			return "", false // \N{name} is not worth a name table here
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
