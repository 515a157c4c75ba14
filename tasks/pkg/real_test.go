package pkg

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/tasks"

	"github.com/provision-tool/provision/testhost"
)

// readOnlyRunner runs only the query programs for real and fails the test
// on anything else, so these tests can never install or remove a package
// on the machine that runs them.
type readOnlyRunner struct{ t *testing.T }

func (r readOnlyRunner) Run(ctx context.Context, c tasks.Cmd) (tasks.Result, error) {
	switch {
	case len(c.Argv) >= 2 && c.Argv[0] == "dpkg-query" && c.Argv[1] == "-W",
		len(c.Argv) >= 2 && c.Argv[0] == "apt-cache" && c.Argv[1] == "policy":
		return tasks.ExecRunner{}.Run(ctx, c)
	}
	r.t.Errorf("refusing to run %q for real", c.Argv)
	return tasks.Result{}, fmt.Errorf("refused %q", c.Argv)
}

// realDebian returns the machine itself as a System, or skips when it is
// not a Debian-style host.
func realDebian(t *testing.T) *tasks.System {
	t.Helper()
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		testhost.Skipf(t, "dpkg-query is not installed on this machine")
	}
	return &tasks.System{Root: "/", Runner: readOnlyRunner{t}, Facts: facts.New("/")}
}

const absentName = "provision-test-no-such-package"

func TestRealDpkgQuery(t *testing.T) {
	sys := realDebian(t)
	names := []string{"dpkg", "coreutils", absentName}
	if a := debArch(sys); a != "" {
		names = append(names, "dpkg:"+a)
	}
	got, err := aptBackend{}.installed(context.Background(), sys, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		s := got[n]
		if n == absentName {
			if s.installed || s.removable || s.version != "" {
				t.Errorf("%s: %+v, want not installed", n, s)
			}
			continue
		}
		if !s.installed || !s.removable || s.version == "" || strings.Contains(s.version, "\t") {
			t.Errorf("%s: %+v, want installed with a version", n, s)
		}
	}
}

func TestRealCheck(t *testing.T) {
	sys := realDebian(t)
	if _, err := exec.LookPath("apt-cache"); err != nil {
		testhost.Skipf(t, "apt-cache is not installed on this machine")
	}
	// The apt backend is chosen directly: a Debian machine may also have
	// dnf installed, which the package_manager fact would prefer.
	for _, task := range []*Package{
		{Names: []string{"dpkg", "coreutils"}},
		{Names: []string{"dpkg", "coreutils"}, State: "latest"}, // may plan upgrades; must not fail
		{Names: []string{absentName}, State: "absent"},
	} {
		p, err := task.check(context.Background(), sys, aptBackend{})
		if err != nil {
			t.Errorf("%+v: %v", task, err)
			continue
		}
		if task.State != "latest" && !p.Empty() {
			t.Errorf("%+v: plan %s, want empty", task, p)
		}
	}
	_, err := (&Package{Names: []string{"coreutils", absentName}}).check(context.Background(), sys, aptBackend{})
	if err == nil || !strings.HasPrefix(err.Error(), `unknown package "`+absentName+`" (not in any enabled repository)`) {
		t.Errorf("got %v", err)
	}
}

// installrootRunner runs rpm and dnf for real, confined to an installroot
// in a temp dir with a local file:// repository, and refuses anything else.
type installrootRunner struct {
	t            *testing.T
	root, reposd string
}

func (r installrootRunner) Run(ctx context.Context, c tasks.Cmd) (tasks.Result, error) {
	var argv []string
	switch c.Argv[0] {
	case "rpm":
		argv = append([]string{"rpm", "--root", r.root}, c.Argv[1:]...)
	case "dnf":
		argv = append([]string{"dnf", "--installroot=" + r.root, "--releasever=39",
			"--setopt=reposdir=" + r.reposd,
			"--setopt=install_weak_deps=False"}, c.Argv[1:]...)
	default:
		r.t.Errorf("refusing to run %q for real", c.Argv)
		return tasks.Result{}, fmt.Errorf("refused %q", c.Argv)
	}
	c.Argv = argv
	return tasks.ExecRunner{}.Run(ctx, c)
}

// stubSpec is an RPM spec for an empty noarch package.
const stubSpec = `Name: %s
Version: %s
Release: 1.fc39
Summary: provision test stub
License: MIT
BuildArch: noarch
AutoReqProv: no
%%description
A stub for the package module's tests.
%%files
`

