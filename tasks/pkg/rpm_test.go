package pkg

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

const rpmQuery = `rpm -q --qf %{NAME}\t%{VERSION}-%{RELEASE}.%{ARCH}\n`

var repoqueryQF = `--qf %{name} %{epoch} %{version} %{release} %{arch}\n`

// repoqueryCmd is the existence query of tool, or its yum 3 equivalent.
func repoqueryCmd(tool, names string) string {
	if tool == "yum" {
		return "yum -q list available " + names
	}
	return tool + " -q repoquery " + repoqueryQF + " " + names
}

// upgradesCmd is the upgrade query of tool.
func upgradesCmd(tool, names string) string {
	if tool == "yum" {
		return "yum -q list updates " + names
	}
	return tool + " -q repoquery --upgrades --latest-limit=1 " + repoqueryQF + " " + names
}

var rpmTools = []string{"dnf", "dnf5", "yum"}

func TestRPMPresent(t *testing.T) {
	for _, tool := range rpmTools {
		t.Run(tool, func(t *testing.T) {
			sys, run, _ := newRPM(t, tool,
				map[string]string{"podman": "5.2.2-1.fc41"},
				map[string]string{"podman": "5.2.3-1.fc41", "shadow-utils": "4.15.1-12.fc41", "fuse-overlayfs-with-a-long-name": "1.13-2.fc41"})
			task := &Package{Names: []string{"podman", "shadow-utils", "fuse-overlayfs-with-a-long-name"}}
			p, err := checkClean(t, sys, task)
			if err != nil {
				t.Fatal(err)
			}
			// present leaves the installed podman alone, upgrade or not.
			wantChanges(t, p,
				tasks.Change{Field: "package shadow-utils", After: "installed"},
				tasks.Change{Field: "package fuse-overlayfs-with-a-long-name", After: "installed"},
			)
			run.Reset()
			taskstest.Converge(t, sys, task)
			install := tool + " -y install shadow-utils fuse-overlayfs-with-a-long-name"
			if tool == "yum" {
				install = "yum -y --setopt=skip_missing_names_on_install=False install shadow-utils fuse-overlayfs-with-a-long-name"
			}
			wantCommands(t, run,
				rpmQuery+" podman shadow-utils fuse-overlayfs-with-a-long-name",
				repoqueryCmd(tool, "shadow-utils fuse-overlayfs-with-a-long-name"),
				install,
				rpmQuery+" podman shadow-utils fuse-overlayfs-with-a-long-name",
			)
		})
	}
}

func TestRPMLatest(t *testing.T) {
	for _, tool := range rpmTools {
		t.Run(tool, func(t *testing.T) {
			sys, run, _ := newRPM(t, tool,
				map[string]string{"podman": "5.2.2-1.fc41", "crun": "1.17-1.fc41"},
				map[string]string{"podman": "5.2.3-1.fc41", "crun": "1.17-1.fc41", "shadow-utils": "4.15.1-12.fc41"})
			task := &Package{Names: []string{"podman", "crun", "shadow-utils"}, State: "latest"}
			p, err := checkClean(t, sys, task)
			if err != nil {
				t.Fatal(err)
			}
			wantChanges(t, p,
				tasks.Change{Field: "package podman", Before: "5.2.2-1.fc41.noarch", After: "5.2.3-1.fc41.noarch"},
				tasks.Change{Field: "package shadow-utils", After: "installed"},
			)
			run.Reset()
			taskstest.Converge(t, sys, task)
			install := tool + " -y install shadow-utils"
			if tool == "yum" {
				install = "yum -y --setopt=skip_missing_names_on_install=False install shadow-utils"
			}
			wantCommands(t, run,
				rpmQuery+" podman crun shadow-utils",
				repoqueryCmd(tool, "shadow-utils"),
				upgradesCmd(tool, "podman crun"),
				install,
				tool+" -y upgrade podman",
				rpmQuery+" podman crun shadow-utils",
				upgradesCmd(tool, "podman crun shadow-utils"),
			)
			out := task.Output()
			if !reflect.DeepEqual(out["installed"], []string{"shadow-utils"}) || !reflect.DeepEqual(out["upgraded"], []string{"podman"}) {
				t.Errorf("output %v", out)
			}
		})
	}
}

