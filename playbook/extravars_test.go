package playbook

import (
	"strings"
	"testing"
)

// TestDecided checks which expressions the -e values alone decide: only
// those reading nothing but them.
func TestDecided(t *testing.T) {
	extra := map[string]any{"state": "present", "n": 3.0, "on": true}
	for _, tc := range []struct {
		code string
		want bool
	}{
		{"state", true},
		{"n + 1", true},
		{"state | upper", true},
		{"on and n > 2", true},
		{"vars.state", true},
		{"vars['state']", true},
		{"missing | default('x')", false}, // a play variable, perhaps
		{"vars.missing", false},
		{"vars", false},
		{"item", false},
		{"facts.os_family", false},
		{"ansible_os_family == 'Debian'", false},
		{"state == other", false},
		{"state ==", false},
	} {
		if got := decided(tc.code, extra); got != tc.want {
			t.Errorf("decided(%q) = %v, want %v", tc.code, got, tc.want)
		}
	}
}

// TestCheckExtraVars checks a parsed playbook with -e values: the
// rendered values are decoded and validated as literal ones, at the
// template's place; undecided ones are left alone.
func TestCheckExtraVars(t *testing.T) {
	pb, err := Parse("site.yml", []byte(`- hosts: all
  tasks:
    - fake: {user: "{{ who }}", count: "{{ n }}"}
    - fake: {user: "{{ play_var }}", count: "{{ n }}"}
      when: who == 'alice'
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		extra map[string]any
		want  string
	}{
		{nil, ""},
		{map[string]any{"who": "alice", "n": 2}, ""},
		{map[string]any{"who": "alice", "n": -1}, "site.yml:3:40: fake: count: must not be negative (with the -e values)"},
		{map[string]any{"who": "bob", "n": "many"}, `site.yml:3:40: fake: count: expected an integer, found the string "many" (with the -e values)`},
		{map[string]any{"who": "alice", "n": "many"}, `site.yml:3:40: fake: count: expected an integer, found the string "many" (with the -e values)
site.yml:4:45: fake: count: expected an integer, found the string "many" (with the -e values)`},
	} {
		err := CheckExtraVars(pb, tc.extra)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("-e %v:\ngot  %s\nwant %s", tc.extra, got, tc.want)
		}
	}
}

// A no_log task's -e values stay out of validate's errors: the position
// and module are shown, the value is not.
func TestCheckExtraVarsNoLog(t *testing.T) {
	pb, err := Parse("site.yml", []byte(`- hosts: all
  tasks:
    - fake: {user: "{{ who }}", count: "{{ n }}"}
      no_log: true
    - block:
        - fake: {user: "{{ who }}", count: "{{ n }}"}
      no_log: true
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []any{"SECRET-1", -42} {
		err = CheckExtraVars(pb, map[string]any{"who": "alice", "n": n})
		if err == nil || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "42") {
			t.Fatalf("-e n=%v: got %v", n, err)
		}
		want := "site.yml:3:40: fake: count: invalid with the -e values (the value is hidden by no_log)"
		if !strings.Contains(err.Error(), want) {
			t.Errorf("-e n=%v: got %v, want %s", n, err, want)
		}
	}
}
