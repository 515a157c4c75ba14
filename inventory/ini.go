package inventory

import (
	"regexp"
	"strings"
	"unicode"
)

var (
	iniSection   = regexp.MustCompile(`^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$`)
	iniGroupName = regexp.MustCompile(`^([^:\]\s]+)\s*(?:#.*)?$`)
	sectionTypes = []string{"hosts", "vars", "children"}
)

// parseINI reads an INI inventory as Ansible's ini inventory plugin does:
//
//   - lines starting with # or ; are comments;
//   - hosts before the first section are in ungrouped;
//   - [group] lists hosts, one per line: a host pattern (ranges and a
//     :port allowed) and key=value variables, split like a shell line
//     (quotes group words, # starts a comment);
//   - [group:vars] sets key=value variables of the group, one per line,
//     everything after the first = being the value;
//   - [group:children] lists child groups, which must be declared in the
//     same file (or an earlier source) with [child] or [child:children];
//     [group:vars] for a group never declared is an error too.
//
// Values are typed as Ansible types them, with Python's literal rules (see
// parseINIValue). Unlike Ansible, which stops at the first problem, every
// bad line is reported.
func (b *builder) parseINI(file string, data []byte) {
	known := map[string]bool{}
	for name := range b.inv.groupMap {
		known[name] = true
	}
	type pending struct {
		vars          bool
		group, parent string
		pos           Pos
	}
	var pendings []pending
	type edge struct {
		parent, child string
		pos           Pos
	}
	var edges []edge

	cur := b.inv.groupMap["ungrouped"]
	state := "hosts"
	for i, raw := range strings.Split(string(data), "\n") {
		lineNo := i + 1
		line := strings.TrimRight(raw, "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';' {
			continue
		}
		indentOff := strings.Index(line, trimmed)
		at := func(off int) Pos { return Pos{File: file, Line: lineNo, Col: runeCol(line, indentOff+off) + 1} }
		if isSectionLine(trimmed) {
			m := iniSection.FindStringSubmatch(trimmed)
			if m == nil {
				b.errs.Add(at(0), "%s", badSection(trimmed))
				state = "skip"
				continue
			}
			name, typ := m[1], m[2]
			if typ == "" {
				typ = "hosts"
			}
			switch typ {
			case "hosts", "vars", "children":
			default:
				b.errs.Add(at(len(name)+2), "section [%s:%s] has unknown type %q, want vars or children%s",
					name, typ, typ, suggest(typ, sectionTypes))
				state = "skip"
				continue
			}
			if typ == "vars" {
				if !known[name] {
					pendings = append(pendings, pending{vars: true, group: name, pos: at(0)})
				}
			} else {
				known[name] = true
			}
			cur, state = b.group(name, at(0)), typ
			continue
		}
		switch state {
		case "skip":
		case "hosts":
			b.iniHost(file, lineNo, line, cur)
		case "vars":
			k, v, ok := strings.Cut(trimmed, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case !ok:
				b.errs.Add(at(0), "expected key=value in section [%s:vars], got %q", cur.Name, trimmed)
			case k == "":
				b.errs.Add(at(0), "missing variable name before '=' in %q", trimmed)
			default:
				b.setGroupVar(cur, k, parseINIValue(v), at(0))
			}
		case "children":
			m := iniGroupName.FindStringSubmatch(trimmed)
			if m == nil {
				b.errs.Add(at(0), "expected a group name in section [%s:children], got %q", cur.Name, trimmed)
				continue
			}
			edges = append(edges, edge{cur.Name, m[1], at(0)})
			if !known[m[1]] {
				pendings = append(pendings, pending{group: m[1], parent: cur.Name, pos: at(0)})
			}
		}
	}
	names := make([]string, 0, len(known))
	for name := range known {
		names = append(names, name)
	}
	undefined := map[string]bool{}
	for _, p := range pendings {
		if known[p.group] {
			continue
		}
		undefined[p.group] = true
		if p.vars {
			b.errs.Add(p.pos, "section [%s:vars] is for an undefined group: declare it with [%s] or [%s:children]%s",
				p.group, p.group, p.group, suggest(p.group, names))
		} else {
			b.errs.Add(p.pos, "section [%s:children] includes undefined group %q: declare it with [%s]%s",
				p.parent, p.group, p.group, suggest(p.group, names))
		}
	}
	for _, e := range edges {
		if !undefined[e.child] {
			b.addChild(b.group(e.parent, Pos{}), b.group(e.child, e.pos), e.pos)
		}
	}
}

