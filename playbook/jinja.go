package playbook

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode"
)

// The Jinja front end: what Ansible users write in expressions is
// rewritten, token by token, into the expr language before compiling.
//
//   - filters `x | f` and `x | f(a)` become calls `f(x)` and `f(x, a)`,
//     binding as tightly as in Jinja (`not x | bool` is `not bool(x)`);
//   - `x is defined`, `x is not defined`, `x is none` and the result
//     tests (changed, failed, succeeded, skipped) become comparisons;
//   - `a ~ b` becomes `string(a) + string(b)`, binding like a filter;
//   - `a if c else b` becomes `(c) ? (a) : (b)` (without else, nil);
//   - `x in y` and `x not in y` become within(x, y): membership in a list
//     or a mapping's keys, and, as in Jinja, a substring of a string;
//   - `True`, `False` and `None` become true, false and nil;
//   - the variable before `| default(...)` or `is defined` is read as
//     `vars.x` (nil when unset), so an undefined one is not an error there.
//
// Unknown filters and tests are errors, found when the playbook is
// validated.

// jinjaFilters maps each supported filter to its expr function.
var jinjaFilters = map[string]string{
	"default": "default", "d": "default", "bool": "bool", "int": "int", "float": "float",
	"string": "string", "lower": "lower", "upper": "upper", "trim": "trim", "join": "join",
	"length": "len", "count": "len", "to_json": "to_json", "from_json": "fromJSON",
	"first": "first", "last": "last", "unique": "uniq", "sort": "sort", "reverse": "reverse",
	"min": "min", "max": "max", "sum": "sum", "abs": "abs", "round": "round", "split": "split",
	"replace": "replace", "keys": "keys", "values": "values",
	// expr's own functions, as playbooks wrote them before (users | filter(# != "root")).
	"filter": "filter", "map": "map", "all": "all", "any": "any", "none": "none", "one": "one",
	"len": "len", "toJSON": "toJSON", "fromJSON": "fromJSON", "uniq": "uniq", "find": "find",
	"findIndex": "findIndex", "groupBy": "groupBy", "sortBy": "sortBy", "flatten": "flatten",
	"concat": "concat", "hasPrefix": "hasPrefix", "hasSuffix": "hasSuffix", "indexOf": "indexOf",
	"trimPrefix": "trimPrefix", "trimSuffix": "trimSuffix", "toBase64": "toBase64",
	"fromBase64": "fromBase64", "b64encode": "toBase64", "b64decode": "fromBase64",
	"ceil": "ceil", "floor": "floor", "mean": "mean", "median": "median", "repeat": "repeat",
}

// jinjaTests maps each supported test to the comparison it becomes; %s
// is the operand.
var jinjaTests = map[string]string{
	"defined": "(%s != nil)", "undefined": "(%s == nil)", "none": "(%s == nil)",
	"changed": "(%s?.changed == true)", "failed": "(%s?.failed == true)",
	"succeeded": "(%s?.failed != true)", "success": "(%s?.failed != true)",
	"skipped": "(%s?.skipped == true)",
}

// rootNames are variables read as they are, not as vars.NAME.
func rootName(s string) bool {
	return s == "vars" || s == "facts" || ansibleFactNames[s]
}

var (
	jinjaMu    sync.RWMutex
	jinjaCache = map[string]jinjaResult{}
)

type jinjaResult struct {
	code string
	err  error
}

// jinja translates an expression from its Jinja form to expr. Results are
// cached: expressions come from playbooks, never from host data.
func jinja(code string) (string, error) {
	jinjaMu.RLock()
	r, ok := jinjaCache[code]
	jinjaMu.RUnlock()
	if ok {
		return r.code, r.err
	}
	out, err := translate(code)
	jinjaMu.Lock()
	if len(jinjaCache) < 10000 {
		jinjaCache[code] = jinjaResult{out, err}
	}
	jinjaMu.Unlock()
	return out, err
}

