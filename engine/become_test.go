package engine

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/provision-tool/provision/tasks"
	_ "github.com/provision-tool/provision/tasks/command"
	"github.com/provision-tool/provision/tasks/taskstest"
)

// userRunner records the user each command runs as.
type userRunner struct {
	mu    sync.Mutex
	users []string
}

func (u *userRunner) Run(_ context.Context, c tasks.Cmd) (tasks.Result, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	user := c.User
	if user == "" {
		user = "root"
	}
	u.users = append(u.users, c.Argv[len(c.Argv)-1]+"="+user)
	return tasks.Result{}, nil
}

const becomePB = `
- name: p
  hosts: all
  vars:
    who: carol
  tasks:
    - command: {argv: [true, task]}
      become_user: "{{ who }}"
    - command: {argv: [true, play]}
  become_user: bob
- name: q
  hosts: all
  tasks:
    - command: {argv: [true, inventory]}
    - command: {argv: [true, override]}
      become_user: root
`

func TestBecomeUserFromTaskPlayAndInventory(t *testing.T) {
	sys, _ := taskstest.New(t)
	run := &userRunner{}
	sys.Runner = run
	rec, _ := runPB(t, sys, becomePB, Options{HostVars: map[string]any{"ansible_become": "yes", "ansible_become_user": "dave"}})
	if strings.Contains(rec.statuses(), "failed") {
		t.Fatalf("statuses: %s %+v", rec.statuses(), rec.events)
	}
	if got, want := strings.Join(run.users, " "), "task=carol play=bob inventory=dave override=root"; got != want {
		t.Fatalf("ran %s, want %s", got, want)
	}
	run.users = nil
	runPB(t, sys, becomePB, Options{HostVars: map[string]any{"ansible_become": false, "ansible_become_user": "dave"}})
	if got, want := strings.Join(run.users, " "), "task=carol play=bob inventory=root override=root"; got != want {
		t.Fatalf("without ansible_become: ran %s, want %s", got, want)
	}
}