// isSectionLine tells a section header (good or bad) from a host line that
// starts with a bracket, such as "[fe80::1]:22" or "[1:3].example.com".
func isSectionLine(s string) bool {
	if !strings.HasPrefix(s, "[") {
		return false
	}
	if iniSection.MatchString(s) || strings.HasSuffix(s, "]") {
		return true
	}
	field := s
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		field = s[:i]
	}
	close := strings.IndexByte(field, ']')
	return close < 0 || close == len(field)-1
}

func badSection(s string) string {
	inside, after := s[1:], ""
	if i := strings.IndexByte(s, ']'); i >= 0 {
		inside, after = s[1:i], strings.TrimSpace(s[i+1:])
	}
	switch {
	case strings.ContainsFunc(inside, unicode.IsSpace):
		return "invalid section header " + quote(s) + ": group names cannot contain spaces"
	case after != "" && !strings.HasPrefix(after, "#"):
		return "invalid section header " + quote(s) + ": only a # comment may follow it"
	}
	return "invalid section header " + quote(s) + ": want [group], [group:vars] or [group:children]"
}

// iniHost reads one host line of section g.
func (b *builder) iniHost(file string, lineNo int, line string, g *Group) {
	at := func(off int) Pos { return Pos{File: file, Line: lineNo, Col: runeCol(line, off) + 1} }
	toks, err := shlexSplit(line)
	if err != nil {
		b.errs.Add(at(err.off), "%s", err.msg)
		return
	}
	if len(toks) == 0 {
		return
	}
	pat := toks[0]
	pos := at(pat.off)
	if pat.text == "---" {
		b.errs.Add(pos, "invalid host pattern \"---\": this looks like YAML; name a YAML inventory .yml or .yaml")
		return
	}
	name, port, hasPort := splitHostPort(pat.text)
	if strings.HasSuffix(pat.text, ":") && !hasPort {
		b.errs.Add(pos, "invalid host pattern %q: a trailing ':' is reserved for a port (if this is a YAML inventory, name it .yml or .yaml)", pat.text)
		return
	}
	names, rerr := expandHostPattern(name)
	if rerr != nil {
		p := pos
		if re, ok := rerr.(*rangeError); ok && pat.raw {
			p = at(pat.off + re.off)
		}
		b.errs.Add(p, "%v", rerr)
		return
	}
	if !hasPort {
		port = 0
	}
	type kv struct {
		k   string
		v   any
		pos Pos
	}
	var vars []kv
	bad := false
	for _, t := range toks[1:] {
		k, v, ok := strings.Cut(t.text, "=")
		switch {
		case !ok:
			b.errs.Add(at(t.off), "expected key=value host variable, got %q", t.text)
			bad = true
		case k == "":
			b.errs.Add(at(t.off), "missing variable name before '=' in %q", t.text)
			bad = true
		default:
			vars = append(vars, kv{k, parseINIValue(v), at(t.off)})
		}
	}
	if bad {
		return
	}
	for _, n := range names {
		h := b.addHost(n, g, pos, file, port, pos)
		for _, e := range vars {
			b.setHostVar(h, e.k, e.v, e.pos)
		}
	}
}

// token is one word of a host line: its text after quote removal, the byte
// offset where it starts, and whether it was written without quotes or
// escapes (so offsets inside it are offsets in the line).
type token struct {
	text string
	off  int
	raw  bool
}

type shlexError struct {
	off int
	msg string
}

// shlexSplit splits a line as Python's shlex.split(line, comments=True)
// does, which Ansible uses for host lines: blanks separate words; '...'
// keeps everything, "..." keeps everything but \" and \\; a backslash
// outside quotes escapes the next character; a # outside quotes, even
// within a word, ends the line.
func shlexSplit(s string) ([]token, *shlexError) {
	var toks []token
	var cur strings.Builder
	in, raw, start := false, true, 0
	emit := func() {
		if in {
			toks = append(toks, token{text: cur.String(), off: start, raw: raw})
			cur.Reset()
			in, raw = false, true
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f':
			emit()
		case c == '#':
			emit()
			return toks, nil
		default:
			if !in {
				in, start = true, i
			}
			switch c {
			case '\\':
				raw = false
				if i+1 >= len(s) {
					return nil, &shlexError{i, "a backslash at the end of the line escapes nothing"}
				}
				i++
				cur.WriteByte(s[i])
			case '\'', '"':
				raw = false
				q := i
				i++
				for ; i < len(s) && s[i] != c; i++ {
					if c == '"' && s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
						i++
					}
					cur.WriteByte(s[i])
				}
				if i >= len(s) {
					return nil, &shlexError{q, "unterminated quoted string (no closing " + string(c) + ")"}
				}
			default:
				cur.WriteByte(c)
			}
		}
	}
	emit()
	return toks, nil
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}
