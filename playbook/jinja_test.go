package playbook

import (
	"reflect"
	"strings"
	"testing"
)

func jinjaScope() *Scope {
	return &Scope{
		Vars: map[string]any{
			"flag": "yes", "users": []any{"alice", "bob"}, "name": "Alice", "count": "42",
			"res": map[string]any{"changed": true, "failed": false}, "opts": map[string]any{"a": 1},
			"empty": "",
		},
		Facts: func() map[string]any {
			return map[string]any{"os": map[string]any{"id": "debian", "family": "debian", "version_id": "12.5"},
				"arch": "x86_64", "hostname": "box", "user_id": "root", "kernel": "6.1", "package_manager": "apt"}
		},
	}
}

// TestJinjaExpressions covers what Ansible users write in {{ }} and when:.
func TestJinjaExpressions(t *testing.T) {
	cases := []struct {
		code string
		want any
	}{
		{"missing | default('y')", "y"},
		{"missing | default(true) | bool", true},
		{"missing.deep | d(3)", 3},
		{"name | default('y')", "Alice"},
		{"empty | default('x', true)", "x"},
		{"flag | bool", true},
		{"not flag | bool", false},
		{"users | join(',')", "alice,bob"},
		{"users | join('\n')", "alice\nbob"}, // a line break in a string (YAML "\n" gives one)
		{"users | join('\t')", "alice\tbob"},
		{"name | lower", "alice"},
		{"name|upper", "ALICE"},
		{"opts | to_json", `{"a":1}`},
		{"count | int + 1", 43},
		{"users | length", 2},
		{"users | length > 1 and flag | bool", true},
		{"name is defined", true},
		{"missing is defined", false},
		{"missing is not defined", true},
		{"missing.x is undefined", true},
		{"res is changed", true},
		{"res is not failed", true},
		{"True and not False", true},
		{"None is none", true},
		{"'a|b' | upper", "A|B"},
		{"users | filter(# != 'bob') | join(',')", "alice"},
		{"vars.missing ?? 'z'", "z"},
		{"ansible_os_family == 'Debian' and ansible_distribution_major_version | int >= 12", true},
		{"ansible_distribution", "Debian"},
		{"ansible_facts.architecture", "x86_64"},
		{"'host-' ~ ansible_hostname ~ '.' ~ users[0] | upper", "host-box.ALICE"},
		{"count ~ 1", "421"},
		{"'li' in name", true},
		{"'x' not in users", true},
		{"not 'z' in name and 'alice' in users", true},
		{"'ALICE' in users | map('upper')", true},
		{"'a' in opts and (flag | bool) and ('Al' in name)", true},
		{"ansible_distribution in ['Debian', 'Ubuntu']", true},
		{"[1 in [1, 2], 'q' in name]", []any{true, false}},
		{"[{'n': 'a'}, {'n': 'b'}] | map(attribute='n') | join(',')", "a,b"},
		{"users | map('upper') | join(',')", "ALICE,BOB"},
		{"'a' if flag | bool else 'b'", "a"},
		{"'a' if missing is defined else name | lower", "alice"},
		{"users | join('-' if true else '+')", "alice-bob"},
		{"'x' if false", nil},
		{"if flag == 'yes' { 'expr' } else { 'no' }", "expr"},
		{"(name ~ '!') | lower", "alice!"},
	}
	for _, c := range cases {
		got, err := jinjaScope().Eval(c.code)
		if err != nil {
			t.Errorf("%s: %v", c.code, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.code, got, c.want)
		}
	}
}

// TestJinjaErrors: unknown filters and tests are errors at validate time,
// with a hint; undefined variables without default stay errors.
func TestJinjaErrors(t *testing.T) {
	for code, want := range map[string]string{
		"x | lowr":        `unknown filter "lowr" (did you mean "lower"?)`,
		"x is defind":     `unknown test "defind" (did you mean "defined"?)`,
		"x | ":            "expected a filter name after |",
		"'unterminated":   "unterminated string",
		"x | default(1":   "unclosed (",
		"x | nosuchfn(1)": `unknown filter "nosuchfn"`,
	} {
		err := CheckExpr(code)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckExpr(%q) = %v, want %q", code, err, want)
		}
	}
	if _, err := jinjaScope().Eval("missing"); err == nil {
		t.Error("an undefined variable without default evaluated")
	}
	if err := CheckTemplate("{{ users | join(', ') }} and {{ missing | default('x') | upper }}"); err != nil {
		t.Error(err)
	}
}

// TestJinjaRenderedDataStaysData: a filter's result is data, never
// rendered again.
func TestJinjaRenderedDataStaysData(t *testing.T) {
	s := jinjaScope()
	s.Vars["evil"] = "{{ name }}"
	got, err := s.RenderString("x{{ evil | default('') | upper }}")
	if err != nil || got != "x{{ NAME }}" {
		t.Errorf("got %q, %v", got, err)
	}
}

// TestOmit: `{{ x | default(omit) }}` leaves the argument out.
func TestOmit(t *testing.T) {
	var a struct {
		Mode string `yaml:"mode"`
		Dest string `yaml:"dest"`
	}
	a.Mode = "keep"
	n := ValueNode(map[string]any{"mode": "{{ missing | default(omit) }}", "dest": "{{ name | default(omit) }}"})
	if errs := DecodeArgs("p.yml", n, &a, jinjaScope().Render); len(errs) > 0 {
		t.Fatal(errs)
	}
	if a.Mode != "keep" || a.Dest != "Alice" {
		t.Errorf("mode %q dest %q", a.Mode, a.Dest)
	}
}

// FuzzJinja: the front end never panics, and what it accepts compiles or
// fails with an error, never a crash.
func FuzzJinja(f *testing.F) {
	for _, s := range []string{"x | default('y') | bool", "a is not defined and b ~ c", "'a' if b else c",
		"users | map(attribute='n') | join(',')", "(x ~ y) | lower", "f(a, b if c else d)", "x |", "~", "is"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		if len(code) > 200 {
			return
		}
		_ = CheckExpr(code)
	})
}
