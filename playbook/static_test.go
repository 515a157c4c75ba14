package playbook

import (
	"strings"
	"testing"
)

// TestStaticTemplates checks that a templated hosts and notify are
// rendered from extra vars and the play's vars before the run, and that
// what needs a host is refused with a message that says so.
func TestStaticTemplates(t *testing.T) {
	src := `- hosts: "{{ group }}"
  vars:
    svc: web
    name: "{{ svc }}d"
  tasks:
    - name: conf
      fake: {user: a}
      notify: "restart {{ name }}"
  handlers:
    - name: restart webd
      fake: {user: b}
`
	pb, err := ParseOptions("p.yml", []byte(src), Options{Vars: map[string]any{"group": "db"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := pb.Plays[0].Hosts; got != "db" {
		t.Errorf("hosts = %q, want db", got)
	}
	if got := pb.Plays[0].Tasks[0].Notify; len(got) != 1 || got[0] != "restart webd" {
		t.Errorf("notify = %q, want [restart webd]", got)
	}
	// Validate (no Options.Vars) checks syntax only.
	if _, err := Parse("p.yml", []byte(src)); err != nil {
		t.Errorf("validate: %v", err)
	}
	for _, c := range []struct{ src, vars, want string }{
		{strings.Replace(src, "{{ group }}", "{{ ansible_hostname }}", 1), "", `p.yml:1:10: hosts: "{{ ansible_hostname }}" cannot be rendered before the run`},
		{strings.Replace(src, "restart {{ name }}", "restart {{ item }}", 1), "", `p.yml:6:7: notify: "restart {{ item }}" cannot be rendered before the run: unknown name item`},
		{src, "nope", `p.yml:6:7: task "conf" notifies "restart nope"`},
	} {
		vars := map[string]any{"group": "db"}
		if c.vars != "" {
			vars["name"] = c.vars
		}
		_, err := ParseOptions("p.yml", []byte(c.src), Options{Vars: vars})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}
