package users

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/provision-tool/provision/diag"
	"github.com/provision-tool/provision/tasks"
)

// PwdLockFile is the lock glibc's lckpwdf(3) takes for every edit of the
// account files; shadow's tools take it before their per-file locks.
const PwdLockFile = "/etc/.pwd.lock"

// lockTimeout is how long LockPasswd waits, as glibc's lckpwdf does.
var lockTimeout = 15 * time.Second

// lockPoll is how often LockPasswd retries while the lock is held.
var lockPoll = 50 * time.Millisecond

// LockPasswd takes the lock of lckpwdf(3): a write lock with fcntl(2) on
// /etc/.pwd.lock (created 0600 when missing), waiting up to 15 seconds.
// It uses an open file description lock, which conflicts with the
// classic record lock glibc takes in other processes and also with other
// goroutines of this process; on kernels without them it falls back to a
// classic lock. The returned function releases the lock.
func LockPasswd(ctx context.Context, sys *tasks.System) (unlock func() error, err error) {
	f, err := sys.FS().OpenRegular(PwdLockFile, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", PwdLockFile, err)
	}
	cmd := unix.F_OFD_SETLK
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	deadline := time.Now().Add(lockTimeout)
	for {
		err := unix.FcntlFlock(f.Fd(), cmd, &lk)
		if err == nil {
			break
		}
		if errors.Is(err, unix.EINVAL) && cmd == unix.F_OFD_SETLK {
			cmd = unix.F_SETLK
			continue
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", PwdLockFile, err)
		}
		if !time.Now().Before(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: still held by another program after %v", PwdLockFile, lockTimeout)
		}
		t := time.NewTimer(lockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", PwdLockFile, ctx.Err())
		case <-t.C:
		}
	}
	return func() error {
		un := unix.Flock_t{Type: unix.F_UNLCK, Whence: io.SeekStart}
		err := unix.FcntlFlock(f.Fd(), cmd, &un)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("unlock %s: %w", PwdLockFile, err)
		}
		return nil
	}, nil
}

// LockFile takes shadow's per-file lock on file (such as /etc/subuid), the
// way lib/commonio.c does: it writes its PID into FILE.PID (created
// O_CREAT|O_TRUNC, mode 0600, synced), hard-links that to FILE.lock and
// checks the link count is 2, then removes FILE.PID. When FILE.lock
// exists and names a process that is gone, the stale lock is removed and
// the link tried once more; when that process lives, the error says "lock
// FILE.lock already used by PID N". Take LockPasswd first, as shadow does.
// The returned function removes FILE.lock.
func LockFile(sys *tasks.System, file string) (unlock func() error, err error) {
	lockName := file + ".lock"
	pid := os.Getpid()
	tmp, err := sys.Path(file + "." + strconv.Itoa(pid))
	if err != nil {
		return nil, err
	}
	lock := sys.MustPath(lockName)
	// shadow writes the PID and its terminating NUL.
	if err := writeSynced(tmp, append([]byte(strconv.Itoa(pid)), 0)); err != nil {
		return nil, fmt.Errorf("lock %s: %w", lockName, err)
	}
	defer os.Remove(tmp)
	unlock = func() error {
		if err := os.Remove(lock); err != nil {
			return fmt.Errorf("unlock %s: %w", lockName, err)
		}
		return nil
	}
	err = os.Link(tmp, lock)
	if err == nil {
		if err := checkLinkCount(tmp, lock, lockName); err != nil {
			return nil, err
		}
		return unlock, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("lock %s: %w", lockName, err)
	}
	data, err := os.ReadFile(lock)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", lockName, err)
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		data = data[:i]
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("existing lock file %s without a PID", lockName)
	}
	other, err := strconv.Atoi(string(bytes.TrimSpace(data)))
	if err != nil || other <= 0 {
		return nil, fmt.Errorf("existing lock file %s with an invalid PID %q", lockName, data)
	}
	if processAlive(other) {
		return nil, fmt.Errorf("lock %s already used by PID %d", lockName, other)
	}
	if err := os.Remove(lock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cannot get lock %s: %w", lockName, err)
	}
	if err := os.Link(tmp, lock); err != nil {
		return nil, fmt.Errorf("cannot get lock %s: %w", lockName, err)
	}
	if err := checkLinkCount(tmp, lock, lockName); err != nil {
		return nil, err
	}
	return unlock, nil
}

// processAlive reports whether pid exists. Unlike shadow, a process we may
// not signal (EPERM) counts as alive: a lock is only broken when its owner
// is certainly gone.
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

func checkLinkCount(tmp, lock, lockName string) error {
	st, err := os.Stat(tmp)
	if err != nil {
		return fmt.Errorf("lock %s: %w", lockName, err)
	}
	if n := st.Sys().(*syscall.Stat_t).Nlink; n != 2 {
		// The link is ours but something else shares it: do not keep it.
		if lst, err := os.Stat(lock); err == nil && os.SameFile(st, lst) {
			os.Remove(lock)
		}
		return fmt.Errorf("lock %s: lock file already used (nlink: %d)", lockName, n)
	}
	return nil
}

func writeSynced(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(p)
		return err
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		f.Close()
		os.Remove(p)
		return err
	}
	return f.Close()
}

// shadowFiles are the files whose shadow locks provision takes.
var shadowFiles = []string{"/etc/subuid", "/etc/subgid"}

func init() { tasks.RegisterCleanup(RemoveStaleLocks) }

// RemoveStaleLocks removes what a killed run (of provision or of shadow's
// tools) left of shadow's per-file locks on /etc/subuid and /etc/subgid,
// the way shadow's commonio.c judges them: FILE.lock and FILE.PID are
// removed only when their process is certainly gone. A live process's
// lock is left alone.
func RemoveStaleLocks(sys *tasks.System) error {
	entries, err := sys.ReadDir("/etc")
	if err != nil {
		return nil // no /etc: nothing to clean
	}
	var errs []error
	for _, file := range shadowFiles {
		base := path.Base(file)
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			if pid, ok := staleLock(sys, base, e.Name()); ok && pid != os.Getpid() {
				if err := sys.FS().Remove(path.Join("/etc", e.Name())); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return diag.Join(errs...)
}

// staleLock reports whether name is base's lock or PID file, of a process
// that is gone, and that process.
func staleLock(sys *tasks.System, base, name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, base+".")
	if !ok {
		return 0, false
	}
	var pid int
	if rest == "lock" {
		data, err := sys.ReadFile(path.Join("/etc", name))
		if err != nil {
			return 0, false
		}
		if i := bytes.IndexByte(data, 0); i >= 0 {
			data = data[:i]
		}
		pid, err = strconv.Atoi(string(bytes.TrimSpace(data)))
		if err != nil {
			return 0, false
		}
	} else if n, err := strconv.Atoi(rest); err == nil && strconv.Itoa(n) == rest {
		pid = n
	}
	return pid, pid > 0 && !processAlive(pid)
}
