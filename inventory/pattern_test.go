package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const patternINI = `bastion

[web]
web1.example.com
web2.example.com
web3.example.com

[db]
db1.example.com
db2.example.com

[staging]
web3.example.com
db2.example.com

[prod:children]
web
db

[lb]
lb1
`

func mustParse(t *testing.T, name, src string) *Inventory {
	t.Helper()
	inv, err := Parse(name, []byte(src))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return inv
}

func names(hosts []*Host) string {
	var out []string
	for _, h := range hosts {
		out = append(out, h.Name)
	}
	return strings.Join(out, " ")
}

func TestSelect(t *testing.T) {
	inv := mustParse(t, "hosts", patternINI)
	const (
		web   = "web1.example.com web2.example.com web3.example.com"
		db    = "db1.example.com db2.example.com"
		every = "bastion " + web + " " + db + " lb1"
	)
	tests := []struct {
		pattern, want, unmatched string
	}{
		{"all", every, ""},
		{"*", every, ""},
		{"web", web, ""},
		{"prod", web + " " + db, ""},
		{"ungrouped", "bastion", ""},
		{"bastion", "bastion", ""},
		{"web1.example.com", "web1.example.com", ""},
		{"web:db", web + " " + db, ""},
		{"web,db", web + " " + db, ""},
		{" web , db ", web + " " + db, ""},
		{"web db", web + " " + db, ""},
		{"db:web", web + " " + db, ""}, // inventory order, not pattern order
		{"prod:!staging", "web1.example.com web2.example.com db1.example.com", ""},
		{"!staging:prod", "web1.example.com web2.example.com db1.example.com", ""}, // exclusions apply last
		{"prod:&staging", "web3.example.com db2.example.com", ""},
		{"prod,&staging,!db", "web3.example.com", ""},
		{"!staging", "bastion web1.example.com web2.example.com db1.example.com lb1", ""},
		{"&web", web, ""},
		{"web*", web, ""},
		{"*.example.com", web + " " + db, ""},
		{"web[12].example.com", "web1.example.com web2.example.com", ""},
		{"db[!1]*", "db2.example.com", ""},
		{"lb?", "lb1", ""},
		{"LB1", "", "LB1"}, // case sensitive
		{`~db\d`, db, ""},
		{`~(web|db)`, web + " " + db, ""},
		{`~.*2`, "web2.example.com db2.example.com", ""},
		{"web[0]", "web1.example.com", ""},
		{"web[-1]", "web3.example.com", ""},
		{"web[1:]", "web2.example.com web3.example.com", ""},
		{"web[0:1]", "web1.example.com web2.example.com", ""},
		{"web[1:9]", "web2.example.com web3.example.com", ""},
		{"prod[3]", "db1.example.com", ""},
		{"prod[1:2]:db[0]", "web2.example.com web3.example.com db1.example.com", ""},
		{"web*[0]", "web1.example.com", ""},
		{"nosuch", "", "nosuch"},
		{"web:nosuch:!gone", web, "nosuch !gone"},
		{"nosuch[0]", "", "nosuch[0]"},
		{"localhost", "localhost", ""},
		{"web:localhost", web + " localhost", ""},
		{"127.0.0.1", "127.0.0.1", ""},
		{"::1", "::1", ""},
		{"local*", "", "local*"},
	}
	for _, tt := range tests {
		hosts, err := inv.Select(tt.pattern)
		if err != nil {
			t.Errorf("Select(%q): %v", tt.pattern, err)
			continue
		}
		if got := names(hosts); got != tt.want {
			t.Errorf("Select(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
		if got := strings.Join(inv.Unmatched(tt.pattern), " "); got != tt.unmatched {
			t.Errorf("Unmatched(%q) = %q, want %q", tt.pattern, got, tt.unmatched)
		}
	}
}

func TestSelectErrors(t *testing.T) {
	inv := mustParse(t, "hosts", patternINI)
	tests := []struct{ pattern, want string }{
		{"", `empty host pattern ""`},
		{" , ", `empty host pattern " , "`},
		{"!", `empty host pattern after '&' or '!'`},
		{"web:&", `empty host pattern after '&' or '!'`},
		{"~web(", "invalid host pattern \"~web(\": missing closing ): `^(?:web()`"},
		{"web[3]", `no hosts matched the subscripted pattern "web[3]": web has 3 hosts`},
		{"web[-4]", `no hosts matched the subscripted pattern "web[-4]": web has 3 hosts`},
		{"!web[7]", `no hosts matched the subscripted pattern "web[7]": web has 3 hosts`},
	}
	for _, tt := range tests {
		_, err := inv.Select(tt.pattern)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Select(%q) error = %v, want %s", tt.pattern, err, tt.want)
		}
		if inv.Match("web1.example.com", tt.pattern) {
			t.Errorf("Match(web1, %q) = true for a bad pattern", tt.pattern)
		}
	}
}

// TestHostWinsOverGroup: an exact host name selects the host even when a
// group has the same name; a glob matching the group takes the group.
func TestHostWinsOverGroup(t *testing.T) {
	inv := mustParse(t, "hosts", "z\n[db]\ndb\nother\n[x]\ny\n")
	for pattern, want := range map[string]string{"db": "db", "d?": "db other", "!db": "z y", "db:y": "db y"} {
		hosts, err := inv.Select(pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(hosts); got != want {
			t.Errorf("Select(%q) = %q, want %q", pattern, got, want)
		}
	}
}

func TestMatch(t *testing.T) {
	inv := mustParse(t, "hosts", patternINI)
	tests := []struct {
		host, pattern string
		want          bool
	}{
		{"web1.example.com", "prod:!staging", true},
		{"web3.example.com", "prod:!staging", false},
		{"db2.example.com", "prod:&staging", true},
		{"bastion", "all", true},
		{"bastion", "prod", false},
		{"localhost", "localhost", true},
		{"localhost", "all", false},
		{"nosuch", "all", false},
		{"web2.example.com", "web[1]", true},
		{"web1.example.com", "web[1]", false},
	}
	for _, tt := range tests {
		if got := inv.Match(tt.host, tt.pattern); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.host, tt.pattern, got, tt.want)
		}
	}
}

