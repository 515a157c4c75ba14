package users

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/provision-tool/provision/facts"
)

// IDLimit is the size of the 32-bit ID space: a range must end at or
// before it (start+count <= 2^32), as shadow's parser demands.
const IDLimit = 1 << 32

// MaxLineLen is the longest line shadow's parser accepts (its buffer holds
// 1024 bytes including the terminating NUL).
const MaxLineLen = 1023

// Range is one valid entry of /etc/subuid or /etc/subgid: Owner may use
// the IDs Start..Start+Count-1.
type Range struct {
	// Owner is the login name or UID exactly as written.
	Owner string
	Start int64
	Count int64
	// Line is the 1-based line number in the file; 0 for a range that is
	// not (yet) in a file.
	Line int
}

// End returns the first ID after the range.
func (r Range) End() int64 { return r.Start + r.Count }

// Contains reports whether id lies in the range.
func (r Range) Contains(id int64) bool { return id >= r.Start && id < r.End() }

// Overlaps reports whether the two ranges share at least one ID.
func (r Range) Overlaps(o Range) bool { return r.Start < o.End() && o.Start < r.End() }

// String renders the range as the file's START:COUNT.
func (r Range) String() string { return fmt.Sprintf("%d:%d", r.Start, r.Count) }

// ParseProblem is a line that is neither blank, a comment nor a valid
// range. containers/storage's own parser (Podman without libsubid, as on
// Debian) rejects the whole file for some of these, and shadow ignores
// the line, so every one is worth fixing.
type ParseProblem struct {
	Line int    // 1-based
	Text string // the line without its newline
	Msg  string // what is wrong, lower case
}

// String renders the problem as "line N: message".
func (p ParseProblem) String() string { return fmt.Sprintf("line %d: %s", p.Line, p.Msg) }

// Ranges parses the contents of /etc/subuid or /etc/subgid. Blank lines
// and lines whose first non-blank character is '#' are skipped (as
// containers/storage does). Every other line must be OWNER:START:COUNT
// with no whitespace, decimal numbers without leading zeros (shadow reads
// those as octal, containers/storage as decimal), COUNT > 0,
// START+COUNT <= 2^32, and be shorter than 1024 bytes; anything else is a
// ParseProblem. Ranges are returned in file order.
func Ranges(data []byte) ([]Range, []ParseProblem) {
	var rs []Range
	var probs []ParseProblem
	for _, l := range splitLines(data) {
		switch l.kind {
		case lineRange:
			rs = append(rs, l.r)
		case lineBad:
			probs = append(probs, ParseProblem{Line: l.n, Text: l.text, Msg: l.msg})
		}
	}
	return rs, probs
}

type lineKind int

const (
	lineBlank lineKind = iota
	lineComment
	lineRange
	lineBad
)

type fileLine struct {
	n    int      // 1-based line number
	raw  string   // the line with its terminator, if any
	text string   // the line without "\n"
	kind lineKind //
	r    Range    // for lineRange
	msg  string   // for lineBad
}

// splitLines classifies every line of a subid file, keeping the raw bytes
// so that a rewrite can reproduce untouched lines exactly.
func splitLines(data []byte) []fileLine {
	s := string(data)
	// Sized once: a 100,000-line file must not be copied by append.
	out := make([]fileLine, 0, strings.Count(s, "\n")+1)
	for n := 1; s != ""; n++ {
		raw := s
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			raw = s[:i+1]
		}
		s = s[len(raw):]
		l := fileLine{n: n, raw: raw, text: strings.TrimSuffix(raw, "\n")}
		trimmed := strings.TrimSpace(l.text)
		switch {
		case trimmed == "":
			l.kind = lineBlank
		case trimmed[0] == '#':
			l.kind = lineComment
		default:
			r, msg := parseRange(l.text)
			if msg != "" {
				l.kind, l.msg = lineBad, msg
			} else {
				l.kind, l.r = lineRange, r
				l.r.Line = n
			}
		}
		out = append(out, l)
	}
	return out
}

// parseRange parses one line strictly; it returns a non-empty message when
// the line is not a valid range.
func parseRange(text string) (Range, string) {
	if len(text) > MaxLineLen {
		return Range{}, fmt.Sprintf("line is %d bytes long; shadow ignores lines of 1024 bytes or more", len(text))
	}
	for _, c := range text {
		switch {
		case c == '\r':
			return Range{}, "ends with a carriage return (DOS line ending)"
		case unicode.IsSpace(c):
			return Range{}, "contains whitespace"
		case c < 0x20 || c == 0x7f:
			return Range{}, "contains a control character"
		}
	}
	f := strings.Split(text, ":")
	if len(f) != 3 {
		return Range{}, fmt.Sprintf("has %d colon-separated fields, want 3 (owner:start:count)", len(f))
	}
	if f[0] == "" {
		return Range{}, "owner is empty"
	}
	start, msg := parseID("start", f[1])
	if msg != "" {
		return Range{}, msg
	}
	count, msg := parseID("count", f[2])
	if msg != "" {
		return Range{}, msg
	}
	switch {
	case count == 0:
		return Range{}, "count is 0"
	case start >= IDLimit:
		return Range{}, fmt.Sprintf("start %d is beyond the 32-bit ID space", start)
	case start+count > IDLimit:
		return Range{}, fmt.Sprintf("range %d:%d ends beyond the 32-bit ID space", start, count)
	}
	return Range{Owner: f[0], Start: start, Count: count}, ""
}

