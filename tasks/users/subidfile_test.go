package users

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/provision-tool/provision/facts"
)

func TestRanges(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		ranges []Range
		probs  []ParseProblem
	}{
		{name: "empty"},
		{
			name:   "one line",
			in:     "alice:100000:65536\n",
			ranges: []Range{{Owner: "alice", Start: 100000, Count: 65536, Line: 1}},
		},
		{
			name: "no final newline, numeric owner, several ranges",
			in:   "alice:100000:65536\n1001:165536:65536",
			ranges: []Range{
				{Owner: "alice", Start: 100000, Count: 65536, Line: 1},
				{Owner: "1001", Start: 165536, Count: 65536, Line: 2},
			},
		},
		{
			name: "comments and blank lines are skipped",
			in:   "# managed by hand\n\n   \n  # indented comment\n#bob:1:2\nalice:100000:65536\n",
			ranges: []Range{
				{Owner: "alice", Start: 100000, Count: 65536, Line: 6},
			},
		},
		{
			name:   "the last ID of the 32-bit space",
			in:     "a:4294901760:65536\nb:4294967295:1\nc:0:4294967296\n",
			ranges: []Range{{Owner: "a", Start: 4294901760, Count: 65536, Line: 1}, {Owner: "b", Start: 4294967295, Count: 1, Line: 2}, {Owner: "c", Start: 0, Count: 4294967296, Line: 3}},
		},
		{
			name: "malformed lines",
			in: strings.Join([]string{
				"alice:100000:65536 ",
				" alice:100000:65536",
				"alice:100000\t:65536",
				"alice:100000:65536\r",
				"alice:100000",
				"alice:100000:65536:1",
				":100000:65536",
				"alice::65536",
				"alice:100000:",
				"alice:0x186a0:65536",
				"alice:-1:65536",
				"alice:+100000:65536",
				"alice:0100000:65536",
				"alice:100000:0",
				"alice:4294967296:1",
				"alice:4294967295:2",
				"alice:99999999999999999999:1",
				"alice\x01:1:1",
				"x" + strings.Repeat("y", 1020) + ":1:1",
				"ok:0:1",
			}, "\n") + "\n",
			ranges: []Range{{Owner: "ok", Start: 0, Count: 1, Line: 20}},
			probs: []ParseProblem{
				{1, "alice:100000:65536 ", "contains whitespace"},
				{2, " alice:100000:65536", "contains whitespace"},
				{3, "alice:100000\t:65536", "contains whitespace"},
				{4, "alice:100000:65536\r", "ends with a carriage return (DOS line ending)"},
				{5, "alice:100000", "has 2 colon-separated fields, want 3 (owner:start:count)"},
				{6, "alice:100000:65536:1", "has 4 colon-separated fields, want 3 (owner:start:count)"},
				{7, ":100000:65536", "owner is empty"},
				{8, "alice::65536", "start is empty"},
				{9, "alice:100000:", "count is empty"},
				{10, "alice:0x186a0:65536", `start "0x186a0" is not a decimal number`},
				{11, "alice:-1:65536", `start "-1" is not a decimal number`},
				{12, "alice:+100000:65536", `start "+100000" is not a decimal number`},
				{13, "alice:0100000:65536", `start "0100000" has a leading zero (shadow reads it as octal, containers/storage as decimal)`},
				{14, "alice:100000:0", "count is 0"},
				{15, "alice:4294967296:1", "start 4294967296 is beyond the 32-bit ID space"},
				{16, "alice:4294967295:2", "range 4294967295:2 ends beyond the 32-bit ID space"},
				{17, "alice:99999999999999999999:1", "start 99999999999999999999 is beyond the 32-bit ID space"},
				{18, "alice\x01:1:1", "contains a control character"},
				{19, "x" + strings.Repeat("y", 1020) + ":1:1", "line is 1025 bytes long; shadow ignores lines of 1024 bytes or more"},
			},
		},
		{
			name:   "a line of 1023 bytes is fine",
			in:     strings.Repeat("u", 1023-len(":1:1")) + ":1:1\n",
			ranges: []Range{{Owner: strings.Repeat("u", 1023-len(":1:1")), Start: 1, Count: 1, Line: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, probs := Ranges([]byte(tt.in))
			if !reflect.DeepEqual(rs, tt.ranges) {
				t.Errorf("ranges:\n got %+v\nwant %+v", rs, tt.ranges)
			}
			if !reflect.DeepEqual(probs, tt.probs) {
				t.Errorf("problems:\n got %+v\nwant %+v", probs, tt.probs)
			}
		})
	}
}

