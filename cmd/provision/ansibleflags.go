package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/provision-tool/provision/inventory"
	"github.com/provision-tool/provision/playbook"
)

// ansibleFlags are ansible-playbook's flags for the connection, become
// and what to run. The connection and become flags are defaults: a host's
// own inventory variable (ansible_user, ansible_become, ...) wins, as in
// Ansible.
type ansibleFlags struct {
	syntaxCheck, listTasks, listTags, step bool
	user, privateKey, sshCommonArgs        string
	connection                             string
	become                                 bool
	becomeUser                             string
	startAtTask                            string
}

// register adds the flags to fs.
func (a *ansibleFlags) register(fs *cmdFlags) {
	fs.BoolVar(&a.syntaxCheck, "syntax-check", false, "check the playbook's syntax (as validate does) and exit; no host is touched")
	fs.BoolVar(&a.listTasks, "list-tasks", false, "print the tasks each play would run, and exit")
	fs.BoolVar(&a.listTags, "list-tags", false, "print the tags of each play's tasks, and exit")
	fs.StringVarP(&a.user, "user", "u", "", "log in as this user on ssh hosts without ansible_user")
	fs.StringVar(&a.privateKey, "private-key", "", "ssh key file for hosts without ansible_ssh_private_key_file")
	fs.StringVar(&a.sshCommonArgs, "ssh-common-args", "", "extra ssh arguments for hosts without ansible_ssh_common_args")
	fs.StringVarP(&a.connection, "connection", "c", "", "connect with local, ssh or chroot to hosts without ansible_connection")
	fs.BoolVarP(&a.become, "become", "b", false, "run tasks as --become-user (root) on hosts without ansible_become")
	fs.StringVar(&a.becomeUser, "become-user", "", "with -b: the user to become (default root)")
	fs.StringVar(&a.startAtTask, "start-at-task", "", "skip the tasks before the first with this name")
	fs.BoolVar(&a.step, "step", false, "not supported: provision does not prompt before each task")
}

// check refuses flags that cannot be honoured.
func (a *ansibleFlags) check(chroot string) error {
	switch {
	case a.step:
		return errors.New("--step is not supported: provision does not prompt before each task (try --check, or --start-at-task)")
	case a.becomeUser != "" && !a.become:
		return errors.New("--become-user needs -b/--become")
	case a.connection != "" && chroot != "":
		return errors.New("-c/--connection and --chroot do not mix: --chroot is the connection")
	}
	switch a.connection {
	case "", inventory.ConnLocal, inventory.ConnSSH, inventory.ConnChroot:
	default:
		return fmt.Errorf("-c/--connection %q: want local, ssh or chroot", a.connection)
	}
	if _, err := splitArgs(a.sshCommonArgs); err != nil {
		return fmt.Errorf("--ssh-common-args: %v", err)
	}
	return nil
}

// checkPlaybook checks the flags that depend on the playbook.
func (a *ansibleFlags) checkPlaybook(pb *playbook.Playbook) error {
	if a.startAtTask == "" {
		return nil
	}
	for _, play := range pb.Plays {
		for _, t := range play.Tasks {
			if t.Name == a.startAtTask {
				return nil
			}
		}
	}
	return fmt.Errorf("--start-at-task %q: no task has that name", a.startAtTask)
}

// listing reports whether the run only lists (or checks syntax), and
// prints what it lists.
func (a *ansibleFlags) listing(w io.Writer, pb *playbook.Playbook) bool {
	switch {
	case a.syntaxCheck:
		fmt.Fprintf(w, "%s: ok\n", pb.File)
	case a.listTasks || a.listTags:
		listPlays(w, pb, a.listTasks)
	default:
		return false
	}
	return true
}

