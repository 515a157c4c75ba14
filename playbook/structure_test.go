package playbook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBlockAndImportInherit: a block's and an import's when, tags, vars
// and become_user reach their tasks; pre_tasks and tasks end with a
// handler flush; imported files keep their own positions.
func TestBlockAndImportInherit(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "more.yml"), []byte("- fake: {user: c}\n  when: inner\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `- hosts: all
  pre_tasks:
    - fake: {user: p}
  tasks:
    - block:
        - fake: {user: a}
          tags: [own]
      when: outer | bool
      tags: [blk]
      become_user: bob
      vars: {v: 1}
    - import_tasks: more.yml
      when: imported
`
	pb, err := Parse(filepath.Join(dir, "site.yml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ts := pb.Plays[0].Tasks
	var got []string
	for _, x := range ts {
		var conds []string
		for _, c := range x.When {
			conds = append(conds, c.Expr)
		}
		got = append(got, x.DisplayName()+"|"+strings.Join(conds, "&")+"|"+strings.Join(x.Tags, ",")+"|"+x.BecomeUser)
	}
	want := "fake|||;meta: flush_handlers|||;fake|outer | bool|blk,own|bob;fake|imported&inner||;meta: flush_handlers|||"
	if strings.Join(got, ";") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, ";"), want)
	}
	if ts[2].Vars == nil || ts[3].Pos.File != filepath.Join(dir, "more.yml") || ts[3].Pos.Line != 1 {
		t.Errorf("vars %v, imported task at %v", ts[2].Vars, ts[3].Pos)
	}
	if pb.Sources["more.yml"] == nil {
		t.Error("imported file not kept for remote hosts")
	}
}

// TestImportsStayInside: imports cannot leave the playbook's directory,
// and a cycle ends with an error.
func TestImportsStayInside(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "loop.yml"), []byte("- import_tasks: loop.yml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `- hosts: all
  vars_files: [../secrets.yml]
  tasks:
    - import_tasks: /etc/tasks.yml
    - import_role: {name: r, tasks_from: ../../../../etc/x}
    - import_tasks: loop.yml
`
	_, err := Parse(filepath.Join(dir, "site.yml"), []byte(src))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`site.yml:2:15: "../secrets.yml": a file a playbook names must stay inside`,
		`site.yml:4:21: "/etc/tasks.yml": a file a playbook names must be relative`,
		`site.yml:5:20: "../etc/x.yml": a file a playbook names must stay inside`,
		`imports nest deeper than 16`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
