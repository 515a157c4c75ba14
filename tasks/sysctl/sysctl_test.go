package sysctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"

	"github.com/provision-tool/provision/testhost"
)

func check(t *testing.T, sys *tasks.System, task tasks.Task) tasks.Plan {
	t.Helper()
	return taskstest.Check(t, sys, task)
}

func wantChanges(t *testing.T, p tasks.Plan, want []tasks.Change) {
	t.Helper()
	taskstest.WantChanges(t, p, want)
}

func no() *bool { b := false; return &b }

func TestSysctlNewFileAndLive(t *testing.T) {
	sys, run := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/proc/sys/user/max_user_namespaces", "0\n")
	s := &Sysctl{Name: "user.max_user_namespaces", Value: "28633"}
	p := check(t, sys, s)
	wantChanges(t, p, []tasks.Change{
		{Field: "content", Path: DefaultFile, After: "user.max_user_namespaces = 28633\n"},
		{Field: "user.max_user_namespaces", Before: "0", After: "28633"},
	})
	taskstest.Converge(t, sys, s)
	if got := taskstest.ReadFile(t, sys, DefaultFile); got != "user.max_user_namespaces = 28633\n" {
		t.Fatalf("file %q", got)
	}
	if got := taskstest.ReadFile(t, sys, "/proc/sys/user/max_user_namespaces"); got != "28633\n" {
		t.Fatalf("live %q", got)
	}
	if st, _ := sys.Stat(DefaultFile); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	if len(run.Calls) != 0 {
		t.Errorf("ran %v", run.Commands())
	}
}

func TestSysctlPreservesOtherLines(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/proc/sys/net/ipv4/ip_unprivileged_port_start", "1024\n")
	old := "# local tuning\n; old style comment\nvm.swappiness=10\n\nnet.ipv4.ip_unprivileged_port_start=1024   \nkernel.pid_max = 4194304"
	taskstest.WriteFile(t, sys, "/etc/sysctl.d/90-provision.conf", old)
	if err := os.Chmod(sys.MustPath(DefaultFile), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Sysctl{Name: "net.ipv4.ip_unprivileged_port_start", Value: "80"}
	p := check(t, sys, s)
	want := "# local tuning\n; old style comment\nvm.swappiness=10\n\nnet.ipv4.ip_unprivileged_port_start = 80\nkernel.pid_max = 4194304"
	wantChanges(t, p, []tasks.Change{
		{Field: "content", Path: DefaultFile, Before: old, After: want},
		{Field: "net.ipv4.ip_unprivileged_port_start", Before: "1024", After: "80"},
	})
	taskstest.Converge(t, sys, s)
	if got := taskstest.ReadFile(t, sys, DefaultFile); got != want {
		t.Fatalf("file %q", got)
	}
	if st, _ := sys.Stat(DefaultFile); st.Mode().Perm() != 0o600 {
		t.Errorf("mode changed to %v", st.Mode())
	}
}

func TestSysctlSpellingsAndDuplicates(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/proc/sys/net/ipv4/ip_forward", "1\n")
	old := "-net/ipv4/ip_forward=0\nnet.ipv4.conf.all.forwarding = 1\n  net.ipv4.ip_forward  =  0 \n"
	taskstest.WriteFile(t, sys, DefaultFile, old)
	s := &Sysctl{Name: "net.ipv4.ip_forward", Value: "1"}
	p := check(t, sys, s)
	wantChanges(t, p, []tasks.Change{
		{Field: "content", Path: DefaultFile, Before: old, After: "net.ipv4.ip_forward = 1\nnet.ipv4.conf.all.forwarding = 1\n"},
	})
	taskstest.Converge(t, sys, s)
}

// TestSysctlKeepsAnsibleLine checks that a line Ansible's sysctl module
// wrote (name=value) with the wanted value is left as it is.
func TestSysctlKeepsAnsibleLine(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, DefaultFile, "user.max_user_namespaces=28633\n")
	s := &Sysctl{Name: "user.max_user_namespaces", Value: "28633", ApplyLive: no()}
	wantChanges(t, check(t, sys, s), nil)
	s.Value = "30000"
	wantChanges(t, check(t, sys, s), []tasks.Change{
		{Field: "content", Path: DefaultFile, Before: "user.max_user_namespaces=28633\n", After: "user.max_user_namespaces = 30000\n"},
	})
}

