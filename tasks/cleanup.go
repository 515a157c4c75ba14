package tasks

import (
	"sync"

	"github.com/hashicorp/go-multierror"

	"github.com/provision-tool/provision/diag"
)

var (
	cleanMu  sync.Mutex
	cleaners []func(*System) error
)

// RegisterCleanup adds a function the engine calls at the start of every
// run that changes the host, with the run's lock held: it removes what a
// run killed in the middle of a module's change may have left (such as
// shadow's stale per-file locks). It must remove only what is certainly
// litter and must be cheap, since no-op runs call it too. Call it from
// init.
func RegisterCleanup(f func(*System) error) {
	cleanMu.Lock()
	defer cleanMu.Unlock()
	cleaners = append(cleaners, f)
}

// Cleanup runs every registered cleanup function, and returns their
// errors gathered in a multierror (nil when all succeeded): one failing
// does not keep the others from running.
func Cleanup(sys *System) *multierror.Error {
	cleanMu.Lock()
	fs := append([]func(*System) error(nil), cleaners...)
	cleanMu.Unlock()
	var errs *multierror.Error
	for _, f := range fs {
		errs = diag.Append(errs, f(sys))
	}
	return errs
}