func TestRPMAbsent(t *testing.T) {
	for _, tool := range rpmTools {
		t.Run(tool, func(t *testing.T) {
			sys, run, _ := newRPM(t, tool, map[string]string{"podman-docker": "5.2.2-1.fc41"}, nil)
			task := &Package{Names: []string{"podman-docker", "docker-ce"}, State: "absent"}
			p, err := checkClean(t, sys, task)
			if err != nil {
				t.Fatal(err)
			}
			wantChanges(t, p, tasks.Change{Field: "package podman-docker", Before: "5.2.2-1.fc41.noarch", After: "absent"})
			run.Reset()
			taskstest.Converge(t, sys, task)
			wantCommands(t, run,
				rpmQuery+" podman-docker docker-ce",
				tool+" -y remove podman-docker",
				rpmQuery+" podman-docker docker-ce",
			)
		})
	}
}

func TestRPMUnknownInCheck(t *testing.T) {
	for _, tool := range rpmTools {
		t.Run(tool, func(t *testing.T) {
			sys, run, _ := newRPM(t, tool, nil, map[string]string{"podman": "5.2.3-1.fc41"})
			_, err := checkClean(t, sys, &Package{Names: []string{"podman", "podmn"}})
			want := `unknown package "podmn" (not in any enabled repository)`
			if err == nil || err.Error() != want {
				t.Errorf("got %v, want %s", err, want)
			}
			wantCommands(t, run, rpmQuery+" podman podmn", repoqueryCmd(tool, "podman podmn"))
		})
	}
}

func TestRPMUnknownInApply(t *testing.T) {
	for _, tool := range []string{"dnf", "dnf5"} {
		t.Run(tool, func(t *testing.T) {
			sys, run, _ := newRPM(t, tool, nil, map[string]string{"podman": "5.2.3-1.fc41"})
			task := &Package{Names: []string{"podman", "podmn"}, UpdateCache: true}
			p, err := checkClean(t, sys, task)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Warnings) != 1 {
				t.Errorf("warnings %q", p.Warnings)
			}
			err = task.Apply(ctx, sys, p)
			want := `unknown package "podmn" (not in any enabled repository): ` + tool + ` -y --refresh install podman podmn: exit status 1: Error: Unable to find a match: podmn`
			if err == nil || err.Error() != want {
				t.Errorf("got  %v\nwant %s", err, want)
			}
			wantCommands(t, run,
				rpmQuery+" podman podmn",
				repoqueryCmd(tool, "podman podmn"),
				tool+" -y --refresh install podman podmn",
			)
		})
	}
}

func TestRPMLatestUpdateCache(t *testing.T) {
	sys, run, _ := newRPM(t, "dnf5", map[string]string{"podman": "5.2.3-1.fc41"},
		map[string]string{"podman": "5.2.3-1.fc41", "passt": "0^20240906-1.fc41"})
	task := &Package{Names: []string{"podman", "passt"}, State: "latest", UpdateCache: true}
	taskstest.Converge(t, sys, task)
	// --refresh once; the upgrade covers every installed name, since the
	// refreshed metadata may hold upgrades Check could not see.
	wantCommands(t, run,
		rpmQuery+" podman passt",
		repoqueryCmd("dnf5", "passt"),
		upgradesCmd("dnf5", "podman"),
		"dnf5 -y --refresh install passt",
		"dnf5 -y upgrade podman",
		rpmQuery+" podman passt",
		upgradesCmd("dnf5", "podman passt"),
	)
}

