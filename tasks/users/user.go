// Package users holds the modules that manage local accounts: user
// (useradd, usermod, userdel) and subid (/etc/subuid and /etc/subgid, with
// shadow's locking). Its exported parser and allocator for subordinate ID
// files are meant for other code too, such as the doctor.
package users

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/tasks"
)

// User makes a local user account present or absent with shadow's
// useradd, usermod and userdel.
type User struct {
	Name       string   `yaml:"name" required:"true" doc:"login name"`
	State      string   `yaml:"state" default:"present" enum:"present,absent" doc:"present or absent"`
	UID        *int64   `yaml:"uid" doc:"numeric user ID; unset: useradd picks one for a new user, an existing user keeps theirs"`
	Home       string   `yaml:"home" doc:"home directory; unset: /home/NAME for a new user, an existing user keeps theirs"`
	Shell      string   `yaml:"shell" doc:"login shell; unset: useradd's default for a new user, an existing user keeps theirs"`
	System     bool     `yaml:"system" doc:"create a system account (useradd -r); only used when the user is created"`
	CreateHome *bool    `yaml:"create_home" default:"true" doc:"create the home directory from /etc/skel when the user is created"`
	Groups     []string `yaml:"groups" doc:"supplementary groups (names or GIDs), exactly: the user joins these and leaves the others; unset leaves membership alone, an empty list leaves every group"`
}

func init() {
	tasks.Register(tasks.Module{
		Name:    "user",
		Summary: "make a local user account present or absent",
		Doc: `Creates, changes or removes a local account with shadow's own tools,
never by editing /etc/passwd: ` + "`useradd`" + `, ` + "`usermod`" + ` and ` + "`userdel`" + `,
run with the name after ` + "`--`" + `.

**How Check decides.** It looks the name up in /etc/passwd and the
supplementary groups in /etc/group. A missing user is planned with every
attribute it will get (home defaults to /home/NAME). For an existing user
only the arguments that are set are compared: ` + "`uid`" + `, ` + "`home`" + `,
` + "`shell`" + ` and ` + "`groups`" + ` (the exact set of supplementary groups). ` + "`system`" + `
and ` + "`create_home`" + ` only matter when the user is created.

**What Apply runs.** ` + "`useradd [-r] [-u UID] -d HOME [-s SHELL] -m|-M [-G GROUPS] -- NAME`" + `,
` + "`usermod [-u UID] [-d HOME] [-s SHELL] [-G GROUPS] -- NAME`" + ` or ` + "`userdel -- NAME`" + `.

**Caveats.** A changed home is not moved (no ` + "`usermod -m`" + `), and ` + "`userdel`" + `
keeps the home directory and mail spool. usermod and userdel refuse users
with running processes. On hosts where /etc/subuid exists, useradd also
gives a new non-system user subordinate ID ranges; the ` + "`subid`" + ` module
keeps such a range when it is adequate. Users served by NSS (LDAP, SSSD)
are not seen.`,
		Example: `- name: create alice
  user:
    name: alice
    shell: /bin/bash
    groups: [users]
- name: remove the old build account
  user:
    name: builder
    state: absent`,
		New: func() tasks.Task { return new(User) },
	})
}

// Validate checks the arguments.
func (u *User) Validate() error {
	if err := checkAccountName("name", u.Name); err != nil {
		return err
	}
	switch u.State {
	case "", "present", "absent":
	default:
		return tasks.BadArg("state", fmt.Sprintf("state must be present or absent, not %q", u.State))
	}
	if u.UID != nil && (*u.UID < 0 || *u.UID >= IDLimit-1) {
		return tasks.BadArg("uid", fmt.Sprintf("uid %d is out of range", *u.UID))
	}
	for _, a := range []struct{ arg, v string }{{"home", u.Home}, {"shell", u.Shell}} {
		if a.v == "" {
			continue
		}
		if !path.IsAbs(a.v) {
			return tasks.BadArg(a.arg, fmt.Sprintf("%s %q is not an absolute path", a.arg, a.v))
		}
		if strings.ContainsAny(a.v, ":\n") {
			return tasks.BadArg(a.arg, fmt.Sprintf("%s %q contains a colon or a newline", a.arg, a.v))
		}
	}
	for _, g := range u.Groups {
		if err := checkAccountName("groups", g); err != nil {
			return err
		}
	}
	return nil
}

// checkAccountName refuses names that would become options, break the
// colon-separated files or read as numbers.
func checkAccountName(arg, name string) error {
	switch {
	case name == "":
		return tasks.BadArg(arg, "a name is required")
	case name[0] == '-' || name[0] == '+':
		return tasks.BadArg(arg, fmt.Sprintf("name %q may not start with %q", name, name[:1]))
	case name == "." || name == "..":
		return tasks.BadArg(arg, fmt.Sprintf("name %q is not allowed", name))
	case strings.ContainsAny(name, ":,/"):
		return tasks.BadArg(arg, fmt.Sprintf("name %q contains ':', ',' or '/'", name))
	case arg == "name" && strings.Trim(name, "0123456789") == "":
		return tasks.BadArg(arg, fmt.Sprintf("name %q is all digits and would read as a UID", name))
	}
	for _, c := range name {
		if c <= ' ' || c == 0x7f || c == 0x85 || c == 0xa0 {
			return tasks.BadArg(arg, fmt.Sprintf("name %q contains whitespace or a control character", name))
		}
	}
	return nil
}

