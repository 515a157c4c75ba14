package users

import (
	"strings"
	"testing"
)

// FuzzSubidRanges: any /etc/subuid content parses without a panic into
// ranges that shadow would accept (COUNT > 0, ending at or below 2^32),
// at most one result per line, and the line split reproduces the file
// byte for byte (a rewrite keeps untouched lines exactly).
func FuzzSubidRanges(f *testing.F) {
	for _, s := range []string{
		"alice:100000:65536\nbob:165536:65536\n",
		"# comment\n\n  alice:100000:65536\r\n",
		"alice:0100000:65536\nbob:1:0\ncarol:4294967295:2\n",
		"x:y:z\n::\nalice:100000:65536",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, probs := Ranges(data)
		lines := splitLines(data)
		if len(rs)+len(probs) > len(lines) {
			t.Fatalf("%d ranges and %d problems from %d lines", len(rs), len(probs), len(lines))
		}
		for _, r := range rs {
			if r.Count <= 0 || r.Start < 0 || r.End() > 1<<32 {
				t.Fatalf("accepted range %+v", r)
			}
		}
		var b strings.Builder
		for _, l := range lines {
			b.WriteString(l.raw)
		}
		if b.String() != string(data) {
			t.Fatalf("lines do not reproduce the file")
		}
	})
}
