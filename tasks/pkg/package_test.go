package pkg

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

var ctx = context.Background()

func installed(name, version string) fakeDeb {
	return fakeDeb{name, "amd64", "install ok installed", version}
}

// aptInstall is the argv prefix of the install transaction.
var aptInstall = "apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=300"

const dpkgQuery = `dpkg-query -W --showformat=${Package}\t${Architecture}\t${Status}\t${Version}\n`

func wantChanges(t *testing.T, p tasks.Plan, want ...tasks.Change) {
	t.Helper()
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(p.Changes, want) {
		t.Errorf("plan changes:\n got %#v\nwant %#v", p.Changes, want)
	}
}

func wantCommands(t *testing.T, run *taskstest.FakeRunner, want ...string) {
	t.Helper()
	got := run.Commands()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("commands:\n got %q\nwant %q", got, want)
	}
}

// checkClean runs Check and proves it changed no file.
func checkClean(t *testing.T, sys *tasks.System, task tasks.Task) (tasks.Plan, error) {
	t.Helper()
	before := taskstest.Snapshot(t, sys)
	p, err := task.Check(ctx, sys)
	if after := taskstest.Snapshot(t, sys); !reflect.DeepEqual(before, after) {
		t.Errorf("check changed files")
	}
	return p, err
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		task    Package
		arg     string // "" means valid
		message string
	}{
		{Package{Names: []string{"podman"}}, "", ""},
		{Package{Names: []string{"podman", "libc6:amd64", "podman.x86_64", "podman-4.9.4-1.fc39", "g++", "libstdc++6"}, State: "latest"}, "", ""},
		{Package{Names: []string{"podman"}, State: "absent"}, "", ""},
		{Package{}, "names", "at least one package name is required"},
		{Package{Names: []string{"podman", ""}}, "names", "empty package name"},
		{Package{Names: []string{"-y"}}, "names", `package name "-y" starts with '-'`},
		{Package{Names: []string{"podman uidmap"}}, "names", `package name "podman uidmap" contains whitespace`},
		{Package{Names: []string{"podman\t"}}, "names", "contains whitespace"},
		{Package{Names: []string{"podman=4.3.1"}}, "names", `"podman=4.3.1" is not a package name: '=' is not allowed`},
		{Package{Names: []string{"@core"}}, "names", "is not a package name"},
		{Package{Names: []string{"pkgconfig(glib-2.0)"}}, "names", "is not a package name"},
		{Package{Names: []string{"/usr/bin/newuidmap"}}, "names", "is not a package name"},
		{Package{Names: []string{"podman*"}}, "names", "is not a package name"},
		{Package{Names: []string{"podman"}, State: "installed"}, "state", `must be present, latest or absent, not "installed"`},
	} {
		err := tc.task.Validate()
		if tc.arg == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.task, err)
			}
			continue
		}
		var ae *tasks.ArgError
		if !errors.As(err, &ae) {
			t.Errorf("%+v: got %v, want an ArgError", tc.task, err)
			continue
		}
		if ae.Arg != tc.arg || !strings.Contains(ae.Msg, tc.message) {
			t.Errorf("%+v: got %s: %s, want %s: ...%s...", tc.task, ae.Arg, ae.Msg, tc.arg, tc.message)
		}
	}
}

func TestRegistered(t *testing.T) {
	m, ok := tasks.Lookup("package")
	if !ok {
		t.Fatal("package module not registered")
	}
	if _, ok := m.New().(*Package); !ok {
		t.Fatalf("New returns %T", m.New())
	}
	args := m.Args()
	if len(args) != 3 || args[0].Name != "names" || !args[0].Required || args[1].Name != "state" || args[1].Default != "present" || args[2].Name != "update_cache" {
		t.Errorf("arguments: %+v", args)
	}
}

func TestNoPackageManager(t *testing.T) {
	sys, run := taskstest.New(t)
	_, err := (&Package{Names: []string{"podman"}}).Check(ctx, sys)
	if err == nil || !strings.Contains(err.Error(), "no supported package manager") {
		t.Fatalf("got %v", err)
	}
	wantCommands(t, run)
}

