package diag

import (
	"errors"
	"io/fs"
	"testing"
)

func TestAppendFlattensAndPrintsLines(t *testing.T) {
	var list Errors
	list.Add(Pos{File: "a.yml", Line: 1, Col: 2}, "first")
	list.Add(Pos{File: "a.yml", Line: 3, Col: 4}, "second")
	m := Append(nil, nil, list, nil)
	m = Append(m, fs.ErrNotExist)
	if len(m.Errors) != 3 {
		t.Fatalf("got %d errors, want 3 (each of the list, then the other)", len(m.Errors))
	}
	want := "a.yml:1:2: first\na.yml:3:4: second\nfile does not exist"
	if got := m.Error(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if !errors.Is(m, fs.ErrNotExist) {
		t.Error("errors.Is does not see a gathered error")
	}
	var e *Error
	if !errors.As(m, &e) || e.Msg != "first" {
		t.Errorf("errors.As gives %v, want the first problem", e)
	}
}

func TestJoinOfNothingIsNil(t *testing.T) {
	if err := Join(nil, Errors{}); err != nil {
		t.Fatalf("Join of no errors = %v, want nil", err)
	}
	if Append(nil) != nil {
		t.Fatal("Append of nothing is not nil")
	}
}
