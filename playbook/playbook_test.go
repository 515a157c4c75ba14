package playbook

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/provision-tool/provision/tasks"
)

var update = flag.Bool("update", false, "rewrite testdata expectations")

type fakeArgs struct {
	User    string            `yaml:"user" required:"true"`
	Count   int64             `yaml:"count"`
	Enabled bool              `yaml:"enabled"`
	Names   []string          `yaml:"names"`
	Env     map[string]string `yaml:"env"`
	Mirrors []struct {
		Location string `yaml:"location" required:"true"`
	} `yaml:"mirrors"`
	Opt *bool  `yaml:"opt"`
	Raw string `yaml:"raw" render:"false"`
}

func (*fakeArgs) Check(context.Context, *tasks.System) (tasks.Plan, error) { return tasks.Plan{}, nil }
func (*fakeArgs) Apply(context.Context, *tasks.System, tasks.Plan) error   { return nil }
func (a *fakeArgs) Validate() error {
	if a.Count < 0 {
		return tasks.BadArg("count", "must not be negative")
	}
	return nil
}

func init() {
	tasks.Register(tasks.Module{Name: "fake", Summary: "a module for parser tests", New: func() tasks.Task { return new(fakeArgs) }})
}

// TestErrors runs every testdata/errors/*.txtar: a playbook.yml and the
// exact errors expected, one per line, sorted.
func TestErrors(t *testing.T) {
	files, _ := filepath.Glob("testdata/errors/*.txtar")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var src []byte
			for _, f := range ar.Files {
				if f.Name == "playbook.yml" {
					src = f.Data
				}
			}
			_, err = Parse("playbook.yml", src)
			got := ""
			if err != nil {
				got = err.Error() + "\n"
			}
			for i, f := range ar.Files {
				if f.Name == "errors" {
					if *update {
						ar.Files[i].Data = []byte(got)
						os.WriteFile(file, txtar.Format(ar), 0o644)
						return
					}
					if string(f.Data) != got {
						t.Errorf("errors:\n got:\n%s\nwant:\n%s", got, f.Data)
					}
				}
			}
		})
	}
}

func TestDecodeRendered(t *testing.T) {
	src := `
- hosts: all
  tasks:
    - fake:
        user: "{{ who }}"
        count: "{{ n * 2 }}"
        enabled: "{{ n > 1 }}"
        names: "{{ list }}"
        env: {A: "x-{{ who }}"}
        mirrors: [{location: "m/{{ who }}"}]
        raw: "hello {{ who }}"
`
	pb, err := Parse("p.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	task := pb.Plays[0].Tasks[0]
	scope := &Scope{Vars: map[string]any{"who": "alice", "n": 21, "list": []any{"a", "b"}}}
	var a fakeArgs
	if errs := DecodeArgs("p.yml", task.Args, &a, scope.Render); len(errs) > 0 {
		t.Fatal(errs)
	}
	if a.User != "alice" || a.Count != 42 || !a.Enabled || strings.Join(a.Names, ",") != "a,b" || a.Env["A"] != "x-alice" || a.Mirrors[0].Location != "m/alice" || a.Opt != nil || a.Raw != "hello {{ who }}" {
		t.Fatalf("decoded %+v", a)
	}
}

func TestRender(t *testing.T) {
	s := &Scope{Vars: map[string]any{"x": 3, "name": "bob", "m": map[string]any{"k": "v"}}, Facts: func() map[string]any {
		return map[string]any{"os": map[string]any{"family": "debian"}}
	}}
	cases := []struct {
		in   string
		want any
	}{
		{"{{ x }}", 3},
		{"  {{ x + 1 }} ", "  4 "},
		{"{{ name }}\n", "bob\n"},
		{"n={{ x }}", "n=3"},
		{"{{ name }}-{{ x }}", "bob-3"},
		{"{{ m.k }}", "v"},
		{"{{ facts.os.family == 'debian' ? 'uidmap' : 'shadow-utils' }}", "uidmap"},
		{"{{ vars.missing ?? 'dflt' }}", "dflt"},
		{"{{ default(vars.missing, 7) }}", 7},
		{"{{ name | upper() }}", "BOB"},
		{"plain", "plain"},
	}
	for _, c := range cases {
		got, err := s.Render(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if Stringify(got) != Stringify(c.want) {
			t.Errorf("%q = %#v, want %#v", c.in, got, c.want)
		}
	}
	if _, err := s.Render("{{ nosuch }}"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("undefined variable: %v", err)
	}
}

func TestSuggest(t *testing.T) {
	if got := Suggest("pakage", []string{"package", "file"}); got != ` (did you mean "package"?)` {
		t.Errorf("got %q", got)
	}
	if got := Suggest("zzzzzz", []string{"package", "file"}); got != "" {
		t.Errorf("got %q", got)
	}
}

// TestRenderedStringsConvert checks Ansible's conversion of rendered
// strings (-e key=value gives strings) for integer and boolean
// arguments, and that literal strings and other words stay errors.
func TestRenderedStringsConvert(t *testing.T) {
	src := `
- hosts: all
  tasks:
    - fake: {user: u, count: "{{ n }}", enabled: "{{ flag }}"}
`
	pb, err := Parse("p.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n, flag any
		count   int64
		enabled bool
		err     string
	}{
		{"5", "yes", 5, true, ""},
		{" 7 ", "True", 7, true, ""},
		{"-3", "off", -3, false, ""},
		{"0", "0", 0, false, ""},
		{"0x10", "yes", 0, false, `expected an integer, found the string "0x10"`},
		{"5", "maybe", 0, false, `expected true or false, found the string "maybe"`},
		{"five", "no", 0, false, `expected an integer, found the string "five"`},
	} {
		scope := &Scope{Vars: map[string]any{"n": tc.n, "flag": tc.flag}}
		var a fakeArgs
		errs := DecodeArgs("p.yml", pb.Plays[0].Tasks[0].Args, &a, scope.Render)
		switch {
		case tc.err == "" && len(errs) > 0:
			t.Errorf("n=%q flag=%q: %v", tc.n, tc.flag, errs)
		case tc.err != "" && (len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.err)):
			t.Errorf("n=%q flag=%q: errors %v, want %q", tc.n, tc.flag, errs, tc.err)
		case tc.err == "" && (a.Count != tc.count || a.Enabled != tc.enabled):
			t.Errorf("n=%q flag=%q: decoded count %d enabled %v", tc.n, tc.flag, a.Count, a.Enabled)
		}
	}
	_, err = Parse("p.yml", []byte(`- hosts: all
  tasks:
    - fake: {user: u, count: "12", enabled: "yes"}
`))
	if msg := fmt.Sprint(err); !strings.Contains(msg, `count: expected an integer, found the string "12"`) ||
		!strings.Contains(msg, `enabled: expected true or false, found the string "yes"`) {
		t.Errorf("literal strings for count and enabled: %v, want both refused", err)
	}
}