func TestSysctlWhitespaceNormalised(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/proc/sys/net/ipv4/ping_group_range", "0\t2147483647\n")
	taskstest.WriteFile(t, sys, DefaultFile, "net.ipv4.ping_group_range = 0   2147483647\n")
	s := &Sysctl{Name: "net.ipv4.ping_group_range", Value: "0   2147483647"}
	wantChanges(t, check(t, sys, s), nil)

	s.Value = "0 2000"
	p := check(t, sys, s)
	wantChanges(t, p, []tasks.Change{
		{Field: "content", Path: DefaultFile, Before: "net.ipv4.ping_group_range = 0   2147483647\n", After: "net.ipv4.ping_group_range = 0 2000\n"},
		{Field: "net.ipv4.ping_group_range", Before: "0 2147483647", After: "0 2000"},
	})
}

func TestSysctlOnlyLiveDrift(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/proc/sys/vm/swappiness", "60\n")
	taskstest.WriteFile(t, sys, DefaultFile, "vm.swappiness = 10\n")
	s := &Sysctl{Name: "vm.swappiness", Value: "10"}
	p := check(t, sys, s)
	wantChanges(t, p, []tasks.Change{{Field: "vm.swappiness", Before: "60", After: "10"}})
	taskstest.Converge(t, sys, s)
	if got := taskstest.ReadFile(t, sys, "/proc/sys/vm/swappiness"); got != "10\n" {
		t.Fatalf("live %q", got)
	}
}

func TestSysctlAbsent(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/proc/sys/vm/swappiness", "10\n")
	old := "vm.swappiness = 10\nkernel.pid_max = 4194304\nvm/swappiness=5\n"
	taskstest.WriteFile(t, sys, DefaultFile, old)
	s := &Sysctl{Name: "vm.swappiness", State: "absent"}
	p := check(t, sys, s)
	wantChanges(t, p, []tasks.Change{{Field: "content", Path: DefaultFile, Before: old, After: "kernel.pid_max = 4194304\n"}})
	taskstest.Converge(t, sys, s)
	if got := taskstest.ReadFile(t, sys, "/proc/sys/vm/swappiness"); got != "10\n" {
		t.Fatalf("absent touched the running value: %q", got)
	}

	// Absent from an absent file is nothing to do.
	sys2, _ := taskstest.New(t)
	wantChanges(t, check(t, sys2, &Sysctl{Name: "vm.swappiness", State: "absent"}), nil)
	if sys2.Exists(DefaultFile) {
		t.Fatal("created a file")
	}
}

func TestSysctlNoLive(t *testing.T) {
	sys, _ := taskstest.New(t) // no /proc at all, as in an image root
	s := &Sysctl{Name: "net.bridge.bridge-nf-call-iptables", Value: "1", ApplyLive: no(), File: "/etc/sysctl.d/99-bridge.conf"}
	p := check(t, sys, s)
	wantChanges(t, p, []tasks.Change{{Field: "content", Path: "/etc/sysctl.d/99-bridge.conf", After: "net.bridge.bridge-nf-call-iptables = 1\n"}})
	taskstest.Converge(t, sys, s)
}

func TestSysctlUnknownParameter(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/proc/sys/kernel/osrelease", "6.1.0\n")
	_, err := (&Sysctl{Name: "net.bridge.bridge-nf-call-iptables", Value: "1"}).Check(context.Background(), sys)
	if err == nil || !strings.Contains(err.Error(), "/proc/sys/net/bridge/bridge-nf-call-iptables does not exist") || !strings.Contains(err.Error(), "apply_live: false") {
		t.Fatalf("error %v", err)
	}
}