func TestYumUpdateCache(t *testing.T) {
	sys, run, _ := newRPM(t, "yum", nil, map[string]string{"podman": "1.6.4-32.el7"})
	task := &Package{Names: []string{"podman"}, UpdateCache: true}
	taskstest.Converge(t, sys, task)
	wantCommands(t, run,
		rpmQuery+" podman",
		repoqueryCmd("yum", "podman"),
		"yum clean expire-cache",
		"yum -y --setopt=skip_missing_names_on_install=False install podman",
		rpmQuery+" podman",
	)
}

func TestRPMQueryFailure(t *testing.T) {
	sys, run, _ := newRPM(t, "dnf", nil, nil)
	run.On("rpm -q", func(tasks.Cmd) tasks.Result {
		return tasks.Result{Stderr: "error: cannot open Packages database in /var/lib/rpm", ExitCode: 1}
	})
	_, err := (&Package{Names: []string{"podman"}}).Check(ctx, sys)
	if err == nil || !strings.Contains(err.Error(), "exit status 1: error: cannot open Packages database") {
		t.Errorf("got %v", err)
	}
}

func TestRPMInstalledForms(t *testing.T) {
	sys, run := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/usr/bin/dnf", "")
	// Real rpm output: a multilib package prints a line per instance and
	// a name-version argument comes back under the bare name.
	run.Reply("rpm -q", "glibc\t2.40-3.fc41.x86_64\nglibc\t2.40-3.fc41.i686\npodman\t5.2.3-1.fc41.x86_64\npackage crun is not installed\n", 1)
	got, err := rpmBackend{tool: "dnf"}.installed(ctx, sys, []string{"glibc", "podman-5.2.3", "crun"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]pkgState{
		"glibc":        {installed: true, removable: true, version: "2.40-3.fc41.x86_64, 2.40-3.fc41.i686"},
		"podman-5.2.3": {installed: true, removable: true, version: "installed"},
		"crun":         {},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestRPMMatches(t *testing.T) {
	p := rpmPkg{name: "podman", epoch: "5", version: "5.2.3", release: "1.fc41", arch: "x86_64"}
	for spec, want := range map[string]bool{
		"podman": true, "podman.x86_64": true, "podman-5.2.3": true, "podman-5.2.3-1.fc41": true,
		"podman-5.2.3-1.fc41.x86_64": true, "podman-5:5.2.3-1.fc41": true,
		"podman.i686": false, "podman-docker": false, "podma": false, "podman-5.2.4": false,
	} {
		if got := p.matches(spec); got != want {
			t.Errorf("matches(%q) = %v", spec, got)
		}
	}
	if got := p.evra(); got != "5:5.2.3-1.fc41.x86_64" {
		t.Errorf("evra = %q", got)
	}
}

func TestParseYumList(t *testing.T) {
	out := `Available Packages
fuse-overlayfs.x86_64                  0.7.2-6.el7_8                   extras
containernetworking-plugins-with-a-very-long-name.x86_64
                                       1:0.8.3-3.el7.centos            extras
podman.x86_64                          1.6.4-32.el7.centos             extras
`
	want := []rpmPkg{
		{"fuse-overlayfs", "", "0.7.2", "6.el7_8", "x86_64"},
		{"containernetworking-plugins-with-a-very-long-name", "1", "0.8.3", "3.el7.centos", "x86_64"},
		{"podman", "", "1.6.4", "32.el7.centos", "x86_64"},
	}
	if got := parseYumList(out); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// In check mode the repository queries write nothing on the host: logs go
// to a temp dir, the host's metadata cache is read with -C (not refreshed),
// and when it cannot answer (no cache yet) a temp cache is used; the temp
// dir is gone afterwards. The plan is the same as a normal check's.
func TestRPMCheckOnlyWritesNothing(t *testing.T) {
	for _, tool := range rpmTools {
		for _, cached := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/cached=%v", tool, cached), func(t *testing.T) {
				sys, run, f := newRPM(t, tool,
					map[string]string{"podman": "5.2.2-1.fc41"},
					map[string]string{"podman": "5.2.3-1.fc41", "crun": "1.17-1.fc41"})
				sys.CheckOnly = true
				var temps []string
				run.On(tool, func(c tasks.Cmd) tasks.Result {
					var cacheOnly bool
					for _, a := range c.Argv {
						if d, ok := strings.CutPrefix(a, "--setopt=logdir="); ok {
							temps = append(temps, d)
							if _, err := os.Stat(filepath.Dir(d)); err != nil {
								t.Errorf("%s: temp dir missing during the query: %v", a, err)
							}
						}
						cacheOnly = cacheOnly || a == "-C"
					}
					if cacheOnly && !cached {
						return tasks.Result{Stderr: "Error: Cache-only enabled but no cache for 'fedora'\n", ExitCode: 1}
					}
					return f.pm(c)
				})
				p, err := checkClean(t, sys, &Package{Names: []string{"podman", "crun"}, State: "latest"})
				if err != nil {
					t.Fatal(err)
				}
				wantChanges(t, p,
					tasks.Change{Field: "package podman", Before: "5.2.2-1.fc41.noarch", After: "5.2.3-1.fc41.noarch"},
					tasks.Change{Field: "package crun", After: "installed"},
				)
				got := run.Commands()
				wantN := 3 // rpm -q, the existence query, the upgrade query
				if !cached {
					wantN = 5 // each query asked again with a temp cache
				}
				if len(got) != wantN {
					t.Fatalf("commands: %q", got)
				}
				for _, c := range got[1:] {
					tmp := regexp.MustCompile(`--setopt=logdir=(\S+)/log `).FindStringSubmatch(c)
					switch {
					case tmp == nil:
						t.Errorf("no logdir in a temp dir: %s", c)
					case !strings.Contains(c, " --setopt=cachedir="+tmp[1]+"/cache "):
						t.Errorf("no cachedir in the temp dir: %s", c)
					case strings.Contains(c, " -C "):
						if !strings.Contains(c, "--setopt=skip_if_unavailable=False") {
							t.Errorf("cache-only query without skip_if_unavailable=False: %s", c)
						}
					case cached:
						t.Errorf("asked again though the cache answered: %s", c)
					}
				}
				for _, d := range temps {
					if _, err := os.Stat(filepath.Dir(d)); !os.IsNotExist(err) {
						t.Errorf("temp dir %s left behind (%v)", filepath.Dir(d), err)
					}
				}
			})
		}
	}
}

// The temp cachedir links to the repodata of the host's cache (and DNF 4's
// solv files), nothing else: no packages, no link followed in the cache.
func TestMirrorCache(t *testing.T) {
	sys, _ := taskstest.New(t)
	for _, f := range []string{
		"/var/cache/dnf/fedora-0123456789abcdef/repodata/repomd.xml",
		"/var/cache/dnf/fedora-0123456789abcdef/packages/big.rpm",
		"/var/cache/dnf/fedora.solv", "/var/cache/dnf/fedora-filenames.solvx",
		"/var/cache/dnf/expired_repos.json", "/var/cache/dnf/notarepo/repodata/x",
		"/etc/secret",
	} {
		taskstest.WriteFile(t, sys, f, "x")
	}
	if err := os.Symlink("/etc", taskstest.HostPath(sys, "/var/cache/dnf/evil-0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := mirrorCache(sys.FS(), sys.Root, "/var/cache/dnf", dst, true); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		if p != dst {
			l, _ := os.Readlink(p)
			got = append(got, strings.TrimPrefix(p, dst)+" -> "+strings.TrimPrefix(l, sys.Root))
		}
		return nil
	})
	want := []string{
		"/fedora-0123456789abcdef -> ",
		"/fedora-0123456789abcdef/repodata -> /var/cache/dnf/fedora-0123456789abcdef/repodata",
		"/fedora-filenames.solvx -> /var/cache/dnf/fedora-filenames.solvx",
		"/fedora.solv -> /var/cache/dnf/fedora.solv",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mirror:\n got %q\nwant %q", got, want)
	}
}
