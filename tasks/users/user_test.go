package users

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

// fakeShadow answers useradd, usermod and userdel by editing the temp
// root's /etc/passwd and /etc/group, as the real programs would.
type fakeShadow struct {
	t    *testing.T
	sys  *tasks.System
	tick int
}

func newUserHost(t *testing.T, passwd, group string) (*tasks.System, *taskstest.FakeRunner) {
	t.Helper()
	sys, run := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/etc/passwd", passwd)
	taskstest.WriteFile(t, sys, "/etc/group", group)
	fs := &fakeShadow{t: t, sys: sys}
	run.On("useradd", fs.useradd)
	run.On("usermod", fs.usermod)
	run.On("userdel", fs.userdel)
	return sys, run
}

func (f *fakeShadow) read(p string) [][]string {
	var out [][]string
	for _, l := range strings.Split(strings.TrimSuffix(taskstest.ReadFile(f.t, f.sys, p), "\n"), "\n") {
		if l != "" {
			out = append(out, strings.Split(l, ":"))
		}
	}
	return out
}

// write replaces a file and moves its mtime on, so that the facts cache
// notices even a same-size rewrite within one clock tick.
func (f *fakeShadow) write(p string, rows [][]string) {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(r, ":") + "\n")
	}
	taskstest.WriteFile(f.t, f.sys, p, b.String())
	f.tick++
	mt := time.Now().Add(time.Duration(f.tick) * time.Second)
	if err := os.Chtimes(f.sys.MustPath(p), mt, mt); err != nil {
		f.t.Fatal(err)
	}
}

// parse splits argv into flags with values and the name after "--".
func parse(argv []string) (map[string]string, string, error) {
	flags := map[string]string{}
	for i := 1; i < len(argv); i++ {
		switch a := argv[i]; a {
		case "--":
			if i != len(argv)-2 {
				return nil, "", errors.New("want exactly one name after --")
			}
			return flags, argv[i+1], nil
		case "-r", "-m", "-M":
			flags[a] = ""
		case "-u", "-d", "-s", "-G":
			i++
			flags[a] = argv[i]
		default:
			return nil, "", fmt.Errorf("unknown option %s", a)
		}
	}
	return nil, "", errors.New("no -- before the name")
}

func fail(msg string, code int) tasks.Result { return tasks.Result{Stderr: msg, ExitCode: code} }

func (f *fakeShadow) setGroups(name string, list string, groups [][]string) [][]string {
	want := map[string]bool{}
	if list != "" {
		for _, g := range strings.Split(list, ",") {
			want[g] = true
		}
	}
	for _, g := range groups {
		var members []string
		for _, m := range strings.Split(g[3], ",") {
			if m != "" && m != name {
				members = append(members, m)
			}
		}
		if want[g[0]] {
			members = append(members, name)
		}
		g[3] = strings.Join(members, ",")
	}
	return groups
}

