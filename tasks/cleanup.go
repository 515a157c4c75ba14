package tasks

import "sync"

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

// Cleanup runs the registered cleanup functions and returns their errors.
func Cleanup(sys *System) []error {
	cleanMu.Lock()
	fs := append([]func(*System) error(nil), cleaners...)
	cleanMu.Unlock()
	var errs []error
	for _, f := range fs {
		if err := f(sys); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
