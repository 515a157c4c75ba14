// Command provision brings hosts to the state a playbook describes, and
// proves it: every task checks, applies exactly what it found, and checks
// again. See README.md and docs/.
package main

import (
	"context"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/provision-tool/provision/tasks"
	_ "github.com/provision-tool/provision/tasks/all"
)

// graceful is set once a run has started work that the first SIGINT or
// SIGTERM should let finish (a task, a check); before that a signal ends
// the process at once.
var graceful atomic.Bool

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first SIGINT or SIGTERM asks the run to stop after the
		// current task; a second one ends it at once, whatever it is
		// doing, with the programs its task started (so that none of
		// them outlives the run and the lock it held).
		<-sigs
		if !graceful.Load() {
			// Nothing has been touched yet (input is being read):
			// there is nothing to finish.
			os.Stderr.WriteString("provision: interrupted\n")
			os.Exit(130)
		}
		cancel()
		<-sigs
		tasks.KillCommands()
		os.Stderr.WriteString("provision: killed, with the programs of the task in progress\n")
		os.Exit(130)
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}
