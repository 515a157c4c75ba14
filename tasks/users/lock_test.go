package users

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/taskstest"
)

func lockHost(t *testing.T) *tasks.System {
	t.Helper()
	sys, _ := taskstest.New(t)
	if err := os.MkdirAll(sys.MustPath("/etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	return sys
}

func TestLockFile(t *testing.T) {
	sys := lockHost(t)
	unlock, err := LockFile(sys, "/etc/subuid")
	if err != nil {
		t.Fatal(err)
	}
	pid := os.Getpid()
	wantFile(t, sys, "/etc/subuid.lock", strconv.Itoa(pid)+"\x00")
	st, err := os.Stat(sys.MustPath("/etc/subuid.lock"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v, %v; want mode 0600", st, err)
	}
	if _, err := os.Stat(sys.MustPath(fmt.Sprintf("/etc/subuid.%d", pid))); !os.IsNotExist(err) {
		t.Errorf("temp PID file still there: %v", err)
	}

	// A second taker sees a live owner: us.
	if _, err := LockFile(sys, "/etc/subuid"); err == nil || err.Error() != fmt.Sprintf("lock /etc/subuid.lock already used by PID %d", pid) {
		t.Errorf("second lock: %v", err)
	}
	wantFile(t, sys, "/etc/subuid.lock", strconv.Itoa(pid)+"\x00")

	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(sys.MustPath("/etc"))
	if len(entries) != 0 {
		t.Errorf("left in /etc: %v", entries)
	}
	if err := unlock(); err == nil {
		t.Error("second unlock did not report the missing lock file")
	}
}

func TestLockFileExistingLocks(t *testing.T) {
	tests := []struct {
		name    string
		content string
		err     string // "" means the lock is taken
	}{
		{"stale", "99999999\x00", ""},
		{"stale without NUL", "99999999\n", ""},
		{"live", "1\x00", "lock /etc/subgid.lock already used by PID 1"},
		{"empty", "", "existing lock file /etc/subgid.lock without a PID"},
		{"garbage", "12ab\x00", `existing lock file /etc/subgid.lock with an invalid PID "12ab"`},
		{"negative", "-5", `existing lock file /etc/subgid.lock with an invalid PID "-5"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := lockHost(t)
			taskstest.WriteFile(t, sys, "/etc/subgid.lock", tt.content)
			unlock, err := LockFile(sys, "/etc/subgid")
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %s", err, tt.err)
				}
				wantFile(t, sys, "/etc/subgid.lock", tt.content)
			} else {
				if err != nil {
					t.Fatal(err)
				}
				wantFile(t, sys, "/etc/subgid.lock", strconv.Itoa(os.Getpid())+"\x00")
				if err := unlock(); err != nil {
					t.Fatal(err)
				}
			}
			matches, _ := filepath.Glob(sys.MustPath("/etc/subgid.[0-9]*"))
			if len(matches) != 0 {
				t.Errorf("temp PID files left: %v", matches)
			}
		})
	}
}

func TestLockPasswd(t *testing.T) {
	sys := lockHost(t)
	unlock, err := LockPasswd(context.Background(), sys)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(sys.MustPath(PwdLockFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want mode 0600", PwdLockFile, st, err)
	}

	old := lockTimeout
	lockTimeout = 150 * time.Millisecond
	defer func() { lockTimeout = old }()

	// Held: another taker in this process times out...
	if _, err := LockPasswd(context.Background(), sys); err == nil || !strings.Contains(err.Error(), "still held") {
		t.Fatalf("second lock: %v", err)
	}
	// ... or gives up when its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LockPasswd(ctx, sys); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled lock: %v", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	unlock2, err := LockPasswd(context.Background(), sys)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock2()
}

// TestLockPasswdAgainstRecordLock runs a child process that holds
// /etc/.pwd.lock with a classic fcntl record lock, as glibc's lckpwdf does.
func TestLockPasswdAgainstRecordLock(t *testing.T) {
	sys := lockHost(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRecordLock$")
	cmd.Env = append(os.Environ(), "PROVISION_TEST_RECORD_LOCK="+sys.MustPath(PwdLockFile))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}

	old := lockTimeout
	lockTimeout = 300 * time.Millisecond
	defer func() { lockTimeout = old }()
	if _, err := LockPasswd(context.Background(), sys); err == nil {
		t.Fatal("took the lock while another process held it")
	}
	// The holder lets go while we wait.
	lockTimeout = 10 * time.Second
	go func() {
		time.Sleep(200 * time.Millisecond)
		stdin.Close()
	}()
	start := time.Now()
	unlock, err := LockPasswd(context.Background(), sys)
	if err != nil {
		t.Fatalf("after the holder exited: %v", err)
	}
	unlock()
	if time.Since(start) < 150*time.Millisecond {
		t.Error("did not wait for the holder")
	}
}

// TestHelperRecordLock is the child of TestLockPasswdAgainstRecordLock.
func TestHelperRecordLock(t *testing.T) {
	p := os.Getenv("PROVISION_TEST_RECORD_LOCK")
	if p == "" {
		t.Skip("helper process only")
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(f.Fd(), unix.F_SETLKW, &lk); err != nil {
		t.Fatal(err)
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// A killed run's shadow lock and PID files go at the next run; a live
// process's stay.
func TestRemoveStaleLocks(t *testing.T) {
	sys, _ := taskstest.New(t)
	dead := deadPID(t)
	live := os.Getppid()
	taskstest.WriteFile(t, sys, "/etc/subuid", "")
	taskstest.WriteFile(t, sys, "/etc/subuid.lock", strconv.Itoa(dead)+"\x00")
	taskstest.WriteFile(t, sys, fmt.Sprintf("/etc/subuid.%d", dead), strconv.Itoa(dead)+"\x00")
	taskstest.WriteFile(t, sys, "/etc/subgid.lock", strconv.Itoa(live)+"\x00")
	taskstest.WriteFile(t, sys, fmt.Sprintf("/etc/subgid.%d", live), "")
	taskstest.WriteFile(t, sys, "/etc/subgid.0042x", "")
	if err := RemoveStaleLocks(sys); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/etc/subuid.lock", fmt.Sprintf("/etc/subuid.%d", dead)} {
		if sys.Exists(p) {
			t.Errorf("%s kept", p)
		}
	}
	for _, p := range []string{"/etc/subuid", "/etc/subgid.lock", fmt.Sprintf("/etc/subgid.%d", live), "/etc/subgid.0042x"} {
		if !sys.Exists(p) {
			t.Errorf("%s removed", p)
		}
	}
}

// deadPID returns the PID of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	return cmd.Process.Pid
}
