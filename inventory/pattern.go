package inventory

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/provision-tool/provision/input"
)

// selection is a cached pattern result.
type selection struct {
	hosts     []*Host
	names     map[string]bool
	unmatched []string
	err       error
}

// Select returns the hosts a host pattern selects, in inventory order (the
// order in which hosts were first defined; an implicit localhost comes
// last). Patterns are Ansible's:
//
//   - all or * is every host; a group name selects the group's hosts and
//     those of its descendants; a host name selects that host (an exact
//     host name wins over a group of the same name, as in Ansible);
//   - shell globs (web*, *.example.com, db-[ab]?) match group names and
//     host names; a pattern that matches no group is tried against host
//     names too; globs, and patterns containing '.', always are;
//   - ~REGEX matches group and host names from their start (Python's
//     re.match), in Go's RE2 syntax;
//   - several patterns separated by ',' (or ':', which Ansible still
//     accepts; IPv6 addresses are never split) are a union; a pattern
//     prefixed with '&' intersects, one prefixed with '!' excludes;
//     unions are applied first, then intersections, then exclusions,
//     whatever the order written; a pattern with only & and ! terms
//     starts from all;
//   - a subscript picks from what a pattern matched, in inventory order:
//     webservers[0], webservers[-1], webservers[1:3] (inclusive),
//     webservers[2:] (to the end);
//   - localhost, 127.0.0.1 or ::1 select the implicit localhost
//     (ansible_connection=local) when they match nothing else.
//
// A pattern term that matches nothing is not an error (Ansible warns and
// ignores it): see Unmatched. Errors are for malformed patterns: an empty
// pattern, a bad regular expression, or a single-index subscript beyond
// the hosts matched.
func (inv *Inventory) Select(pattern string) ([]*Host, error) {
	s := inv.selection(pattern)
	if s.err != nil {
		return nil, s.err
	}
	return append([]*Host(nil), s.hosts...), nil
}

// SelectLimit returns the hosts selected by pattern (a play's hosts:) that
// the limit pattern (-l/--limit) selects too, in inventory order. An empty
// limit selects everything; "@FILE" reads the limit from a file, one
// pattern per line, as Ansible does for retry files.
func (inv *Inventory) SelectLimit(pattern, limit string) ([]*Host, error) {
	hosts, err := inv.Select(pattern)
	if err != nil || strings.TrimSpace(limit) == "" {
		return hosts, err
	}
	if file, ok := strings.CutPrefix(limit, "@"); ok {
		data, err := input.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("limit: %w", err)
		}
		var lines []string
		for _, l := range strings.Split(string(data), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 {
			return nil, nil
		}
		limit = strings.Join(lines, ",")
	}
	lim := inv.selection(limit)
	if lim.err != nil {
		return nil, fmt.Errorf("limit: %w", lim.err)
	}
	out := hosts[:0]
	for _, h := range hosts {
		if lim.names[h.Name] {
			out = append(out, h)
		}
	}
	return out, nil
}

// Match reports whether the host named host is selected by pattern, as the
// engine asks for each play's hosts:. A malformed pattern matches nothing:
// check patterns with Select first. Results are cached per pattern.
func (inv *Inventory) Match(host, pattern string) bool {
	s := inv.selection(pattern)
	return s.err == nil && s.names[host]
}

// Unmatched returns the terms of pattern that match no host or group,
// which Ansible reports as "Could not match supplied host pattern,
// ignoring: TERM".
func (inv *Inventory) Unmatched(pattern string) []string {
	return append([]string(nil), inv.selection(pattern).unmatched...)
}

func (inv *Inventory) selection(pattern string) *selection {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if s := inv.cache[pattern]; s != nil {
		return s
	}
	s := inv.evaluate(pattern)
	if inv.cache == nil {
		inv.cache = map[string]*selection{}
	}
	inv.cache[pattern] = s
	return s
}