// tokenize splits code into identifiers, numbers, strings, spaces and
// operators ("||", "??", "?." and "==" style pairs stay whole).
func tokenize(code string) ([]string, error) {
	var toks []string
	for i := 0; i < len(code); {
		c := code[i]
		j := i + 1
		switch {
		case c == '\'' || c == '"' || c == '`':
			for j < len(code) && code[j] != c {
				if code[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(code) {
				return nil, fmt.Errorf("unterminated string in %q", code)
			}
			j++
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			for j < len(code) && strings.IndexByte(" \t\n\r", code[j]) >= 0 {
				j++
			}
		case isIdent(rune(c), true):
			for j < len(code) && isIdent(rune(code[j]), false) {
				j++
			}
		default:
			if j < len(code) && strings.Contains("|| ?? ?. == != <= >= && ..", code[i:j+1]) && !strings.Contains(code[i:j+1], " ") {
				j++
			}
		}
		tok := code[i:j]
		if c == '\'' || c == '"' {
			// Jinja strings may hold line breaks; expr's need escapes.
			tok = rawBreaks.Replace(tok)
		}
		toks = append(toks, tok)
		i = j
	}
	return toks, nil
}

// rawBreaks escapes the line breaks and tabs of a Jinja string literal.
var rawBreaks = strings.NewReplacer("\n", "\\n", "\r", "\\r", "\t", "\\t")

func isIdent(r rune, first bool) bool {
	return r == '_' || r == '$' || unicode.IsLetter(r) || !first && unicode.IsDigit(r) || first && unicode.IsDigit(r)
}

func isName(tok string) bool {
	r := rune(tok[0])
	return r == '_' || unicode.IsLetter(r)
}

func isSpace(tok string) bool { return strings.TrimSpace(tok) == "" }

// translate rewrites one Jinja expression into expr.
func translate(code string) (string, error) {
	toks, err := tokenize(code)
	if err != nil {
		return "", err
	}
	if s, ok, err := inlineIf(toks); ok {
		return s, err
	}
	if toks, err = inOps(toks); err != nil {
		return "", err
	}
	var out []string
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		switch {
		case tok == "(" || tok == "[":
			end := matchClose(toks, i)
			if end < 0 {
				return "", fmt.Errorf("unclosed %s", tok)
			}
			inner, _, err := joinParts(toks[i+1:end], commasOf(toks[i+1:end]))
			if err != nil {
				return "", err
			}
			out, i = append(out, tok, inner, toks[end]), end
		case tok == "|":
			if i, err = filter(toks, i, &out); err != nil {
				return "", err
			}
		case tok == "~":
			if i, err = concat(toks, i, &out); err != nil {
				return "", err
			}
		case tok == "is" && !afterDot(out):
			if i, err = test(toks, i, &out); err != nil {
				return "", err
			}
		case tok == "True" && !afterDot(out):
			out = append(out, "true")
		case tok == "False" && !afterDot(out):
			out = append(out, "false")
		case tok == "None" && !afterDot(out):
			out = append(out, "nil")
		default:
			out = append(out, tok)
		}
	}
	return strings.Join(out, ""), nil
}

func afterDot(out []string) bool {
	return len(out) > 0 && (out[len(out)-1] == "." || out[len(out)-1] == "?.")
}

// next returns the index of the first non-space token from i, or len.
func next(toks []string, i int) int {
	for i < len(toks) && isSpace(toks[i]) {
		i++
	}
	return i
}

// filter rewrites `operand | name(args)` at toks[i] == "|"; it returns the
// index of the filter's last token.
func filter(toks []string, i int, out *[]string) (int, error) {
	j := next(toks, i+1)
	if j >= len(toks) || !isName(toks[j]) {
		return 0, fmt.Errorf("expected a filter name after |")
	}
	name := toks[j]
	fn, ok := jinjaFilters[name]
	if !ok {
		return 0, fmt.Errorf("unknown filter %q%s", name, Suggest(name, filterNames()))
	}
	start := operandStart(*out)
	if start < 0 {
		return 0, fmt.Errorf("filter %s has nothing to filter", name)
	}
	operand := strings.TrimSpace(strings.Join((*out)[start:], ""))
	if fn == "default" {
		operand = lenient((*out)[start:])
	}
	args, end, err := callArgs(toks, j+1)
	if err != nil {
		return 0, err
	}
	if name == "map" {
		args = mapArg(args)
	}
	call := fn + "(" + operand
	if args != "" {
		call += ", " + args
	}
	*out = append((*out)[:start], call+")")
	return end, nil
}

// callArgs reads an optional parenthesised argument list from toks[i];
// it returns the arguments translated, and the index of the last token
// used.
func callArgs(toks []string, i int) (string, int, error) {
	j := next(toks, i)
	if j >= len(toks) || toks[j] != "(" {
		return "", i - 1, nil
	}
	depth := 0
	for k := j; k < len(toks); k++ {
		switch toks[k] {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
		}
		if depth == 0 {
			inner, err := translate(strings.Join(toks[j+1:k], ""))
			return strings.TrimSpace(inner), k, err
		}
	}
	return "", 0, fmt.Errorf("unclosed ( after filter")
}

// test rewrites `operand is [not] name` at toks[i] == "is".
func test(toks []string, i int, out *[]string) (int, error) {
	j := next(toks, i+1)
	negate := false
	if j < len(toks) && toks[j] == "not" {
		negate = true
		j = next(toks, j+1)
	}
	if j >= len(toks) || !isName(toks[j]) {
		return 0, fmt.Errorf("expected a test name after is")
	}
	form, ok := jinjaTests[toks[j]]
	if !ok {
		return 0, fmt.Errorf("unknown test %q%s", toks[j], Suggest(toks[j], testNames()))
	}
	start := operandStart(*out)
	if start < 0 {
		return 0, fmt.Errorf("test %s has nothing to test", toks[j])
	}
	cond := fmt.Sprintf(form, lenient((*out)[start:]))
	if negate {
		cond = "!" + cond
	}
	*out = append((*out)[:start], cond, " ")
	return j, nil
}

// operandStart finds where the operand ending out begins: a name, literal
// or bracketed group, with its .attr, [index] and (call) suffixes.
func operandStart(out []string) int {
	j := len(out) - 1
	for j >= 0 && isSpace(out[j]) {
		j--
	}
	start := -1
	for j >= 0 {
		tok := out[j]
		switch {
		case tok == ")" || tok == "]" || tok == "}":
			j = matchOpen(out, j)
			if j < 0 {
				return -1
			}
			start = j
			if j > 0 && (isName(out[j-1]) || out[j-1] == ")" || out[j-1] == "]") && tok != "}" {
				j--
				continue
			}
			if j > 1 && (out[j-1] == "." || out[j-1] == "?.") {
				j -= 2
				continue
			}
			return start
		case isName(tok) || tok[0] >= '0' && tok[0] <= '9' || strings.ContainsAny(tok[:1], `'"`+"`"):
			start = j
			if j > 1 && (out[j-1] == "." || out[j-1] == "?.") {
				j -= 2
				continue
			}
			return start
		default:
			return start
		}
	}
	return start
}

func matchOpen(out []string, j int) int {
	depth := 0
	for ; j >= 0; j-- {
		switch out[j] {
		case ")", "]", "}":
			depth++
		case "(", "[", "{":
			depth--
		}
		if depth == 0 {
			return j
		}
	}
	return -1
}

// lenient renders a variable path so that a missing variable or key is
// nil rather than an error: `x.y` becomes `vars.x?.y`. Anything other
// than a plain path is kept as it is.
func lenient(toks []string) string {
	var names []string
	for _, t := range toks {
		switch {
		case isSpace(t):
		case t == "." || t == "?.":
		case isName(t) && t != "true" && t != "false" && t != "nil":
			names = append(names, t)
		default:
			return strings.TrimSpace(strings.Join(toks, ""))
		}
	}
	if len(names) == 0 {
		return strings.TrimSpace(strings.Join(toks, ""))
	}
	path := names[0]
	if !rootName(path) {
		path = "vars?." + path
	}
	for _, n := range names[1:] {
		path += "?." + n
	}
	return path
}

func filterNames() []string { return sortedKeys(jinjaFilters) }
func testNames() []string   { return sortedKeys(jinjaTests) }

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// concat rewrites `left ~ right` at toks[i] == "~" into string(left) +
// string(right); it returns the index of right's last token.
func concat(toks []string, i int, out *[]string) (int, error) {
	start := operandStart(*out)
	if start < 0 {
		return 0, fmt.Errorf("~ has nothing on its left")
	}
	left := strings.TrimSpace(strings.Join((*out)[start:], ""))
	j := next(toks, i+1)
	end := primaryEnd(toks, j)
	if end < j {
		return 0, fmt.Errorf("~ has nothing on its right")
	}
	right, err := translate(strings.Join(toks[j:end+1], ""))
	if err != nil {
		return 0, err
	}
	// Separate tokens, so that a filter after right takes right alone.
	*out = append((*out)[:start], "string("+left+")", " + ", "string("+strings.TrimSpace(right)+")")
	return end, nil
}

// primaryEnd returns the index of the last token of the operand that
// starts at toks[j] (a name, literal or bracketed group with its .attr,
// [index] and (call) suffixes), or j-1 when there is none.
func primaryEnd(toks []string, j int) int {
	if j >= len(toks) {
		return j - 1
	}
	var end int
	switch t := toks[j]; {
	case t == "(" || t == "[" || t == "{":
		end = matchClose(toks, j)
	case isName(t) || t[0] >= '0' && t[0] <= '9' || strings.ContainsAny(t[:1], `'"`+"`"):
		end = j
	default:
		return j - 1
	}
	for end >= 0 && end+1 < len(toks) {
		switch toks[end+1] {
		case ".", "?.":
			if end+2 < len(toks) && isName(toks[end+2]) {
				end += 2
				continue
			}
		case "(", "[":
			end = matchClose(toks, end+1)
			continue
		}
		break
	}
	return end
}

func matchClose(toks []string, j int) int {
	depth := 0
	for k := j; k < len(toks); k++ {
		switch toks[k] {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
		}
		if depth == 0 {
			return k
		}
	}
	return -1
}

// inlineIf rewrites Jinja's `a if c else b` at the top level of toks, or
// of each of its comma-separated parts; ok is false when there is none.
func inlineIf(toks []string) (string, bool, error) {
	var commas, ifs, elses []int
	depth := 0
	for k, t := range toks {
		switch t {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
		case ",":
			if depth == 0 {
				commas = append(commas, k)
			}
		case "if", "else":
			if depth == 0 && (k == 0 || toks[k-1] != "." && toks[k-1] != "?.") {
				if t == "if" {
					ifs = append(ifs, k)
				} else {
					elses = append(elses, k)
				}
			}
		}
	}
	if len(ifs) == 0 || ifs[0] == next(toks, 0) {
		return "", false, nil // none, or expr's own `if c { a } else { b }`
	}
	if len(commas) > 0 {
		return joinParts(toks, commas)
	}
	a, c, b := toks[:ifs[0]], toks[ifs[0]+1:], []string{"nil"}
	for _, e := range elses {
		if e > ifs[0] {
			c, b = toks[ifs[0]+1:e], toks[e+1:]
			break
		}
	}
	parts := make([]string, 3)
	for i, p := range [][]string{c, a, b} {
		t, err := translate(strings.Join(p, ""))
		if err != nil {
			return "", true, err
		}
		if strings.TrimSpace(t) == "" {
			return "", true, fmt.Errorf("incomplete `a if c else b`")
		}
		parts[i] = strings.TrimSpace(t)
	}
	return "(" + parts[0] + ") ? (" + parts[1] + ") : (" + parts[2] + ")", true, nil
}

// joinParts translates each comma-separated part of toks on its own.
func joinParts(toks []string, commas []int) (string, bool, error) {
	var out []string
	from := 0
	for _, c := range append(commas, len(toks)) {
		t, err := translate(strings.Join(toks[from:c], ""))
		if err != nil {
			return "", true, err
		}
		out = append(out, t)
		from = c + 1
	}
	return strings.Join(out, ","), true, nil
}

var (
	mapAttrRE   = regexp.MustCompile(`^attribute\s*=\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]$`)
	mapFilterRE = regexp.MustCompile(`^['"]([A-Za-z_][A-Za-z0-9_]*)['"]$`)
)

// mapArg turns Jinja's map(attribute='x') and map('filter') into expr's
// predicates #.x and filter(#); expr's own map(#...) is kept.
func mapArg(args string) string {
	if m := mapAttrRE.FindStringSubmatch(args); m != nil {
		return "#." + m[1]
	}
	if m := mapFilterRE.FindStringSubmatch(args); m != nil {
		if fn, ok := jinjaFilters[m[1]]; ok {
			return fn + "(#)"
		}
	}
	return args
}

// commasOf returns the indexes of the commas of toks outside brackets.
func commasOf(toks []string) []int {
	var out []int
	depth := 0
	for k, t := range toks {
		switch t {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
		case ",":
			if depth == 0 {
				out = append(out, k)
			}
		}
	}
	return out
}

// inBounds are the tokens an `in` operand does not reach past: Jinja's
// `in` binds looser than arithmetic and filters, tighter than `and`.
var inBounds = map[string]bool{"and": true, "or": true, "not": true, "&&": true, "||": true, "!": true,
	"==": true, "!=": true, "<": true, ">": true, "<=": true, ">=": true, "?": true, "??": true,
	":": true, "if": true, "else": true, ",": true}

// inOps rewrites each `x in y` and `x not in y` outside brackets into a
// within(x, y) call, as one token.
func inOps(toks []string) ([]string, error) {
	from := 0
	for {
		k := topLevel(toks, "in", from)
		if k < 0 {
			return toks, nil
		}
		leftEnd, negate := k, false
		if p := prevTok(toks, k); p >= 0 && toks[p] == "not" {
			leftEnd, negate = p, true
		}
		start := leftEnd
		for start > 0 && !(inBounds[toks[start-1]] && depthAt(toks, start-1) == 0) {
			start--
		}
		end := k + 1
		for end < len(toks) && !(inBounds[toks[end]] && depthAt(toks, end) == 0) {
			end++
		}
		if listLiteral(toks[k+1 : end]) {
			// expr's own `in` on a literal list: the same meaning, and
			// optimised when compiled.
			from = k + 1
			continue
		}
		left, err := translate(strings.Join(toks[start:leftEnd], ""))
		if err != nil {
			return nil, err
		}
		right, err := translate(strings.Join(toks[k+1:end], ""))
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(left) == "" || strings.TrimSpace(right) == "" {
			return nil, fmt.Errorf("`in` needs a value on each side")
		}
		call := "within(" + strings.TrimSpace(left) + ", " + strings.TrimSpace(right) + ")"
		if negate {
			call = "!" + call
		}
		rest := append([]string{" " + call + " "}, toks[end:]...)
		toks = append(append([]string{}, toks[:start]...), rest...)
	}
}

// topLevel returns the index of the first word tok from index from on,
// outside brackets (and not after a dot), or -1.
func topLevel(toks []string, word string, from int) int {
	depth := 0
	for k, t := range toks {
		if k < from && t == word {
			continue
		}
		switch t {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
		case word:
			if depth == 0 && (k == 0 || toks[k-1] != "." && toks[k-1] != "?.") {
				return k
			}
		}
	}
	return -1
}

// depthAt returns the bracket depth before toks[i].
func depthAt(toks []string, i int) int {
	depth := 0
	for _, t := range toks[:i] {
		switch t {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
		}
	}
	return depth
}

func prevTok(toks []string, k int) int {
	for k--; k >= 0 && isSpace(toks[k]); k-- {
	}
	return k
}

// listLiteral reports whether toks are one [...] list, nothing after it.
func listLiteral(toks []string) bool {
	i := next(toks, 0)
	if i >= len(toks) || toks[i] != "[" {
		return false
	}
	end := matchClose(toks, i)
	return end > 0 && next(toks, end+1) == len(toks)
}
