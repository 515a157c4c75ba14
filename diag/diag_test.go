package diag

import "testing"

func TestErrorsSortAndRender(t *testing.T) {
	var es Errors
	es.Add(Pos{File: "b.yml", Line: 1, Col: 1}, "third")
	es.Add(Pos{File: "a.yml", Line: 9, Col: 2}, "second")
	es.Add(Pos{File: "a.yml", Line: 2}, "first %d", 1)
	es.Add(Pos{}, "no position")
	got := es.Sort().Error()
	want := "no position\na.yml:2: first 1\na.yml:9:2: second\nb.yml:1:1: third"
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestSuggest(t *testing.T) {
	cases := []struct{ word, want string }{
		{"pakage", ` (did you mean "package"?)`},
		{"subdi", ` (did you mean "subid"?)`},
		{"zzzzzz", ""},
		{"file", ""}, // an exact match is no suggestion
	}
	for _, c := range cases {
		if got := Suggest(c.word, []string{"package", "subid", "file"}); got != c.want {
			t.Errorf("Suggest(%q) = %q, want %q", c.word, got, c.want)
		}
	}
}
