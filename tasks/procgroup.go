package tasks

import (
	"os/exec"
	"sync"
	"syscall"
)

// running holds the process groups of the commands ExecRunner runs now.
var running = struct {
	sync.Mutex
	groups map[int]bool
}{groups: map[int]bool{}}

// startGroup starts cmd as the leader of a process group of its own, so
// that it can be ended with every process it started (KillCommands, or
// its context's end), and remembers the group until cmd is waited for.
func startGroup(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		return err
	}
	running.Lock()
	running.groups[cmd.Process.Pid] = true
	running.Unlock()
	return nil
}

// waitGroup waits for cmd and forgets its group.
func waitGroup(cmd *exec.Cmd) error {
	err := cmd.Wait()
	running.Lock()
	delete(running.groups, cmd.Process.Pid)
	running.Unlock()
	return err
}

// KillCommands kills every command ExecRunner is running, with everything
// it started (SIGKILL to each process group). provision calls it on a
// second SIGINT or SIGTERM before it exits, so that no task's program
// outlives the run and the lock it held.
func KillCommands() {
	running.Lock()
	defer running.Unlock()
	for pgid := range running.groups {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}
