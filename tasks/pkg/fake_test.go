package pkg

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

// This file holds small fakes of dpkg/apt and rpm/dnf/yum for the unit
// tests. They keep their package database in a file under the test root,
// so a transaction changes what the next query sees and Converge works.

// fakeDeb is one stanza of the fake /var/lib/dpkg/status.
type fakeDeb struct {
	name, arch, status, version string
}

// fakeApt simulates dpkg-query, apt-cache policy and apt-get.
type fakeApt struct {
	t    *testing.T
	sys  *tasks.System
	repo map[string]string // name -> candidate version; "" is a virtual package
	// afterUpdate replaces repo when apt-get update runs.
	afterUpdate map[string]string
	// envs records the environment of every apt-get call.
	envs [][]string
}

// newApt makes a Debian host with the given dpkg status and repository.
func newApt(t *testing.T, status []fakeDeb, repo map[string]string) (*tasks.System, *taskstest.FakeRunner, *fakeApt) {
	t.Helper()
	sys, run := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n")
	taskstest.WriteFile(t, sys, "/usr/bin/apt-get", "")
	taskstest.WriteFile(t, sys, "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages", "")
	f := &fakeApt{t: t, sys: sys, repo: repo}
	f.write(status)
	run.On("dpkg-query -W", f.dpkgQuery)
	run.On("apt-cache policy", f.policy)
	run.On("apt-get", f.aptGet)
	return sys, run, f
}

const statusPath = "/var/lib/dpkg/status"

func (f *fakeApt) read() []fakeDeb {
	var out []fakeDeb
	for _, stanza := range strings.Split(taskstest.ReadFile(f.t, f.sys, statusPath), "\n\n") {
		var d fakeDeb
		for _, line := range strings.Split(stanza, "\n") {
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "Package":
				d.name = v
			case "Architecture":
				d.arch = v
			case "Status":
				d.status = v
			case "Version":
				d.version = v
			}
		}
		if d.name != "" {
			out = append(out, d)
		}
	}
	return out
}

func (f *fakeApt) write(debs []fakeDeb) {
	var b strings.Builder
	for _, d := range debs {
		fmt.Fprintf(&b, "Package: %s\nStatus: %s\nArchitecture: %s\nVersion: %s\n\n", d.name, d.status, d.arch, d.version)
	}
	taskstest.WriteFile(f.t, f.sys, statusPath, b.String())
}

// dpkgQuery answers like dpkg-query -W with dpkgFormat: one line per
// matching instance, sorted, unknown names on stderr and exit 1.
func (f *fakeApt) dpkgQuery(c tasks.Cmd) tasks.Result {
	if len(c.Argv) < 4 || c.Argv[2] != dpkgFormat {
		f.t.Errorf("dpkg-query called as %q", c.Argv)
	}
	debs := f.read()
	var res tasks.Result
	var lines []string
	for _, pattern := range c.Argv[3:] {
		name, arch := splitArch(pattern)
		n := 0
		for _, d := range debs {
			if d.name == name && (arch == "" || arch == d.arch) {
				lines = append(lines, fmt.Sprintf("%s\t%s\t%s\t%s\n", d.name, d.arch, d.status, d.version))
				n++
			}
		}
		if n == 0 {
			res.Stderr += "dpkg-query: no packages found matching " + pattern + "\n"
			res.ExitCode = 1
		}
	}
	sort.Strings(lines)
	res.Stdout = strings.Join(dedupe(lines), "")
	return res
}

// policy answers like apt-cache policy: a block per known name, nothing
// for unknown ones.
func (f *fakeApt) policy(c tasks.Cmd) tasks.Result {
	native := debArch(f.sys)
	var b strings.Builder
	for _, n := range c.Argv[2:] {
		name, arch := splitArch(n)
		header := n
		if arch == native || arch == "all" {
			header = name
		} else if arch != "" {
			continue // no foreign architectures on the fake host
		}
		installed := ""
		for _, d := range f.read() {
			if d.name == name && strings.HasSuffix(d.status, " installed") {
				installed = d.version
			}
		}
		cand, inRepo := f.repo[name]
		if !inRepo && installed == "" {
			continue
		}
		if !inRepo {
			cand = installed
		}
		fmt.Fprintf(&b, "%s:\n  Installed: %s\n  Candidate: %s\n  Version table:\n", header, none(installed), none(cand))
		if cand != "" {
			fmt.Fprintf(&b, "     %s 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n", cand)
		}
	}
	return tasks.Result{Stdout: b.String()}
}