func (u *User) state() string {
	if u.State == "" {
		return "present"
	}
	return u.State
}

func (u *User) home() string {
	if u.Home == "" {
		return "/home/" + u.Name
	}
	return u.Home
}

// userData is what Check hands Apply: the command to run.
type userData struct {
	Argv []string
}

// Check compares the account with the arguments.
func (u *User) Check(ctx context.Context, sys *tasks.System) (tasks.Plan, error) {
	var p tasks.Plan
	if err := u.Validate(); err != nil {
		return p, err
	}
	users, err := sys.Facts.Users()
	if err != nil {
		return p, fmt.Errorf("read users: %w", err)
	}
	var cur *facts.User
	for i := range users {
		if users[i].Name == u.Name {
			cur = &users[i]
			break
		}
	}
	if u.state() == "absent" {
		if cur != nil {
			p.Add("state", "present", "absent")
			p.Data = userData{Argv: []string{"userdel", "--", u.Name}}
		}
		return p, nil
	}
	var groups []string
	if u.Groups != nil {
		if groups, err = resolveGroups(sys, u.Groups); err != nil {
			return tasks.Plan{}, err
		}
	}
	if cur == nil {
		argv := []string{"useradd"}
		p.Add("state", "absent", "present")
		if u.System {
			argv = append(argv, "-r")
		}
		if u.UID != nil {
			p.Add("uid", "", strconv.FormatInt(*u.UID, 10))
			argv = append(argv, "-u", strconv.FormatInt(*u.UID, 10))
		}
		p.Add("home", "", u.home())
		argv = append(argv, "-d", u.home())
		if u.Shell != "" {
			p.Add("shell", "", u.Shell)
			argv = append(argv, "-s", u.Shell)
		}
		if u.CreateHome == nil || *u.CreateHome {
			argv = append(argv, "-m")
		} else {
			argv = append(argv, "-M")
		}
		if len(groups) > 0 {
			p.Add("groups", "", strings.Join(groups, ","))
			argv = append(argv, "-G", strings.Join(groups, ","))
		}
		p.Data = userData{Argv: append(argv, "--", u.Name)}
		return p, nil
	}
	argv := []string{"usermod"}
	if u.UID != nil && *u.UID != cur.UID {
		p.Add("uid", strconv.FormatInt(cur.UID, 10), strconv.FormatInt(*u.UID, 10))
		argv = append(argv, "-u", strconv.FormatInt(*u.UID, 10))
	}
	if u.Home != "" && u.Home != cur.Home {
		p.Add("home", cur.Home, u.Home)
		argv = append(argv, "-d", u.Home)
	}
	if u.Shell != "" && u.Shell != cur.Shell {
		p.Add("shell", cur.Shell, u.Shell)
		argv = append(argv, "-s", u.Shell)
	}
	if u.Groups != nil {
		have, err := memberOf(sys, u.Name)
		if err != nil {
			return tasks.Plan{}, err
		}
		if strings.Join(have, ",") != strings.Join(groups, ",") {
			p.Add("groups", strings.Join(have, ","), strings.Join(groups, ","))
			argv = append(argv, "-G", strings.Join(groups, ","))
		}
	}
	if !p.Empty() {
		p.Data = userData{Argv: append(argv, "--", u.Name)}
	}
	return p, nil
}

// resolveGroups turns group names or GIDs into sorted, unique names.
func resolveGroups(sys *tasks.System, want []string) ([]string, error) {
	all, err := sys.Facts.Groups()
	if err != nil {
		return nil, fmt.Errorf("read groups: %w", err)
	}
	seen := map[string]bool{}
	out := []string{}
	for _, w := range want {
		name := ""
		for _, g := range all {
			if g.Name == w {
				name = g.Name
				break
			}
		}
		if name == "" && isCanonicalNumber(w) {
			for _, g := range all {
				if strconv.FormatInt(g.GID, 10) == w {
					name = g.Name
					break
				}
			}
		}
		if name == "" {
			return nil, fmt.Errorf("group %s does not exist", w)
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// memberOf returns the sorted names of the groups that list user as a
// member in /etc/group.
func memberOf(sys *tasks.System, user string) ([]string, error) {
	all, err := sys.Facts.Groups()
	if err != nil {
		return nil, fmt.Errorf("read groups: %w", err)
	}
	out := []string{}
	for _, g := range all {
		for _, m := range g.Members {
			if m == user {
				out = append(out, g.Name)
				break
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Apply runs the useradd, usermod or userdel command Check planned.
func (u *User) Apply(ctx context.Context, sys *tasks.System, p tasks.Plan) error {
	d, ok := p.Data.(userData)
	if !ok || len(d.Argv) == 0 {
		return errors.New("user: plan has no command from check")
	}
	_, err := sys.RunOK(ctx, tasks.Cmd{Argv: d.Argv})
	return err
}

var _ tasks.Task = (*User)(nil)
