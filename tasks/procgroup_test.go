package tasks

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillCommandsEndsTheWholeGroup: a command's own children die with it
// (a shell that started a sleep in the background), and the runner's Run
// returns.
func TestKillCommandsEndsTheWholeGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	done := make(chan error, 1)
	go func() {
		_, err := ExecRunner{}.Run(context.Background(), Cmd{Argv: []string{"/bin/sh", "-c", "sleep 60 & echo $! > " + pidFile + "; wait"}})
		done <- err
	}()
	var pid int
	for i := 0; pid == 0; i++ {
		if i > 200 {
			t.Fatal("the command did not start")
		}
		time.Sleep(10 * time.Millisecond)
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	KillCommands()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after KillCommands")
	}
	for i := 0; syscall.Kill(pid, 0) == nil; i++ {
		if i > 200 {
			t.Fatalf("the command's child %d outlived KillCommands", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