func none(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

// aptGet simulates apt-get update, install and remove.
func (f *fakeApt) aptGet(c tasks.Cmd) tasks.Result {
	f.envs = append(f.envs, c.Env)
	var names []string
	for i := 2; i < len(c.Argv); i++ {
		switch a := c.Argv[i]; {
		case a == "-o":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			names = append(names, a)
		}
	}
	debs := f.read()
	switch c.Argv[1] {
	case "update":
		if f.afterUpdate != nil {
			f.repo = f.afterUpdate
		}
		return tasks.Result{Stdout: "Reading package lists...\n"}
	case "install":
		var errs string
		for _, n := range names {
			name, _ := splitArch(n)
			if v, ok := f.repo[name]; !ok {
				errs += "E: Unable to locate package " + n + "\n"
			} else if v == "" {
				errs += "E: Package '" + n + "' has no installation candidate\n"
			}
		}
		if errs != "" {
			return tasks.Result{Stdout: "Reading package lists...\n", Stderr: errs, ExitCode: 100}
		}
		for _, n := range names {
			name, arch := splitArch(n)
			if arch == "" {
				arch = debArch(f.sys)
			}
			found := false
			for i := range debs {
				if debs[i].name == name && debs[i].arch == arch {
					debs[i].status, debs[i].version, found = "install ok installed", f.repo[name], true
				}
			}
			if !found {
				debs = append(debs, fakeDeb{name, arch, "install ok installed", f.repo[name]})
			}
		}
	case "remove":
		for _, n := range names {
			name, _ := splitArch(n)
			for i := range debs {
				if debs[i].name == name {
					debs[i].status = "deinstall ok config-files"
				}
			}
		}
	default:
		f.t.Errorf("unexpected apt-get %q", c.Argv)
	}
	f.write(debs)
	return tasks.Result{Stdout: "Reading package lists...\nDone\n"}
}

// fakeRPM simulates rpm -q and dnf, dnf5 or yum 3.
type fakeRPM struct {
	t    *testing.T
	sys  *tasks.System
	tool string
	repo map[string]string // name -> newest version-release (noarch)
}

const rpmDBPath = "/var/lib/rpm/fake.db"

// newRPM makes an RPM host with tool ("dnf", "dnf5" or "yum"), the
// installed packages (name -> version-release) and a repository.
func newRPM(t *testing.T, tool string, installed, repo map[string]string) (*tasks.System, *taskstest.FakeRunner, *fakeRPM) {
	t.Helper()
	sys, run := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/etc/os-release", "ID=fedora\nVERSION_ID=41\n")
	switch tool {
	case "dnf":
		taskstest.WriteFile(t, sys, "/usr/bin/dnf-3", "")
		if err := os.Symlink("dnf-3", sys.MustPath("/usr/bin/dnf")); err != nil {
			t.Fatal(err)
		}
	case "dnf5":
		taskstest.WriteFile(t, sys, "/usr/bin/dnf5", "")
		if err := os.Symlink("dnf5", sys.MustPath("/usr/bin/dnf")); err != nil {
			t.Fatal(err)
		}
	case "yum":
		taskstest.WriteFile(t, sys, "/usr/bin/yum", "")
	}
	if got := sys.Facts.PackageManager(); got != tool {
		t.Fatalf("fake host reports package manager %q, want %q", got, tool)
	}
	f := &fakeRPM{t: t, sys: sys, tool: tool, repo: repo}
	f.write(installed)
	run.On("rpm -q", f.rpmQ)
	run.On(tool, f.pm)
	return sys, run, f
}

func (f *fakeRPM) read() map[string]string {
	db := map[string]string{}
	for _, line := range strings.Split(taskstest.ReadFile(f.t, f.sys, rpmDBPath), "\n") {
		if n, v, ok := strings.Cut(line, "\t"); ok {
			db[n] = v
		}
	}
	return db
}

func (f *fakeRPM) write(db map[string]string) {
	var lines []string
	for n, v := range db {
		lines = append(lines, n+"\t"+v+"\n")
	}
	sort.Strings(lines)
	hp := f.sys.MustPath(rpmDBPath)
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(hp, []byte(strings.Join(lines, "")), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// rpmQ answers like rpm -q --qf rpmFormat: a line per installed name, a
// "not installed" line per missing one, exit status = number missing.
func (f *fakeRPM) rpmQ(c tasks.Cmd) tasks.Result {
	if len(c.Argv) < 5 || c.Argv[2] != "--qf" || c.Argv[3] != rpmFormat {
		f.t.Errorf("rpm called as %q", c.Argv)
	}
	db := f.read()
	var res tasks.Result
	for _, n := range c.Argv[4:] {
		name := strings.TrimSuffix(n, ".noarch")
		if v, ok := db[name]; ok {
			res.Stdout += name + "\t" + v + ".noarch\n"
		} else {
			res.Stdout += "package " + n + " is not installed\n"
			res.ExitCode++
		}
	}
	return res
}

func (f *fakeRPM) pm(c tasks.Cmd) tasks.Result {
	args := c.Argv[1:]
	var opts, names []string
	cmd := ""
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "-"):
			opts = append(opts, a)
		case cmd == "":
			cmd = a
		default:
			names = append(names, a)
		}
	}
	has := func(o string) bool {
		for _, x := range opts {
			if x == o {
				return true
			}
		}
		return false
	}
	db := f.read()
	switch cmd {
	case "repoquery":
		// names[0] is the query format (it follows --qf).
		if names[0] != repoqueryFormat {
			f.t.Errorf("repoquery format %q", names[0])
		}
		var out strings.Builder
		for _, n := range names[1:] {
			name := strings.TrimSuffix(n, ".noarch")
			v, ok := f.repo[name]
			if !ok || has("--upgrades") && (db[name] == "" || db[name] == v) {
				continue
			}
			ver, rel, _ := strings.Cut(v, "-")
			line := strings.NewReplacer("%{name}", name, "%{epoch}", "0", "%{version}", ver, "%{release}", rel, "%{arch}", "noarch").Replace(names[0])
			if f.tool == "dnf" {
				// DNF 4 expands \t and \n and adds its own newline.
				line = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(line) + "\n"
			} else {
				// DNF 5.4.6 expands \n only (\t stays two characters).
				line = strings.ReplaceAll(line, `\n`, "\n")
			}
			out.WriteString(line)
		}
		return tasks.Result{Stdout: out.String()}
	case "list": // yum 3
		which, names := names[0], names[1:]
		var out strings.Builder
		for _, n := range names {
			v, ok := f.repo[n]
			if !ok || which == "updates" && (db[n] == "" || db[n] == v) || which == "available" && db[n] == v {
				continue
			}
			if out.Len() == 0 {
				out.WriteString(map[string]string{"available": "Available Packages\n", "updates": "Updated Packages\n"}[which])
			}
			if len(n) > 20 { // yum wraps a long name.arch
				fmt.Fprintf(&out, "%s.noarch\n%40s %s\n", n, v, "lab")
			} else {
				fmt.Fprintf(&out, "%-30s %-20s %s\n", n+".noarch", v, "lab")
			}
		}
		if out.Len() == 0 {
			return tasks.Result{Stderr: "Error: No matching Packages to list\n", ExitCode: 1}
		}
		return tasks.Result{Stdout: out.String()}
	case "install":
		var res tasks.Result
		for _, n := range names {
			if _, ok := f.repo[n]; !ok {
				res.Stdout += "No match for argument: " + n + "\n"
				res.Stderr += "Error: Unable to find a match: " + n + "\n"
				res.ExitCode = 1
			}
		}
		if res.ExitCode != 0 {
			return res
		}
		for _, n := range names {
			if db[n] == "" {
				db[n] = f.repo[n]
			}
		}
	case "upgrade":
		for _, n := range names {
			if db[n] != "" {
				db[n] = f.repo[n]
			}
		}
	case "remove":
		for _, n := range names {
			delete(db, n)
		}
	case "clean":
	default:
		f.t.Errorf("unexpected %q", c.Argv)
	}
	f.write(db)
	return tasks.Result{Stdout: "Complete!\n"}
}

// removeAll deletes a host path under the test root.
func removeAll(sys *tasks.System, p string) error {
	return os.RemoveAll(sys.MustPath(p))
}