// TestRealDNF drives real rpm and DNF 4 through the module, inside an
// installroot: one query, one transaction, convergence, upgrades, removal
// and an unknown name.
func TestRealDNF(t *testing.T) {
	for _, prog := range []string{"dnf", "rpm", "rpmbuild", "createrepo_c"} {
		if _, err := exec.LookPath(prog); err != nil {
			testhost.Skipf(t, "%s is not installed on this machine", prog)
		}
	}
	if os.Geteuid() != 0 {
		testhost.Skipf(t, "dnf --installroot needs root")
	}
	if testing.Short() {
		t.Skip("builds RPMs; skipped with -short")
	}
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	build := func(name, version string) {
		t.Helper()
		spec := filepath.Join(dir, name+"-"+version+".spec")
		if err := os.WriteFile(spec, []byte(fmt.Sprintf(stubSpec, name, version)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("rpmbuild", "-bb", "--quiet", "--define", "_topdir "+filepath.Join(dir, "build"),
			"--define", "_rpmdir "+repo, "--define", "_build_id_links none", spec).CombinedOutput()
		if err != nil {
			t.Fatalf("rpmbuild: %v\n%s", err, out)
		}
	}
	createrepo := func() {
		t.Helper()
		if out, err := exec.Command("createrepo_c", "--quiet", repo).CombinedOutput(); err != nil {
			t.Fatalf("createrepo_c: %v\n%s", err, out)
		}
	}
	build("podman", "4.9.4")
	build("shadow-utils", "4.14.0")
	createrepo()
	reposd := filepath.Join(dir, "repos.d")
	if err := os.MkdirAll(reposd, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := "[lab]\nname=lab\nbaseurl=file://" + repo + "\nenabled=1\ngpgcheck=0\nrepo_gpgcheck=0\nmetadata_expire=0\n"
	if err := os.WriteFile(filepath.Join(reposd, "lab.repo"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	run := &recordingRunner{Runner: installrootRunner{t: t, root: root, reposd: reposd}}
	sys := &tasks.System{Root: root, Runner: run, Facts: facts.New(root)}
	b := rpmBackend{tool: "dnf"}
	converge := func(task *Package) tasks.Plan {
		t.Helper()
		p, err := task.check(ctx, sys, b)
		if err != nil {
			t.Fatalf("check: %v", err)
		}
		if p.Empty() {
			return p
		}
		if err := task.apply(ctx, sys, p, b); err != nil {
			t.Fatalf("apply: %v", err)
		}
		again, err := task.check(ctx, sys, b)
		if err != nil {
			t.Fatalf("check after apply: %v", err)
		}
		if !again.Empty() {
			t.Fatalf("did not converge: %s", again)
		}
		return p
	}

	p := converge(&Package{Names: []string{"podman", "shadow-utils"}})
	wantChanges(t, p,
		tasks.Change{Field: "package podman", After: "installed"},
		tasks.Change{Field: "package shadow-utils", After: "installed"})
	if got := run.count("dnf -y install"); got != 1 {
		t.Errorf("%d install transactions, want 1", got)
	}
	if p := converge(&Package{Names: []string{"podman", "shadow-utils"}}); !p.Empty() {
		t.Errorf("second run plans %s", p)
	}

	_, err := (&Package{Names: []string{"podman", "podmn"}}).check(ctx, sys, b)
	if err == nil || err.Error() != `unknown package "podmn" (not in any enabled repository)` {
		t.Errorf("unknown name: %v", err)
	}
	err = (&Package{Names: []string{"podmn"}}).apply(ctx, sys, tasks.Plan{Data: &planData{install: []string{"podmn"}}}, b)
	if err == nil || !strings.HasPrefix(err.Error(), `unknown package "podmn" (not in any enabled repository): dnf -y install podmn: exit status 1`) {
		t.Errorf("unknown name in the transaction: %v", err)
	}

	build("podman", "4.9.5")
	createrepo()
	// Within a second createrepo_c writes the same revision, and dnf would
	// keep its cached metadata: drop the cache, as metadata expiry would.
	if err := os.RemoveAll(filepath.Join(root, "var/cache/dnf")); err != nil {
		t.Fatal(err)
	}
	p = converge(&Package{Names: []string{"podman", "shadow-utils"}, State: "latest"})
	wantChanges(t, p, tasks.Change{Field: "package podman", Before: "4.9.4-1.fc39.noarch", After: "4.9.5-1.fc39.noarch"})

	p = converge(&Package{Names: []string{"podman", "shadow-utils"}, State: "absent"})
	wantChanges(t, p,
		tasks.Change{Field: "package podman", Before: "4.9.5-1.fc39.noarch", After: "absent"},
		tasks.Change{Field: "package shadow-utils", Before: "4.14.0-1.fc39.noarch", After: "absent"})
}

// recordingRunner counts the commands it passes on.
type recordingRunner struct {
	tasks.Runner
	cmds []string
}

func (r *recordingRunner) Run(ctx context.Context, c tasks.Cmd) (tasks.Result, error) {
	r.cmds = append(r.cmds, strings.Join(c.Argv, " "))
	return r.Runner.Run(ctx, c)
}

func (r *recordingRunner) count(prefix string) int {
	n := 0
	for _, c := range r.cmds {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}