// TestMatchConcurrent: the engine may ask from many goroutines (run with
// -race).
func TestMatchConcurrent(t *testing.T) {
	inv := mustParse(t, "hosts", patternINI)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, h := range inv.Hosts() {
				want := strings.HasPrefix(h.Name, "web") || strings.HasPrefix(h.Name, "db")
				if inv.Match(h.Name, "prod") != want {
					t.Errorf("Match(%s, prod) != %v", h.Name, want)
				}
				if _, err := inv.Select("localhost:web"); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}

func TestSelectLimit(t *testing.T) {
	inv := mustParse(t, "hosts", patternINI)
	retry := filepath.Join(t.TempDir(), "site.retry")
	if err := os.WriteFile(retry, []byte("web2.example.com\n\ndb1.example.com\nlb1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty.retry")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ pattern, limit, want string }{
		{"prod", "", "web1.example.com web2.example.com web3.example.com db1.example.com db2.example.com"},
		{"prod", "staging", "web3.example.com db2.example.com"},
		{"prod", "web*:!web1*", "web2.example.com web3.example.com"},
		{"all", "@" + retry, "web2.example.com db1.example.com lb1"},
		{"web", "@" + retry, "web2.example.com"},
		{"all", "@" + empty, ""},
		{"all", "nosuch", ""},
	}
	for _, tt := range tests {
		hosts, err := inv.SelectLimit(tt.pattern, tt.limit)
		if err != nil {
			t.Errorf("SelectLimit(%q, %q): %v", tt.pattern, tt.limit, err)
			continue
		}
		if got := names(hosts); got != tt.want {
			t.Errorf("SelectLimit(%q, %q) = %q, want %q", tt.pattern, tt.limit, got, tt.want)
		}
	}
	if _, err := inv.SelectLimit("all", "~("); err == nil || !strings.HasPrefix(err.Error(), "limit: invalid host pattern") {
		t.Errorf("bad limit: %v", err)
	}
	if _, err := inv.SelectLimit("all", "@/nonexistent/retry"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing limit file: %v", err)
	}
	// SelectLimit must not disturb the cached selection of the pattern.
	if hosts, _ := inv.Select("prod"); len(hosts) != 5 {
		t.Errorf("Select(prod) after SelectLimit = %s", names(hosts))
	}
}

func TestSplitPattern(t *testing.T) {
	tests := map[string]string{
		"web":                  "web",
		"web:db":               "web|db",
		"web,db:x":             "web|db:x",
		"web[0:2]:db":          "web[0:2]|db",
		"a:b[1:3]:!c:&d":       "a|b[1:3]|!c|&d",
		"fe80::1":              "fe80::1",
		"2001:db8::10":         "2001:db8::10",
		" web , , db ":         "web|db",
		"web db\tlb":           "web|db|lb",
		"":                     "",
		"~web.*:db":            "~web.*|db",
		"10.0.0.1":             "10.0.0.1",
		"web1.example.com:web": "web1.example.com|web",
	}
	for in, want := range tests {
		if got := strings.Join(SplitPattern(in), "|"); got != want {
			t.Errorf("SplitPattern(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		glob, name string
		want       bool
	}{
		{"web*", "web1", true},
		{"web*", "aweb1", false},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.exampleXcom", false},
		{"w?b", "web", true},
		{"w?b", "weeb", false},
		{"[ab]*", "bx", true},
		{"[!ab]*", "bx", false},
		{"[!ab]*", "cx", true},
		{"[a-c]1", "b1", true},
		{"[]]x", "]x", true},
		{"[^]x", "^x", true},
		{"web[", "web[", true},
		{"a+b", "a+b", true},
		{"a+b", "aab", false},
		{"ünï*", "ünïcode", true},
		{`a\b`, `a\b`, true},
	}
	for _, tt := range tests {
		re := globRegexp(tt.glob)
		if got := mustCompile(t, re).MatchString(tt.name); got != tt.want {
			t.Errorf("glob %q (%s) on %q = %v, want %v", tt.glob, re, tt.name, got, tt.want)
		}
	}
}

func TestWriteHostList(t *testing.T) {
	inv := mustParse(t, "hosts", patternINI)
	hosts, _ := inv.Select("prod:&staging")
	var b strings.Builder
	if err := WriteHostList(&b, "  ", hosts); err != nil {
		t.Fatal(err)
	}
	want := "  hosts (2):\n    web3.example.com\n    db2.example.com\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	WriteHostList(&b, "", nil)
	if b.String() != "hosts (0):\n" {
		t.Errorf("empty: got %q", b.String())
	}
}