func TestAptPresent(t *testing.T) {
	sys, run, f := newApt(t, []fakeDeb{
		installed("dpkg", "1.21.23"),
		{"uidmap", "amd64", "deinstall ok config-files", "1:4.13+dfsg1-1+b1"},
	}, map[string]string{"podman": "4.3.1+ds1-8+b1", "uidmap": "1:4.13+dfsg1-1+b1", "dpkg": "1.21.23"})
	task := &Package{Names: []string{"podman", "dpkg", "uidmap", "podman"}}

	p, err := checkClean(t, sys, task)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges(t, p,
		tasks.Change{Field: "package podman", Before: "", After: "installed"},
		tasks.Change{Field: "package uidmap", Before: "", After: "installed"},
	)
	wantCommands(t, run,
		dpkgQuery+" podman dpkg uidmap",
		"apt-cache policy podman uidmap",
	)

	run.Reset()
	taskstest.Converge(t, sys, task)
	wantCommands(t, run,
		dpkgQuery+" podman dpkg uidmap",
		"apt-cache policy podman uidmap",
		aptInstall+" podman uidmap",
		dpkgQuery+" podman dpkg uidmap",
	)
	if want := []string{"DEBIAN_FRONTEND=noninteractive"}; !reflect.DeepEqual(f.envs[0], want) {
		t.Errorf("apt-get env %q, want %q", f.envs[0], want)
	}
	if got := task.Output()["installed"]; !reflect.DeepEqual(got, []string{"podman", "uidmap"}) {
		t.Errorf("output installed = %v", got)
	}
	if !strings.Contains(taskstest.ReadFile(t, sys, statusPath), "Package: podman\nStatus: install ok installed") {
		t.Errorf("podman not installed in the fake status:\n%s", taskstest.ReadFile(t, sys, statusPath))
	}
}

func TestAptNothingToDo(t *testing.T) {
	sys, run, _ := newApt(t, []fakeDeb{installed("podman", "4.3.1"), installed("uidmap", "1:4.13")}, map[string]string{"podman": "4.3.2"})
	p, err := checkClean(t, sys, &Package{Names: []string{"podman", "uidmap"}, UpdateCache: true})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() || p.Data != nil {
		t.Errorf("plan %s, data %v", p, p.Data)
	}
	// One query, no repository look-up, no apt-get update.
	wantCommands(t, run, dpkgQuery+" podman uidmap")
}

func TestAptAbsent(t *testing.T) {
	sys, run, _ := newApt(t, []fakeDeb{
		installed("docker.io", "20.10.24+dfsg1-1+b3"),
		{"runc", "amd64", "deinstall ok config-files", "1.1.5"},
	}, map[string]string{})
	task := &Package{Names: []string{"docker.io", "runc", "docker-ce"}, State: "absent"}
	p, err := checkClean(t, sys, task)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges(t, p, tasks.Change{Field: "package docker.io", Before: "20.10.24+dfsg1-1+b3", After: "absent"})
	run.Reset()
	taskstest.Converge(t, sys, task)
	wantCommands(t, run,
		dpkgQuery+" docker.io runc docker-ce",
		"apt-get remove -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=300 docker.io",
		dpkgQuery+" docker.io runc docker-ce",
	)
	if got := task.Output()["removed"]; !reflect.DeepEqual(got, []string{"docker.io"}) {
		t.Errorf("output removed = %v", got)
	}
}

func TestAptLatest(t *testing.T) {
	sys, run, _ := newApt(t, []fakeDeb{installed("podman", "4.3.1+ds1-8+b1"), installed("uidmap", "1:4.13+dfsg1-1+b1")},
		map[string]string{"podman": "4.3.1+ds1-8+deb12u1", "uidmap": "1:4.13+dfsg1-1+b1", "fuse-overlayfs": "1.10-1"})
	task := &Package{Names: []string{"fuse-overlayfs", "podman", "uidmap"}, State: "latest"}
	p, err := checkClean(t, sys, task)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges(t, p,
		tasks.Change{Field: "package fuse-overlayfs", Before: "", After: "installed"},
		tasks.Change{Field: "package podman", Before: "4.3.1+ds1-8+b1", After: "4.3.1+ds1-8+deb12u1"},
	)
	// One repository query covers the missing and the installed names.
	wantCommands(t, run, dpkgQuery+" fuse-overlayfs podman uidmap", "apt-cache policy fuse-overlayfs podman uidmap")
	run.Reset()
	taskstest.Converge(t, sys, task)
	wantCommands(t, run,
		dpkgQuery+" fuse-overlayfs podman uidmap",
		"apt-cache policy fuse-overlayfs podman uidmap",
		aptInstall+" fuse-overlayfs podman",
		dpkgQuery+" fuse-overlayfs podman uidmap",
		"apt-cache policy fuse-overlayfs podman uidmap",
	)
	out := task.Output()
	if !reflect.DeepEqual(out["installed"], []string{"fuse-overlayfs"}) || !reflect.DeepEqual(out["upgraded"], []string{"podman"}) {
		t.Errorf("output %v", out)
	}
}