// listPlays prints each play and its tasks (tasks) or its tasks' tags,
// as ansible-playbook --list-tasks and --list-tags do.
func listPlays(w io.Writer, pb *playbook.Playbook, tasks bool) {
	fmt.Fprintf(w, "playbook: %s\n", pb.File)
	for i, play := range pb.Plays {
		fmt.Fprintf(w, "\n  play #%d (%s): %s\tTAGS: [%s]\n", i+1, play.Hosts, play.Name, strings.Join(play.Tags, ","))
		if tasks {
			fmt.Fprintln(w, "    tasks:")
		}
		var all []string
		seen := map[string]bool{}
		for _, t := range play.Tasks {
			if t.Meta != "" {
				continue
			}
			for _, tag := range t.Tags {
				if !seen[tag] {
					seen[tag] = true
					all = append(all, tag)
				}
			}
			if tasks {
				fmt.Fprintf(w, "      %s\tTAGS: [%s]\n", taskName(t), strings.Join(t.Tags, ","))
			}
		}
		if !tasks {
			fmt.Fprintf(w, "      TASK TAGS: [%s]\n", strings.Join(all, ","))
		}
	}
}

// taskName is a task's name, or its module's when it has none.
func taskName(t *playbook.Task) string {
	if t.Name != "" {
		return t.Name
	}
	return t.Module
}

// apply applies the flags to the targets, as defaults under each host's
// own variables. It fails when a flag would be honoured by no host.
func (a *ansibleFlags) apply(targets []target) error {
	ssh := false
	for i := range targets {
		t := &targets[i]
		a.applyConnection(t)
		if t.Connection == inventory.ConnSSH {
			ssh = true
			if err := a.applySSH(t); err != nil {
				return err
			}
		}
		a.applyBecome(t)
	}
	if !ssh && (a.user != "" || a.privateKey != "" || a.sshCommonArgs != "") {
		return errors.New("-u/--user, --private-key and --ssh-common-args are for ssh hosts, and no selected host connects with ssh")
	}
	return nil
}

// applyConnection sets -c on a host without ansible_connection.
func (a *ansibleFlags) applyConnection(t *target) {
	if a.connection == "" || hasVar(t, "ansible_connection") {
		return
	}
	t.Connection = a.connection
	if t.Address == "" {
		t.Address = t.Name
	}
	if a.connection == inventory.ConnChroot && !filepath.IsAbs(t.Address) && t.err == nil {
		t.err = fmt.Errorf("-c chroot: host %s needs ansible_host set to the image tree's absolute path, found %q", t.Name, t.Address)
	}
}

// applySSH sets -u, --private-key and --ssh-common-args on an ssh host
// without the matching variables.
func (a *ansibleFlags) applySSH(t *target) error {
	if a.user != "" && !hasVar(t, "ansible_user", "ansible_ssh_user") {
		t.User = a.user
	}
	if a.privateKey != "" && !hasVar(t, "ansible_private_key_file", "ansible_ssh_private_key_file") {
		t.KeyFile = a.privateKey
	}
	if a.sshCommonArgs != "" && !hasVar(t, "ansible_ssh_common_args") {
		args, err := splitArgs(a.sshCommonArgs)
		if err != nil {
			return fmt.Errorf("--ssh-common-args: %v", err)
		}
		t.SSHArgs = append(args, t.SSHArgs...)
	}
	return nil
}

// applyBecome sets -b and --become-user as the host's ansible_become and
// ansible_become_user, which the engine reads, unless the host sets them.
func (a *ansibleFlags) applyBecome(t *target) {
	if !a.become || hasVar(t, "ansible_become") {
		return
	}
	vars := map[string]any{}
	for k, v := range t.Vars {
		vars[k] = v
	}
	vars["ansible_become"] = true
	if a.becomeUser != "" && !hasVar(t, "ansible_become_user") {
		vars["ansible_become_user"] = a.becomeUser
	}
	t.Vars = vars
}

// hasVar reports whether the host sets one of keys (to something).
func hasVar(t *target, keys ...string) bool {
	for _, k := range keys {
		if v, ok := t.Vars[k]; ok && v != nil {
			return true
		}
	}
	return false
}
