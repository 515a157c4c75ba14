// Command provision brings hosts to the state a playbook describes, and
// proves it: every task checks, applies exactly what it found, and checks
// again. See README.md and docs/.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	_ "github.com/provision-tool/provision/tasks/all"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