// TestSysctlReadOnlyProc: a /proc/sys that cannot be written fails the
// task in Check, with the way out. As a normal user a mode 0444 file is
// enough; root writes any file, so for root /proc/sys is a read-only
// mount, as in a container, made in a mount namespace of the test's own.
func TestSysctlReadOnlyProc(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/proc/sys/user/max_user_namespaces", "0\n")
	want := "permission denied"
	var err error
	if os.Geteuid() != 0 {
		if err := os.Chmod(sys.MustPath("/proc/sys/user/max_user_namespaces"), 0o444); err != nil {
			t.Fatal(err)
		}
		_, err = (&Sysctl{Name: "user.max_user_namespaces", Value: "100"}).Check(context.Background(), sys)
	} else {
		want = "/proc/sys is read-only here"
		err = inReadOnlyMount(t, sys.MustPath("/proc/sys"), func() error {
			_, err := (&Sysctl{Name: "user.max_user_namespaces", Value: "100"}).Check(context.Background(), sys)
			return err
		})
	}
	if err == nil || !strings.Contains(err.Error(), "cannot set the running value: "+want) || !strings.Contains(err.Error(), "apply_live: false") {
		t.Fatalf("error %v", err)
	}
}

// inReadOnlyMount runs fn on a thread of its own whose private mount
// namespace has dir bind-mounted read-only. The namespace, and the mount,
// end with the thread; the machine's mounts never change.
func inReadOnlyMount(t *testing.T, dir string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	setup := make(chan error, 1)
	go func() {
		// Never unlocked: the thread exits with the goroutine, and its
		// mount namespace with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			setup <- fmt.Errorf("unshare: %w", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			setup <- fmt.Errorf("make / private: %w", err)
			return
		}
		if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
			setup <- fmt.Errorf("bind %s: %w", dir, err)
			return
		}
		if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			setup <- fmt.Errorf("read-only %s: %w", dir, err)
			return
		}
		done <- fn()
	}()
	select {
	case err := <-setup:
		t.Fatalf("cannot make a read-only mount for the test: %v", err)
		return nil
	case err := <-done:
		return err
	}
}

func TestSysctlLiveErrorMessages(t *testing.T) {
	s := &Sysctl{Name: "user.max_user_namespaces"}
	for errno, want := range map[syscall.Errno]string{
		syscall.EROFS:  "/proc/sys is read-only here (a container?)",
		syscall.EACCES: "permission denied",
		syscall.EPERM:  "permission denied",
	} {
		err := s.liveError(&os.PathError{Op: "open", Path: "/proc/sys/user/max_user_namespaces", Err: errno})
		if !strings.Contains(err.Error(), "sysctl user.max_user_namespaces: cannot set the running value: "+want) {
			t.Errorf("%v: %v", errno, err)
		}
	}
}

func TestSysctlWarnsAboutLaterFiles(t *testing.T) {
	sys, _ := taskstest.New(t)
	taskstest.WriteFile(t, sys, "/proc/sys/user/max_user_namespaces", "0\n")
	taskstest.WriteFile(t, sys, "/etc/sysctl.d/10-early.conf", "user.max_user_namespaces = 5\n")
	taskstest.WriteFile(t, sys, "/usr/lib/sysctl.d/99-late.conf", "user.max_user_namespaces = 0\n")
	taskstest.WriteFile(t, sys, "/etc/sysctl.d/95-masked.conf", "# masks the /usr/lib copy\n")
	taskstest.WriteFile(t, sys, "/usr/lib/sysctl.d/95-masked.conf", "user.max_user_namespaces = 7\n")
	taskstest.WriteFile(t, sys, "/etc/sysctl.conf", "user.max_user_namespaces=28633\n")
	if err := os.Symlink("../sysctl.conf", sys.MustPath("/etc/sysctl.d/99-sysctl.conf")); err != nil {
		t.Fatal(err)
	}
	p := check(t, sys, &Sysctl{Name: "user.max_user_namespaces", Value: "15000"})
	want := []string{
		"/usr/lib/sysctl.d/99-late.conf sets user.max_user_namespaces = 0 and is read after /etc/sysctl.d/90-provision.conf at boot, so it wins there",
		"/etc/sysctl.d/99-sysctl.conf sets user.max_user_namespaces = 28633 and is read after /etc/sysctl.d/90-provision.conf at boot, so it wins there",
	}
	if !reflect.DeepEqual(p.Warnings, want) {
		t.Fatalf("warnings:\n%q\nwant:\n%q", p.Warnings, want)
	}
	// The same value later is no conflict.
	p = check(t, sys, &Sysctl{Name: "user.max_user_namespaces", Value: "0", File: "/etc/sysctl.d/50-x.conf"})
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "28633") {
		t.Fatalf("warnings %q", p.Warnings)
	}
}