// SplitPattern splits a host pattern into its terms as Ansible's
// split_host_pattern does: on commas when there is one, else on colons
// outside brackets and on blanks, except that an IPv6 address is one term.
func SplitPattern(pattern string) []string {
	var parts []string
	switch {
	case strings.Contains(pattern, ","):
		parts = strings.Split(pattern, ",")
	case net.ParseIP(strings.TrimSpace(pattern)) != nil:
		parts = []string{pattern}
	default:
		var cur strings.Builder
		depth := 0
		for _, r := range pattern {
			switch {
			case r == '[':
				depth++
			case r == ']' && depth > 0:
				depth--
			case depth == 0 && (r == ':' || r == ' ' || r == '\t'):
				parts = append(parts, cur.String())
				cur.Reset()
				continue
			}
			cur.WriteRune(r)
		}
		parts = append(parts, cur.String())
	}
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (inv *Inventory) evaluate(pattern string) *selection {
	s := &selection{names: map[string]bool{}}
	terms := SplitPattern(pattern)
	if len(terms) == 0 {
		s.err = fmt.Errorf("empty host pattern %q", pattern)
		return s
	}
	var regular, and, not []string
	for _, t := range terms {
		switch t[0] {
		case '&':
			and = append(and, t)
		case '!':
			not = append(not, t)
		default:
			regular = append(regular, t)
		}
	}
	if len(regular) == 0 {
		regular = []string{"all"}
	}
	set := map[*Host]bool{}
	for _, t := range append(append(regular, and...), not...) {
		if h := inv.hostMap[t]; h != nil {
			set[h] = true
			continue
		}
		hosts, matched, err := inv.matchOne(strings.TrimLeft(t[:1], "&!") + t[1:])
		if err != nil {
			s.err = err
			return s
		}
		if !matched {
			s.unmatched = append(s.unmatched, t)
		}
		switch t[0] {
		case '&':
			keep := map[*Host]bool{}
			for _, h := range hosts {
				keep[h] = true
			}
			for h := range set {
				if !keep[h] {
					delete(set, h)
				}
			}
		case '!':
			for _, h := range hosts {
				delete(set, h)
			}
		default:
			for _, h := range hosts {
				set[h] = true
			}
		}
	}
	s.hosts = inv.inOrder(set)
	for _, h := range s.hosts {
		s.names[h.Name] = true
	}
	return s
}

var subscriptRE = regexp.MustCompile(`^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$`)

// matchOne returns the hosts one term (without & or !) matches, in
// inventory order, and whether it matched any group or host.
func (inv *Inventory) matchOne(term string) ([]*Host, bool, error) {
	if term == "" {
		return nil, false, fmt.Errorf("empty host pattern after '&' or '!'")
	}
	expr, sub := term, []string(nil)
	if term[0] != '~' {
		if m := subscriptRE.FindStringSubmatch(term); m != nil {
			expr, sub = m[1], m[2:]
		}
	}
	var re *regexp.Regexp
	var err error
	if expr[0] == '~' {
		re, err = regexp.Compile(`^(?:` + expr[1:] + `)`)
	} else {
		re, err = regexp.Compile(globRegexp(expr))
	}
	if err != nil {
		return nil, false, fmt.Errorf("invalid host pattern %q: %v", term, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	set := map[*Host]bool{}
	groupMatched := false
	for _, g := range inv.groups {
		if re.MatchString(g.Name) {
			groupMatched = true
			for _, h := range inv.GroupHosts(g.Name) {
				set[h] = true
			}
		}
	}
	if !groupMatched || expr[0] == '~' || strings.ContainsAny(expr, ".?*[") {
		for _, h := range inv.hosts {
			if re.MatchString(h.Name) {
				set[h] = true
			}
		}
	}
	if len(set) == 0 && inv.implicit[expr] != nil {
		set[inv.implicit[expr]] = true
	}
	hosts := inv.inOrder(set)
	matched := groupMatched || len(hosts) > 0
	if sub == nil || len(hosts) == 0 {
		return hosts, matched, nil
	}
	if sub[0] != "" {
		i, _ := strconv.Atoi(sub[0])
		if i < 0 {
			i += len(hosts)
		}
		if i < 0 || i >= len(hosts) {
			return nil, false, fmt.Errorf("no hosts matched the subscripted pattern %q: %s has %d hosts", term, expr, len(hosts))
		}
		return hosts[i : i+1], true, nil
	}
	start, _ := strconv.Atoi(sub[1])
	end := len(hosts) - 1
	if sub[3] != "" {
		end, _ = strconv.Atoi(sub[3])
	}
	if end >= len(hosts) {
		end = len(hosts) - 1
	}
	if start > end {
		return nil, true, nil
	}
	return hosts[start : end+1], true, nil
}

// globRegexp translates a shell glob to an anchored regular expression, as
// Python's fnmatch.translate: * any text, ? one character, [abc], [a-z]
// and [!abc] classes; a [ with no closing ] is literal. Matching is case
// sensitive.
func globRegexp(p string) string {
	var b strings.Builder
	b.WriteString(`^(?:`)
	for i := 0; i < len(p); {
		c := p[i]
		i++
		switch c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i
			if j < len(p) && p[j] == '!' {
				j++
			}
			if j < len(p) && p[j] == ']' {
				j++
			}
			for j < len(p) && p[j] != ']' {
				j++
			}
			if j >= len(p) {
				b.WriteString(`\[`)
				continue
			}
			class := p[i:j]
			i = j + 1
			neg := strings.HasPrefix(class, "!")
			if neg {
				class = class[1:]
			}
			class = strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`, `^`, `\^`).Replace(class)
			if neg {
				class = "^" + class
			}
			b.WriteString("[" + class + "]")
		default:
			b.WriteString(regexp.QuoteMeta(p[i-1 : i]))
		}
	}
	b.WriteString(`)$`)
	return b.String()
}

// WriteHostList writes hosts as ansible --list-hosts does, each line
// prefixed with indent:
//
//	hosts (2):
//	  web1
//	  web2
func WriteHostList(w io.Writer, indent string, hosts []*Host) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%shosts (%d):\n", indent, len(hosts))
	for _, h := range hosts {
		name := h.Name
		if strings.IndexFunc(name, unicode.IsControl) >= 0 {
			name = strconv.Quote(name) // no escape sequence reaches the terminal
		}
		fmt.Fprintf(&b, "%s  %s\n", indent, name)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
