package inventory

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxExpansion bounds how many names one host pattern may expand to, so that
// a typo such as web[1:100000000] fails instead of exhausting memory.
const maxExpansion = 100000

var (
	bracketedHostPort = regexp.MustCompile(`^\[(.+)\]:(\d+)$`)
	hostPort          = regexp.MustCompile(`^((?:[^:\[\]]|\[[^\]]*\])*):(\d+)$`)
)

// rangeError is a bad [begin:end:step] range; off is the byte offset of its
// '[' in the pattern.
type rangeError struct {
	off int
	msg string
}

func (e *rangeError) Error() string { return e.msg }

// splitHostPort separates an optional ":port" from a host pattern the way
// Ansible's parse_address does: "host:22", "web[01:10]:22" and
// "[fe80::1]:22" carry a port; bare IPv6 addresses such as "fe80::1" do not.
func splitHostPort(pattern string) (name string, port int, hasPort bool) {
	if m := bracketedHostPort.FindStringSubmatch(pattern); m != nil {
		if p, err := strconv.Atoi(m[2]); err == nil {
			return m[1], p, true
		}
	}
	if m := hostPort.FindStringSubmatch(pattern); m != nil && m[1] != "" {
		if p, err := strconv.Atoi(m[2]); err == nil {
			return m[1], p, true
		}
	}
	return pattern, 0, false
}

// expandHostPattern expands the ranges in a host name, as Ansible does:
// "web[01:03].example.com" is web01, web02 and web03; "db-[a:c]" is db-a,
// db-b and db-c; "[1:10:2]" takes every second number; several ranges
// multiply. A begin with a leading zero pads every number to its width.
func expandHostPattern(name string) ([]string, error) {
	if err := checkHostName(name); err != nil {
		return nil, err
	}
	var out []string
	if err := expandInto(name, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// checkHostName refuses a host name (or pattern) that no host can have:
// not UTF-8, or holding white space or control characters, which would
// reach ssh's command line and the report.
func checkHostName(name string) error {
	if !utf8.ValidString(name) {
		return &rangeError{msg: fmt.Sprintf("host name %q is not valid UTF-8", name)}
	}
	for i, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return &rangeError{off: i, msg: fmt.Sprintf("host name %q holds the character %q", name, r)}
		}
	}
	return nil
}

func expandInto(name string, out *[]string) error {
	open := strings.IndexByte(name, '[')
	if open < 0 {
		if len(*out) >= maxExpansion {
			return &rangeError{msg: fmt.Sprintf("expands to more than %d hosts", maxExpansion)}
		}
		*out = append(*out, name)
		return nil
	}
	fail := func(format string, args ...any) error {
		return &rangeError{off: open, msg: fmt.Sprintf(format, args...)}
	}
	end := strings.IndexByte(name[open:], ']')
	if end < 0 {
		return fail("bad host range %q: missing ']'", name[open:])
	}
	end += open
	head, spec, tail := name[:open], name[open+1:end], name[end+1:]
	bad := "[" + spec + "]"
	bounds := strings.Split(spec, ":")
	if len(bounds) != 2 && len(bounds) != 3 {
		return fail("bad host range %q: want [begin:end] or [begin:end:step]", bad)
	}
	beg, last := bounds[0], bounds[1]
	step := 1
	if len(bounds) == 3 {
		s, err := strconv.Atoi(bounds[2])
		if err != nil || s < 1 {
			return fail("bad host range %q: the step must be a positive number", bad)
		}
		step = s
	}
	if beg == "" {
		beg = "0"
	}
	if last == "" {
		return fail("bad host range %q: missing end value", bad)
	}
	var seq []string
	if isLetter(beg) && isLetter(last) {
		const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		i, j := strings.Index(letters, beg), strings.Index(letters, last)
		if i > j {
			return fail("bad host range %q: begin %q comes after end %q", bad, beg, last)
		}
		for k := i; k <= j; k += step {
			seq = append(seq, letters[k:k+1])
		}
	} else {
		b, err1 := strconv.Atoi(beg)
		e, err2 := strconv.Atoi(last)
		if err1 != nil || err2 != nil || b < 0 || e < 0 {
			return fail("bad host range %q: bounds must be two numbers or two letters", bad)
		}
		width := 0
		if len(beg) > 1 && beg[0] == '0' {
			if len(beg) != len(last) {
				return fail("bad host range %q: a zero-padded begin and the end must have the same width", bad)
			}
			width = len(beg)
		}
		if b > e {
			return fail("bad host range %q: begin %d is greater than end %d", bad, b, e)
		}
		if (e-b)/step >= maxExpansion {
			return fail("bad host range %q: expands to more than %d hosts", bad, maxExpansion)
		}
		for k := b; k <= e; k += step {
			seq = append(seq, fmt.Sprintf("%0*d", width, k))
		}
	}
	for _, s := range seq {
		if err := expandInto(head+s+tail, out); err != nil {
			// A later range sits in tail: map its offset back to name.
			if re, ok := err.(*rangeError); ok && re.off >= len(head)+len(s) {
				re.off += end + 1 - len(head) - len(s)
			}
			return err
		}
	}
	return nil
}

func isLetter(s string) bool {
	return len(s) == 1 && (s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z')
}

// runeCol converts a byte offset in s to a 0-based character offset.
func runeCol(s string, off int) int {
	if off > len(s) {
		off = len(s)
	}
	return utf8.RuneCountInString(s[:off])
}
