package containers

import (
	"testing"
)

func TestSetTOMLString(t *testing.T) {
	cases := []struct {
		name, in, want string
		path           []string
		value          string
	}{
		{"replace keeps indent and comment", "[a]\n  k = 'x'   # why\n", "[a]\n  k = \"y\"   # why\n", []string{"a", "k"}, "y"},
		{"replace a multi-line value", "[a]\nk = \"\"\"\nx\n\"\"\"\nz = 1\n", "[a]\nk = \"y\"\nz = 1\n", []string{"a", "k"}, "y"},
		{"quoted key", "[a]\n\"k\" = \"x\"\n", "[a]\n\"k\" = \"y\"\n", []string{"a", "k"}, "y"},
		{"quoted table name", "[\"a\".b]\nz = 1\n", "[\"a\".b]\nz = 1\nk = \"y\"\n", []string{"a", "b", "k"}, "y"},
		{"same key in another table untouched", "[b]\nk = \"x\"\n[a]\n", "[b]\nk = \"x\"\n[a]\nk = \"y\"\n", []string{"a", "k"}, "y"},
		{"after commented example", "[a]\nz = 1\n# k = \"old default\"\n\nw = 2\n", "[a]\nz = 1\n# k = \"old default\"\nk = \"y\"\n\nw = 2\n", []string{"a", "k"}, "y"},
		{"example in another table is ignored", "[b]\n#k = \"x\"\n[a]\nz = 1\n", "[b]\n#k = \"x\"\n[a]\nz = 1\nk = \"y\"\n", []string{"a", "k"}, "y"},
		{"at end of file without newline", "[a]\nz = 1", "[a]\nz = 1\nk = \"y\"", []string{"a", "k"}, "y"},
		{"new table in an empty file", "", "[a.b]\nk = \"y\"\n", []string{"a", "b", "k"}, "y"},
		{"value needing escapes", "[a]\n", "[a]\nk = \"q\\\"\\\\\\t\"\n", []string{"a", "k"}, "q\"\\\t"},
		{"key needing quotes", "[a]\n", "[a]\n\"k.x\" = \"y\"\n", []string{"a", "k.x"}, "y"},
		{"inline table value is one statement", "[a]\np = {x = \"[b]\", y = 'k = 1'}\n", "[a]\np = {x = \"[b]\", y = 'k = 1'}\nk = \"y\"\n", []string{"a", "k"}, "y"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := setTOMLString(c.in, c.path, c.value)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got:\n%q\nwant:\n%q", got, c.want)
			}
			doc, err := decodeTOMLMap(got)
			if err != nil {
				t.Fatalf("result does not parse: %v", err)
			}
			if v, _ := lookupTOML(doc, c.path); v != c.value {
				t.Fatalf("decoded %v, want %q", v, c.value)
			}
		})
	}
}

func TestRemoveTOMLKey(t *testing.T) {
	in := "[a]\nk = [\n  1,\n  2,\n]\nz = 1 # keep\n[b]\nk = 3\n"
	got, err := removeTOMLKey(in, []string{"a", "k"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[a]\nz = 1 # keep\n[b]\nk = 3\n"; got != want {
		t.Fatalf("got %q", got)
	}
}

func TestParseStmtsRejectsWhatItCannotFollow(t *testing.T) {
	for _, in := range []string{"k = \"unterminated\n", "[a\n", "= 1\n", "k = '''never closed\n"} {
		if _, err := parseStmts(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