func TestAptUnknownInCheck(t *testing.T) {
	sys, run, _ := newApt(t, []fakeDeb{installed("dpkg", "1.21.23")},
		map[string]string{"podman": "4.3.1", "mail-transport-agent": ""})
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"podman", "podmn"}, `unknown package "podmn" (not in any enabled repository)`},
		{[]string{"nosuch", "dpkg", "mail-transport-agent"}, `unknown packages "nosuch", "mail-transport-agent" (not in any enabled repository)`},
	} {
		run.Reset()
		_, err := checkClean(t, sys, &Package{Names: tc.names})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: got %v, want %s", tc.names, err, tc.want)
		}
		for _, c := range run.Commands() {
			if strings.HasPrefix(c, "apt-get") {
				t.Errorf("check ran %s", c)
			}
		}
	}
}

func TestAptEmptyListsHint(t *testing.T) {
	sys, _, _ := newApt(t, nil, map[string]string{})
	if err := removeAll(sys, "/var/lib/apt/lists"); err != nil {
		t.Fatal(err)
	}
	_, err := (&Package{Names: []string{"podman"}}).Check(ctx, sys)
	want := `unknown package "podman" (not in any enabled repository); the apt package lists are empty: set update_cache: true`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestAptUpdateCache(t *testing.T) {
	// A fresh image: the lists do not know podman until apt-get update.
	sys, run, f := newApt(t, nil, map[string]string{})
	f.afterUpdate = map[string]string{"podman": "4.3.1"}
	task := &Package{Names: []string{"podman"}, UpdateCache: true}
	p, err := checkClean(t, sys, task)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges(t, p, tasks.Change{Field: "package podman", After: "installed"})
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], `"podman" is not in the current package lists`) {
		t.Errorf("warnings %q", p.Warnings)
	}
	run.Reset()
	taskstest.Converge(t, sys, task)
	wantCommands(t, run,
		dpkgQuery+" podman",
		"apt-cache policy podman",
		"apt-get update -q",
		aptInstall+" podman",
		dpkgQuery+" podman",
	)
}

func TestAptLatestUpdateCacheCoversAllNames(t *testing.T) {
	sys, run, f := newApt(t, []fakeDeb{installed("podman", "4.3.1"), installed("uidmap", "1:4.13")},
		map[string]string{"podman": "4.3.1", "uidmap": "1:4.13", "catatonit": "0.1.7"})
	// After the refresh, podman has an upgrade Check could not see.
	f.afterUpdate = map[string]string{"podman": "4.3.2", "uidmap": "1:4.13", "catatonit": "0.1.7"}
	task := &Package{Names: []string{"podman", "uidmap", "catatonit"}, State: "latest", UpdateCache: true}
	taskstest.Converge(t, sys, task)
	wantCommands(t, run,
		dpkgQuery+" podman uidmap catatonit",
		"apt-cache policy catatonit podman uidmap",
		"apt-get update -q",
		aptInstall+" catatonit podman uidmap",
		dpkgQuery+" podman uidmap catatonit",
		"apt-cache policy podman uidmap catatonit",
	)
}

func TestAptUnknownInApply(t *testing.T) {
	sys, run, _ := newApt(t, nil, map[string]string{"podman": "4.3.1"})
	task := &Package{Names: []string{"podman", "podmn"}, UpdateCache: true}
	p, err := checkClean(t, sys, task)
	if err != nil {
		t.Fatal(err)
	}
	err = task.Apply(ctx, sys, p)
	if err == nil {
		t.Fatal("apply succeeded")
	}
	want := `unknown package "podmn" (not in any enabled repository): ` + aptInstall + ` podman podmn: exit status 100: E: Unable to locate package podmn`
	if err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	var ee *tasks.ExitError
	if !errors.As(err, &ee) || ee.Result.ExitCode != 100 {
		t.Errorf("error does not wrap the ExitError: %#v", err)
	}
	if n := strings.Count(strings.Join(run.Commands(), "\n"), "apt-get install"); n != 1 {
		t.Errorf("%d install transactions", n)
	}
	if got := task.Output()["installed"]; !reflect.DeepEqual(got, []string{}) {
		t.Errorf("output after failure: %v", got)
	}
}

