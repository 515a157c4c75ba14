package testhost

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupGroup is the directory, in each hierarchy, that holds one cgroup per
// guest. With --register=no --keep-unit nspawn puts its guest in
// "<own cgroup>/payload"; started from "/", every guest would share /payload
// and their systemd instances would fight over /system.slice (testhosts.md §2).
const cgroupGroup = "provision-e2e"

// cgroupRoots returns the hierarchies in which each guest gets its own
// cgroup: on a hybrid or legacy host the name=systemd tree and the (maybe
// empty) unified tree; on a pure cgroup2 host /sys/fs/cgroup itself. Other v1
// controllers are left alone.
func cgroupRoots() []string {
	if isDir("/sys/fs/cgroup/systemd") {
		roots := []string{"/sys/fs/cgroup/systemd"}
		if isDir("/sys/fs/cgroup/unified") {
			roots = append(roots, "/sys/fs/cgroup/unified")
		}
		return roots
	}
	if fileExists("/sys/fs/cgroup/cgroup.procs") {
		return []string{"/sys/fs/cgroup"}
	}
	return nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// makeGuestCgroups creates ROOT/provision-e2e/NAME in every hierarchy.
func makeGuestCgroups(name string) ([]string, error) {
	var dirs []string
	for _, r := range cgroupRoots() {
		d := filepath.Join(r, cgroupGroup, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return dirs, fmt.Errorf("cgroup %s: %w", d, err)
		}
		dirs = append(dirs, d)
	}
	if len(dirs) == 0 {
		return nil, errors.New("no usable cgroup hierarchy under /sys/fs/cgroup")
	}
	return dirs, nil
}

// cgroupPIDs lists the processes in dir and all cgroups below it.
func cgroupPIDs(dir string) []int {
	var pids []int
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
		return nil
	})
	return pids
}

// killCgroups sends SIGKILL to every process in the cgroups (recursively)
// until they are empty or the timeout passes.
func killCgroups(dirs []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var left []int
		for _, d := range dirs {
			left = append(left, cgroupPIDs(d)...)
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v survive SIGKILL in %s", left, strings.Join(dirs, ", "))
		}
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// removeCgroups removes the cgroup directories, deepest first. The kernel
// refuses while a process is still inside.
func removeCgroups(dirs []string) error {
	var errs []error
	for _, d := range dirs {
		var all []string
		filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		for i := len(all) - 1; i >= 0; i-- {
			if err := os.Remove(all[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", all[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

// staleGuestCgroups lists the per-guest cgroups in every hierarchy, by guest
// name.
func staleGuestCgroups() map[string][]string {
	out := map[string][]string{}
	for _, r := range cgroupRoots() {
		ents, err := os.ReadDir(filepath.Join(r, cgroupGroup))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.IsDir() {
				out[e.Name()] = append(out[e.Name()], filepath.Join(r, cgroupGroup, e.Name()))
			}
		}
	}
	return out
}
