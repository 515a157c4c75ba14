package engine

import (
	"fmt"
	"strings"

	"github.com/provision-tool/provision/playbook"
)

// becomeUser is the user t's commands run as: the task's become_user, else
// the play's (the parser copies it into every task without one), else the
// inventory's ansible_become_user when ansible_become is true (host or
// play variables, as Ansible reads them); "" or "root" means root, as the
// agent runs. A templated name is rendered with the task's variables.
func (r *runner) becomeUser(t *playbook.Task, scope *playbook.Scope) (string, error) {
	u := t.BecomeUser
	if u == "" && truthy(scope.Vars["ansible_become"]) {
		s, ok := scope.Vars["ansible_become_user"].(string)
		if !ok && scope.Vars["ansible_become_user"] != nil {
			return "", fmt.Errorf("ansible_become_user: want a user name, found %s", playbook.Stringify(scope.Vars["ansible_become_user"]))
		}
		u = s
	}
	if !playbook.HasTemplate(u) {
		return u, nil
	}
	rendered, err := scope.RenderString(u)
	if err != nil {
		return "", fmt.Errorf("become_user: %w", err)
	}
	if rendered == "" {
		return "", fmt.Errorf("become_user: %q renders as an empty name", u)
	}
	return rendered, nil
}

// truthy reads a boolean as Ansible's boolean() does; anything else is
// false.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int:
		return x == 1
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "y", "yes", "on", "1", "true", "t":
			return true
		}
	}
	return false
}