func TestParseProblemString(t *testing.T) {
	p := ParseProblem{Line: 3, Msg: "count is 0"}
	if got := p.String(); got != "line 3: count is 0" {
		t.Errorf("String() = %q", got)
	}
}

func TestSplitLinesKeepsBytes(t *testing.T) {
	in := "# c\r\n\nalice:1:2\n  \nbob:3:4"
	var b strings.Builder
	for _, l := range splitLines([]byte(in)) {
		b.WriteString(l.raw)
	}
	if b.String() != in {
		t.Errorf("rejoined lines = %q, want %q", b.String(), in)
	}
}

func TestRangeMethods(t *testing.T) {
	r := Range{Start: 100, Count: 10}
	if r.End() != 110 || !r.Contains(100) || !r.Contains(109) || r.Contains(110) || r.Contains(99) {
		t.Errorf("End/Contains wrong for %v", r)
	}
	if !r.Overlaps(Range{Start: 109, Count: 1}) || r.Overlaps(Range{Start: 110, Count: 5}) || r.Overlaps(Range{Start: 90, Count: 10}) {
		t.Errorf("Overlaps wrong for %v", r)
	}
	if r.String() != "100:10" {
		t.Errorf("String() = %q", r.String())
	}
}

func TestLenientRanges(t *testing.T) {
	tests := []struct {
		in   string
		want []Range
	}{
		{"bob:100000:65536 ", []Range{{Owner: "bob", Start: 100000, Count: 65536}}},
		{" bob : 100000 : 65536", []Range{{Owner: "bob", Start: 100000, Count: 65536}}},
		{"bob:0x186a0:65536", []Range{{Owner: "bob", Start: 100000, Count: 65536}}},
		{"bob:010:5", []Range{{Owner: "bob", Start: 10, Count: 5}, {Owner: "bob", Start: 8, Count: 5}}},
		{"bob:+7:5", []Range{{Owner: "bob", Start: 7, Count: 5}}},
		{"#carol:200000:10", []Range{{Owner: "#carol", Start: 200000, Count: 10}}},
		{"# just a comment", nil},
		{"bob:100000:0", nil},
		{"bob:-5:10", nil},
		{"bob:4294967295:2", nil},
		{"bob:1:2:3", nil},
	}
	for _, tt := range tests {
		if got := lenientRanges(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("lenientRanges(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestOwnerKey(t *testing.T) {
	key := OwnerKey([]facts.User{{Name: "alice", UID: 1000}, {Name: "alias", UID: 1000}, {Name: "bob", UID: 1001}, {Name: "1001x", UID: 7}})
	same := [][2]string{{"alice", "1000"}, {"alice", "alias"}, {"bob", "1001"}, {"5000", "5000"}, {"ghost", "ghost"}}
	for _, p := range same {
		if key(p[0]) != key(p[1]) {
			t.Errorf("key(%q) != key(%q)", p[0], p[1])
		}
	}
	differ := [][2]string{{"alice", "bob"}, {"alice", "01000"}, {"ghost", "alice"}, {"1001x", "1001"}, {"ghost", "ghost2"}}
	for _, p := range differ {
		if key(p[0]) == key(p[1]) {
			t.Errorf("key(%q) == key(%q)", p[0], p[1])
		}
	}
}

func TestOverlaps(t *testing.T) {
	key := OwnerKey([]facts.User{{Name: "alice", UID: 1000}, {Name: "bob", UID: 1001}})
	rs := []Range{
		{Owner: "carol", Start: 300000, Count: 10, Line: 1},
		{Owner: "alice", Start: 100000, Count: 65536, Line: 2},
		{Owner: "1000", Start: 120000, Count: 10, Line: 3}, // alice again: no overlap
		{Owner: "bob", Start: 165535, Count: 10, Line: 4},  // last ID of alice
		{Owner: "dave", Start: 165545, Count: 10, Line: 5}, // touches bob, no overlap
		{Owner: "erin", Start: 300005, Count: 1, Line: 6},
	}
	got := Overlaps(rs, key)
	want := []Overlap{{A: rs[0], B: rs[5]}, {A: rs[1], B: rs[3]}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Overlaps:\n got %+v\nwant %+v", got, want)
	}
}

func TestFirstContained(t *testing.T) {
	ids := []int64{0, 1000, 65534, 150000}
	if id, ok := FirstContained(Range{Start: 100000, Count: 65536}, ids); !ok || id != 150000 {
		t.Errorf("got %d %v, want 150000", id, ok)
	}
	if _, ok := FirstContained(Range{Start: 150001, Count: 65536}, ids); ok {
		t.Error("found an ID above the last")
	}
	if _, ok := FirstContained(Range{Start: 1001, Count: 64533}, ids); ok {
		t.Error("found an ID in an empty gap")
	}
}

func TestFreeStart(t *testing.T) {
	r := func(start, count int64) Range { return Range{Start: start, Count: count} }
	tests := []struct {
		name       string
		taken      []Range
		used       []int64
		min, max   int64
		count      int64
		want       int64
		wantFailed bool
	}{
		{name: "empty", min: 100000, max: 600100000, count: 65536, want: 100000},
		{name: "after one", taken: []Range{r(100000, 65536)}, min: 100000, max: 600100000, count: 65536, want: 165536},
		{name: "a hole that fits exactly", taken: []Range{r(100000, 65536), r(231072, 65536)}, min: 100000, max: 600100000, count: 65536, want: 165536},
		{name: "a hole one too small", taken: []Range{r(100000, 65536), r(231071, 65536)}, min: 100000, max: 600100000, count: 65536, want: 296607},
		{name: "ranges below min are ignored", taken: []Range{r(0, 100000)}, min: 100000, max: 600100000, count: 65536, want: 100000},
		{name: "range straddling min", taken: []Range{r(50000, 60000)}, min: 100000, max: 600100000, count: 65536, want: 110000},
		{name: "unsorted and overlapping taken", taken: []Range{r(300000, 10), r(100000, 200000), r(150000, 10)}, min: 100000, max: 600100000, count: 10, want: 300010},
		{name: "skips used IDs", used: []int64{1000, 150000}, min: 100000, max: 600100000, count: 65536, want: 150001},
		{name: "used ID just past the block", used: []int64{165536}, min: 100000, max: 600100000, count: 65536, want: 100000},
		{name: "fedora window", taken: []Range{r(100000, 65536)}, min: 524288, max: 600100000, count: 65536, want: 524288},
		{name: "fits exactly under max", taken: []Range{r(100000, 65536)}, min: 100000, max: 231071, count: 65536, want: 165536},
		{name: "exhausted window", taken: []Range{r(100000, 65536)}, min: 100000, max: 231070, count: 65536, wantFailed: true},
		{name: "window smaller than count", min: 100000, max: 100009, count: 11, wantFailed: true},
		{name: "max is capped at the ID space", min: 4294967296 - 10, max: 1 << 40, count: 10, want: 4294967286},
		{name: "past the ID space", min: 4294967296 - 10, max: 1 << 40, count: 11, wantFailed: true},
		{name: "zero count", min: 1, max: 10, count: 0, wantFailed: true},
		{name: "min above max", min: 10, max: 1, count: 1, wantFailed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FreeStart(tt.taken, tt.used, tt.min, tt.max, tt.count)
			if ok == tt.wantFailed || ok && got != tt.want {
				t.Fatalf("FreeStart = %d, %v; want %d, %v", got, ok, tt.want, !tt.wantFailed)
			}
			// The same inputs in another order give the same answer.
			rng := rand.New(rand.NewSource(1))
			for i := 0; i < 5; i++ {
				taken := append([]Range(nil), tt.taken...)
				rng.Shuffle(len(taken), func(i, j int) { taken[i], taken[j] = taken[j], taken[i] })
				if again, ok2 := FreeStart(taken, tt.used, tt.min, tt.max, tt.count); again != got || ok2 != ok {
					t.Fatalf("shuffled input gave %d, %v; first %d, %v", again, ok2, got, ok)
				}
			}
			if ok {
				blk := Range{Start: got, Count: tt.count}
				for _, tk := range tt.taken {
					if blk.Overlaps(tk) {
						t.Errorf("block %v overlaps %v", blk, tk)
					}
				}
				if id, hit := FirstContained(blk, tt.used); hit {
					t.Errorf("block %v contains used ID %d", blk, id)
				}
			}
		})
	}
}

func TestUnionSize(t *testing.T) {
	rs := []Range{{Start: 10, Count: 10}, {Start: 15, Count: 10}, {Start: 100, Count: 1}, {Start: 12, Count: 2}}
	if got := unionSize(rs); got != 16 {
		t.Errorf("unionSize = %d, want 16", got)
	}
}