func TestSysctlValidate(t *testing.T) {
	cases := []struct {
		s   Sysctl
		arg string
	}{
		{Sysctl{Name: "user.max_user_namespaces", Value: "1"}, ""},
		{Sysctl{Name: "net.ipv4.conf.eth0.forwarding", Value: "1", File: "/etc/sysctl.conf"}, ""},
		{Sysctl{Name: "vm.swappiness", State: "absent"}, ""},
		{Sysctl{Name: "", Value: "1"}, "name"},
		{Sysctl{Name: "net/ipv4/ip_forward", Value: "1"}, "name"},
		{Sysctl{Name: "net..ipv4", Value: "1"}, "name"},
		{Sysctl{Name: ".net.ipv4", Value: "1"}, "name"},
		{Sysctl{Name: "net.ipv4.", Value: "1"}, "name"},
		{Sysctl{Name: "-net.ipv4.ip_forward", Value: "1"}, "name"},
		{Sysctl{Name: "kernel.*", Value: "1"}, "name"},
		{Sysctl{Name: "vm.swappiness"}, "value"},
		{Sysctl{Name: "vm.swappiness", Value: "1\nkernel.x = 1"}, "value"},
		{Sysctl{Name: "vm.swappiness", Value: "1", State: "latest"}, "state"},
		{Sysctl{Name: "vm.swappiness", Value: "1", File: "/etc/sysctl.d/x"}, "file"},
		{Sysctl{Name: "vm.swappiness", Value: "1", File: "/etc/sysctl.d/sub/x.conf"}, "file"},
		{Sysctl{Name: "vm.swappiness", Value: "1", File: "/etc/sysctl.d/../passwd.conf"}, "file"},
		{Sysctl{Name: "vm.swappiness", Value: "1", File: "/usr/lib/sysctl.d/x.conf"}, "file"},
	}
	for _, c := range cases {
		s := c.s
		err := s.Validate()
		var ae *tasks.ArgError
		switch {
		case c.arg == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", c.s, err)
		case c.arg != "" && (!errors.As(err, &ae) || ae.Arg != c.arg):
			t.Errorf("%+v: error %v, want one for %s", c.s, err, c.arg)
		}
	}
}

func TestSysctlRealProc(t *testing.T) {
	// Check only reads: the real /proc/sys and /etc/sysctl.d, under root "/".
	const name, proc = "net.ipv4.ping_group_range", "/proc/sys/net/ipv4/ping_group_range"
	cur, err := os.ReadFile(proc)
	if err != nil {
		testhost.Skipf(t, "cannot read %s: %v", proc, err)
	}
	if !strings.Contains(string(cur), "\t") {
		t.Logf("%s reads %q, without a tab", proc, cur)
	}
	sys := &tasks.System{Root: "/"}
	s := &Sysctl{Name: name, Value: strings.Join(strings.Fields(string(cur)), " "), File: "/etc/sysctl.d/zz-provision-unit-test-absent.conf"}
	p, err := s.Check(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	// The file is missing, the running value matches despite the tab.
	if len(p.Changes) != 1 || p.Changes[0].Path != s.File {
		t.Fatalf("plan %#v", p.Changes)
	}
}

// In an image being built the value is persisted only: /proc/sys is the
// build machine's, and the note says so instead of failing.
func TestSysctlImagePersistsOnly(t *testing.T) {
	sys, _ := taskstest.New(t)
	sys.Image = true
	taskstest.WriteFile(t, sys, "/proc/sys/user/max_user_namespaces", "0\n")
	s := &Sysctl{Name: "user.max_user_namespaces", Value: "28633"}
	p := check(t, sys, s)
	wantChanges(t, p, []tasks.Change{{Field: "content", Path: DefaultFile, After: "user.max_user_namespaces = 28633\n"}})
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "image build: apply_live skipped") {
		t.Errorf("warnings %q", p.Warnings)
	}
	taskstest.Converge(t, sys, s)
	if got := taskstest.ReadFile(t, sys, "/proc/sys/user/max_user_namespaces"); got != "0\n" {
		t.Fatalf("live value changed to %q in image mode", got)
	}
}