func parseID(what, s string) (int64, string) {
	if s == "" {
		return 0, what + " is empty"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Sprintf("%s %q is not a decimal number", what, s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Sprintf("%s %q has a leading zero (shadow reads it as octal, containers/storage as decimal)", what, s)
	}
	// Anything over 11 digits is out of range anyway; this keeps ParseInt
	// from overflowing.
	if len(s) > 11 {
		return 0, fmt.Sprintf("%s %s is beyond the 32-bit ID space", what, s)
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n, ""
}

// lenientRanges returns every range a more forgiving reader could see in a
// line that is not strictly valid (or is a comment): containers/storage
// trims the line and reads decimal numbers with an optional sign; shadow
// reads "OWNER:START:COUNT" with strtoul in base 0 (octal, hex) and
// skips leading blanks in numbers, and it parses a "#" line like any
// other. Allocation avoids all of these, so that no reader ever sees a new
// range overlap an old one.
func lenientRanges(text string) []Range {
	f := strings.Split(strings.TrimSpace(text), ":")
	if len(f) != 3 {
		return nil
	}
	var out []Range
	for _, s := range lenientNumbers(f[1]) {
		for _, c := range lenientNumbers(f[2]) {
			if s >= 0 && c > 0 && s < IDLimit && c <= IDLimit && s+c <= IDLimit {
				out = append(out, Range{Owner: strings.TrimSpace(f[0]), Start: s, Count: c})
			}
		}
	}
	return out
}

func lenientNumbers(s string) []int64 {
	s = strings.TrimSpace(s)
	var out []int64
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		out = append(out, n)
	}
	if n, err := strconv.ParseUint(strings.TrimPrefix(s, "+"), 0, 64); err == nil && n < IDLimit && (len(out) == 0 || int64(n) != out[0]) {
		out = append(out, int64(n))
	}
	return out
}

// OwnerKey returns a function that maps the owner field of a range to a
// key that is equal for every spelling of the same owner: a login name
// known in users and that user's numeric UID give the same key. Unknown
// names keep their own key.
func OwnerKey(users []facts.User) func(owner string) string {
	byName := make(map[string]int64, len(users))
	for _, u := range users {
		if _, dup := byName[u.Name]; !dup {
			byName[u.Name] = u.UID
		}
	}
	return func(owner string) string {
		if uid, ok := byName[owner]; ok {
			return "uid:" + strconv.FormatInt(uid, 10)
		}
		if isCanonicalNumber(owner) {
			return "uid:" + owner
		}
		return "name:" + owner
	}
}

// isCanonicalNumber reports whether s is a decimal number as "%lu" prints
// it, which is what shadow and containers/storage compare a numeric owner
// with.
func isCanonicalNumber(s string) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Overlap is a pair of ranges of different owners that share IDs; A comes
// first in the file.
type Overlap struct{ A, B Range }

// Overlaps returns every pair of ranges whose owners differ (by key, see
// OwnerKey) and that share at least one ID, ordered by the line of A then
// B. It runs in O(n log n + pairs).
func Overlaps(rs []Range, key func(owner string) string) []Overlap {
	sorted := append([]Range(nil), rs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Start < sorted[j].Start })
	keys := make([]string, len(sorted))
	for i, r := range sorted {
		keys[i] = key(r.Owner)
	}
	var out []Overlap
	for i, a := range sorted {
		for j := i + 1; j < len(sorted) && sorted[j].Start < a.End(); j++ {
			if keys[i] == keys[j] {
				continue
			}
			o := Overlap{A: a, B: sorted[j]}
			if o.B.Line < o.A.Line {
				o.A, o.B = o.B, o.A
			}
			out = append(out, o)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].A.Line != out[j].A.Line {
			return out[i].A.Line < out[j].A.Line
		}
		return out[i].B.Line < out[j].B.Line
	})
	return out
}

// FirstContained returns the lowest of the sorted IDs that lies in r.
func FirstContained(r Range, sortedIDs []int64) (int64, bool) {
	i := sort.Search(len(sortedIDs), func(i int) bool { return sortedIDs[i] >= r.Start })
	if i < len(sortedIDs) && sortedIDs[i] < r.End() {
		return sortedIDs[i], true
	}
	return 0, false
}

// FreeStart returns the lowest start of a block of count IDs inside
// min..max (both inclusive, as login.defs' SUB_UID_MIN and SUB_UID_MAX)
// that shares no ID with taken and contains none of the IDs in usedIDs.
// It is deterministic: the same inputs give the same start, whatever
// their order. ok is false when no such block exists.
func FreeStart(taken []Range, usedIDs []int64, min, max, count int64) (start int64, ok bool) {
	if count <= 0 || min < 0 || max < min {
		return 0, false
	}
	if max >= IDLimit {
		max = IDLimit - 1
	}
	type iv struct{ lo, hi int64 } // [lo, hi)
	ivs := make([]iv, 0, len(taken)+len(usedIDs))
	for _, r := range taken {
		if r.Count > 0 {
			ivs = append(ivs, iv{r.Start, r.End()})
		}
	}
	for _, id := range usedIDs {
		ivs = append(ivs, iv{id, id + 1})
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].lo < ivs[j].lo })
	low := min
	for _, v := range ivs {
		if v.hi <= low {
			continue
		}
		if v.lo >= low+count {
			break // the hole [low, v.lo) is big enough
		}
		low = v.hi
		if low > max {
			return 0, false
		}
	}
	if low+count-1 > max {
		return 0, false
	}
	return low, true
}
