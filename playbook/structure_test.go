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

// A link beside the playbook leading out of its directory is refused: its
// target was read and its first lines shown in errors.
func TestImportLinksStayInside(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "play")
	if err := os.MkdirAll(filepath.Join(dir, "roles/r/tasks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "secret"), []byte("root:$6$canaryhash:1:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"vars.yml", "tasks.yml", "roles/r/tasks/main.yml"} {
		if err := os.Symlink(filepath.Join(base, "secret"), filepath.Join(dir, l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "inside.yml"), []byte("- debug: {msg: hi}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("inside.yml", filepath.Join(dir, "alias.yml")); err != nil {
		t.Fatal(err)
	}
	src := `- hosts: all
  vars_files: [vars.yml]
  roles: [r]
  tasks:
    - import_tasks: tasks.yml
    - import_tasks: alias.yml
`
	_, err := Parse(filepath.Join(dir, "site.yml"), []byte(src))
	if err == nil {
		t.Fatal("accepted")
	}
	if strings.Contains(err.Error(), "canaryhash") {
		t.Errorf("the link's target was read:\n%v", err)
	}
	if n := strings.Count(err.Error(), "a link leads out of the playbook's directory"); n != 3 {
		t.Errorf("%d refusals, want 3 (alias.yml stays inside):\n%v", n, err)
	}
}