func TestAptHalfInstalled(t *testing.T) {
	sys, _, _ := newApt(t, []fakeDeb{{"podman", "amd64", "install ok half-configured", "4.3.1"}},
		map[string]string{"podman": "4.3.1"})
	p, err := (&Package{Names: []string{"podman"}}).Check(ctx, sys)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges(t, p, tasks.Change{Field: "package podman", Before: "half-configured 4.3.1", After: "installed"})
	p, err = (&Package{Names: []string{"podman"}, State: "absent"}).Check(ctx, sys)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges(t, p, tasks.Change{Field: "package podman", Before: "4.3.1", After: "absent"})
}

func TestAptMultiarch(t *testing.T) {
	sys, run, _ := newApt(t, []fakeDeb{
		installed("libc6", "2.36-9"),
		{"tzdata", "all", "install ok installed", "2025b"},
	}, map[string]string{"libc6": "2.36-9", "tzdata": "2025b", "podman": "4.3.1"})
	native := debArch(sys)
	if native != "amd64" {
		t.Skipf("fake status is amd64; this machine is %q", native)
	}
	task := &Package{Names: []string{"libc6:amd64", "tzdata:amd64", "tzdata", "podman:amd64", "libc6:i386"}, UpdateCache: true}
	p, err := task.Check(ctx, sys)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges(t, p,
		tasks.Change{Field: "package podman:amd64", After: "installed"},
		tasks.Change{Field: "package libc6:i386", After: "installed"},
	)
	// dpkg-query is asked about bare names, once each.
	wantCommands(t, run, dpkgQuery+" libc6 tzdata podman", "apt-cache policy podman:amd64 libc6:i386")
	// libc6:i386 is not offered (no i386 architecture): a warning, since
	// update_cache is set.
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], `"libc6:i386"`) {
		t.Errorf("warnings %q", p.Warnings)
	}
}

func TestAptQueryFailure(t *testing.T) {
	sys, run, _ := newApt(t, nil, nil)
	run.On("dpkg-query", func(tasks.Cmd) tasks.Result {
		return tasks.Result{Stderr: "dpkg-query: error: parsing file '/var/lib/dpkg/status' near line 3", ExitCode: 2}
	})
	_, err := (&Package{Names: []string{"podman"}}).Check(ctx, sys)
	if err == nil || !strings.Contains(err.Error(), "exit status 2: dpkg-query: error: parsing file") {
		t.Errorf("got %v", err)
	}
}

func TestParsePolicy(t *testing.T) {
	out := `coreutils:
  Installed: 9.1-1
  Candidate: 9.1-1
  Version table:
 *** 9.1-1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
        100 /var/lib/dpkg/status
podman:
  Installed: (none)
  Candidate: 4.3.1+ds1-8+deb12u1+b3
  Package pin: 4.3.1+ds1-8+deb12u1+b3
  Version table:
     4.3.1+ds1-8+deb12u1+b3 990
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
libc6:i386:
  Installed: (none)
  Candidate: 2.36-9
  Version table:
mail-transport-agent:
  Installed: (none)
  Candidate: (none)
  Version table:
`
	want := map[string]policy{
		"coreutils":            {"9.1-1", "9.1-1"},
		"podman":               {"", "4.3.1+ds1-8+deb12u1+b3"},
		"libc6:i386":           {"", "2.36-9"},
		"mail-transport-agent": {"", ""},
	}
	if got := parsePolicy(out); !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}

func TestUnknownInOutput(t *testing.T) {
	out := `Last metadata expiration check: 0:01:02 ago.
No match for argument: podmn
Error: Unable to find a match: podmn
E: Unable to locate package nosuch
E: Package 'mail-transport-agent' has no installation candidate
No package fuse-overlay available.
No match for argument: podmn
`
	want := []string{"podmn", "nosuch", "mail-transport-agent", "fuse-overlay"}
	if got := unknownInOutput(out); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