func (f *fakeShadow) useradd(c tasks.Cmd) tasks.Result {
	flags, name, err := parse(c.Argv)
	if err != nil {
		return fail("useradd: "+err.Error(), 2)
	}
	users, groups := f.read("/etc/passwd"), f.read("/etc/group")
	for _, u := range users {
		if u[0] == name {
			return fail(fmt.Sprintf("useradd: user '%s' already exists", name), 9)
		}
	}
	uid := 1000
	for _, u := range users {
		if n, _ := strconv.Atoi(u[2]); n >= uid && n < 60000 {
			uid = n + 1
		}
	}
	if v, ok := flags["-u"]; ok {
		uid, _ = strconv.Atoi(v)
	}
	shell := flags["-s"]
	if shell == "" {
		shell = "/bin/sh"
	}
	id := strconv.Itoa(uid)
	users = append(users, []string{name, "x", id, id, "", flags["-d"], shell})
	groups = append(groups, []string{name, "x", id, ""})
	if v, ok := flags["-G"]; ok {
		groups = f.setGroups(name, v, groups)
	}
	f.write("/etc/passwd", users)
	f.write("/etc/group", groups)
	if hasKey(flags, "-m") {
		if err := os.MkdirAll(f.sys.MustPath(flags["-d"]), 0o700); err != nil {
			f.t.Fatal(err)
		}
	}
	return tasks.Result{}
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

func (f *fakeShadow) usermod(c tasks.Cmd) tasks.Result {
	flags, name, err := parse(c.Argv)
	if err != nil {
		return fail("usermod: "+err.Error(), 2)
	}
	users := f.read("/etc/passwd")
	found := false
	for _, u := range users {
		if u[0] != name {
			continue
		}
		found = true
		if v, ok := flags["-u"]; ok {
			u[2] = v
		}
		if v, ok := flags["-d"]; ok {
			u[5] = v
		}
		if v, ok := flags["-s"]; ok {
			u[6] = v
		}
	}
	if !found {
		return fail(fmt.Sprintf("usermod: user '%s' does not exist", name), 6)
	}
	f.write("/etc/passwd", users)
	if v, ok := flags["-G"]; ok {
		f.write("/etc/group", f.setGroups(name, v, f.read("/etc/group")))
	}
	return tasks.Result{}
}

func (f *fakeShadow) userdel(c tasks.Cmd) tasks.Result {
	_, name, err := parse(c.Argv)
	if err != nil {
		return fail("userdel: "+err.Error(), 2)
	}
	var users, groups [][]string
	for _, u := range f.read("/etc/passwd") {
		if u[0] != name {
			users = append(users, u)
		}
	}
	for _, g := range f.setGroups(name, "", f.read("/etc/group")) {
		if g[0] != name {
			groups = append(groups, g)
		}
	}
	f.write("/etc/passwd", users)
	f.write("/etc/group", groups)
	return tasks.Result{}
}

const (
	baseUsers  = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n"
	baseGroups = "root:x:0:\nalice:x:1000:\nusers:x:100:alice\nwheel:x:10:\ndocker:x:998:alice\n"
)

func ptr[T any](v T) *T { return &v }

func userCheck(t *testing.T, sys *tasks.System, run *taskstest.FakeRunner, u *User) tasks.Plan {
	t.Helper()
	p := check(t, sys, u)
	if calls := run.Commands(); len(calls) != 0 {
		t.Fatalf("check ran %q", calls)
	}
	return p
}

func TestUserCreate(t *testing.T) {
	sys, run := newUserHost(t, baseUsers, baseGroups)
	u := &User{Name: "bob", Shell: "/bin/zsh", Groups: []string{"wheel", "users", "10"}}
	p := userCheck(t, sys, run, u)
	want := []tasks.Change{
		{Field: "state", Before: "absent", After: "present"},
		{Field: "home", Before: "", After: "/home/bob"},
		{Field: "shell", Before: "", After: "/bin/zsh"},
		{Field: "groups", Before: "", After: "users,wheel"},
	}
	if !reflect.DeepEqual(p.Changes, want) {
		t.Fatalf("plan:\n got %+v\nwant %+v", p.Changes, want)
	}
	taskstest.Converge(t, sys, u)
	if got, want := run.Commands(), []string{"useradd -d /home/bob -s /bin/zsh -m -G users,wheel -- bob"}; !reflect.DeepEqual(got, want) {
		t.Errorf("commands %q, want %q", got, want)
	}
	if !strings.Contains(taskstest.ReadFile(t, sys, "/etc/passwd"), "bob:x:1001:1001::/home/bob:/bin/zsh\n") {
		t.Errorf("passwd: %s", taskstest.ReadFile(t, sys, "/etc/passwd"))
	}
}

func TestUserCreateAllOptions(t *testing.T) {
	sys, run := newUserHost(t, baseUsers, baseGroups)
	u := &User{Name: "svc", UID: ptr(int64(990)), Home: "/var/lib/svc", System: true, CreateHome: ptr(false)}
	p := userCheck(t, sys, run, u)
	if got := p.String(); got != "state: absent -> present; uid: (absent) -> 990; home: (absent) -> /var/lib/svc" {
		t.Errorf("plan %s", got)
	}
	taskstest.Converge(t, sys, u)
	if got, want := run.Commands(), []string{"useradd -r -u 990 -d /var/lib/svc -M -- svc"}; !reflect.DeepEqual(got, want) {
		t.Errorf("commands %q, want %q", got, want)
	}
	if _, err := os.Stat(sys.MustPath("/var/lib/svc")); !os.IsNotExist(err) {
		t.Error("home created despite create_home: false")
	}
}

func TestUserUnchanged(t *testing.T) {
	sys, run := newUserHost(t, baseUsers, baseGroups)
	for _, u := range []*User{
		{Name: "alice"},
		{Name: "alice", State: "present", UID: ptr(int64(1000)), Home: "/home/alice", Shell: "/bin/bash", Groups: []string{"docker", "users"}},
		{Name: "alice", System: true, CreateHome: ptr(false)}, // only matter on creation
		{Name: "nobody", State: "absent"},
	} {
		if p := userCheck(t, sys, run, u); !p.Empty() {
			t.Errorf("%+v: plan %s", u, p)
		}
	}
}

func TestUserModify(t *testing.T) {
	sys, run := newUserHost(t, baseUsers, baseGroups)
	u := &User{Name: "alice", UID: ptr(int64(1500)), Home: "/srv/alice", Shell: "/bin/zsh", Groups: []string{"wheel", "docker"}}
	p := userCheck(t, sys, run, u)
	want := []tasks.Change{
		{Field: "uid", Before: "1000", After: "1500"},
		{Field: "home", Before: "/home/alice", After: "/srv/alice"},
		{Field: "shell", Before: "/bin/bash", After: "/bin/zsh"},
		{Field: "groups", Before: "docker,users", After: "docker,wheel"},
	}
	if !reflect.DeepEqual(p.Changes, want) {
		t.Fatalf("plan:\n got %+v\nwant %+v", p.Changes, want)
	}
	taskstest.Converge(t, sys, u)
	if got, want := run.Commands(), []string{"usermod -u 1500 -d /srv/alice -s /bin/zsh -G docker,wheel -- alice"}; !reflect.DeepEqual(got, want) {
		t.Errorf("commands %q, want %q", got, want)
	}
}

func TestUserModifyShellOnlySameSize(t *testing.T) {
	sys, run := newUserHost(t, baseUsers, baseGroups)
	u := &User{Name: "alice", Shell: "/bin/dash"} // as long as /bin/bash
	taskstest.Converge(t, sys, u)
	if got, want := run.Commands(), []string{"usermod -s /bin/dash -- alice"}; !reflect.DeepEqual(got, want) {
		t.Errorf("commands %q, want %q", got, want)
	}
}

func TestUserLeaveAllGroups(t *testing.T) {
	sys, run := newUserHost(t, baseUsers, baseGroups)
	u := &User{Name: "alice", Groups: []string{}}
	p := userCheck(t, sys, run, u)
	if got := p.String(); got != "groups: docker,users -> (absent)" {
		t.Errorf("plan %s", got)
	}
	taskstest.Converge(t, sys, u)
	if got, want := run.Commands(), []string{"usermod -G  -- alice"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("commands %q, want %q", got, want)
	}
}

func TestUserRemove(t *testing.T) {
	sys, run := newUserHost(t, baseUsers, baseGroups)
	u := &User{Name: "alice", State: "absent"}
	p := userCheck(t, sys, run, u)
	if got := p.String(); got != "state: present -> absent" {
		t.Errorf("plan %s", got)
	}
	taskstest.Converge(t, sys, u)
	if got, want := run.Commands(), []string{"userdel -- alice"}; !reflect.DeepEqual(got, want) {
		t.Errorf("commands %q, want %q", got, want)
	}
	if strings.Contains(taskstest.ReadFile(t, sys, "/etc/passwd"), "alice") {
		t.Error("alice still in passwd")
	}
}

func TestUserMissingGroup(t *testing.T) {
	sys, run := newUserHost(t, baseUsers, baseGroups)
	_, err := (&User{Name: "bob", Groups: []string{"users", "nope"}}).Check(context.Background(), sys)
	if err == nil || err.Error() != "group nope does not exist" {
		t.Errorf("err = %v", err)
	}
	if len(run.Commands()) != 0 {
		t.Errorf("ran %q", run.Commands())
	}
}

func TestUserCommandFailure(t *testing.T) {
	sys, run := newUserHost(t, baseUsers, baseGroups)
	run.Reply("usermod", "", 8) // user busy
	u := &User{Name: "alice", Shell: "/bin/zsh"}
	p := userCheck(t, sys, run, u)
	err := u.Apply(context.Background(), sys, p)
	var ee *tasks.ExitError
	if !errors.As(err, &ee) || ee.Result.ExitCode != 8 || !strings.HasPrefix(err.Error(), "usermod -s /bin/zsh -- alice: exit status 8") {
		t.Errorf("err = %v", err)
	}
}

func TestUserValidate(t *testing.T) {
	tests := []struct {
		u   User
		arg string
	}{
		{User{}, "name"},
		{User{Name: "-rf"}, "name"},
		{User{Name: "+x"}, "name"},
		{User{Name: "a:b"}, "name"},
		{User{Name: "a,b"}, "name"},
		{User{Name: "a/b"}, "name"},
		{User{Name: "a b"}, "name"},
		{User{Name: ".."}, "name"},
		{User{Name: "1234"}, "name"},
		{User{Name: "bob", State: "gone"}, "state"},
		{User{Name: "bob", UID: ptr(int64(-1))}, "uid"},
		{User{Name: "bob", UID: ptr(int64(1 << 32))}, "uid"},
		{User{Name: "bob", Home: "home/bob"}, "home"},
		{User{Name: "bob", Home: "/home/b:ob"}, "home"},
		{User{Name: "bob", Shell: "bash"}, "shell"},
		{User{Name: "bob", Groups: []string{"-G"}}, "groups"},
		{User{Name: "bob", Groups: []string{"a,b"}}, "groups"},
	}
	for _, tt := range tests {
		err := tt.u.Validate()
		var ae *tasks.ArgError
		if !errors.As(err, &ae) || ae.Arg != tt.arg {
			t.Errorf("Validate(%+v) = %v, want an error for %s", tt.u, err, tt.arg)
		}
	}
	for _, ok := range []User{{Name: "bob"}, {Name: "svc-1.x_y"}, {Name: "bob2", Groups: []string{"10"}}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", ok, err)
		}
	}
}

// TestUserThenSubID creates a user and gives them ranges, as a playbook
// would: subid sees the new UID through the refreshed facts.
func TestUserThenSubID(t *testing.T) {
	sys, _ := newUserHost(t, baseUsers, baseGroups)
	taskstest.WriteFile(t, sys, "/etc/subuid", "alice:100000:65536\n")
	taskstest.WriteFile(t, sys, "/etc/subgid", "alice:100000:65536\n")
	// Facts are read before the user exists.
	if _, err := sys.Facts.Users(); err != nil {
		t.Fatal(err)
	}
	taskstest.Converge(t, sys, &User{Name: "bob"})
	taskstest.Converge(t, sys, &SubID{User: "1001"})
	wantFile(t, sys, "/etc/subuid", "alice:100000:65536\nbob:165536:65536\n")
}

func TestUserRegistered(t *testing.T) {
	m, ok := tasks.Lookup("user")
	if !ok {
		t.Fatal("user is not registered")
	}
	var names []string
	for _, a := range m.Args() {
		names = append(names, a.Name)
	}
	if want := []string{"name", "state", "uid", "home", "shell", "system", "create_home", "groups"}; !reflect.DeepEqual(names, want) {
		t.Errorf("args %q, want %q", names, want)
	}
}
