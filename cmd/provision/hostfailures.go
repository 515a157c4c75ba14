package main

import (
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/hashicorp/go-multierror"

	"github.com/provision-tool/provision/diag"
	"github.com/provision-tool/provision/report"
)

// hostError is the failure of one host's run outside any task: it could
// not be reached, or its agent could not start or finish.
type hostError struct {
	host        string
	unreachable bool
	err         error
}

func (h *hostError) Error() string {
	what := "failed"
	if h.unreachable {
		what = "unreachable"
	}
	return fmt.Sprintf("%s: %s: %v", report.Escape(h.host, false), what, h.err)
}

func (h *hostError) Unwrap() error { return h.err }

// hostFailures gathers the host errors of a fleet run (or a fleet
// doctor) as they come, from the hosts' goroutines.
type hostFailures struct {
	mu   sync.Mutex
	errs *multierror.Error
}

// add records host's error; a nil err is no failure.
func (f *hostFailures) add(host string, unreachable bool, err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = diag.Append(f.errs, &hostError{host: host, unreachable: unreachable, err: err})
}

// print lists the failed hosts, sorted, after the report of a run on
// more than one host, where their lines may have scrolled away; what
// says what befell them:
//
//	provision: 2 of 40 hosts failed outside their tasks:
//	  web03: unreachable: ssh: connect to host 10.0.0.3 port 22: Connection refused
//	  web17: failed: agent exited 1: ...
func (f *hostFailures) print(w io.Writer, hosts int, what string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.errs == nil || hosts < 2 {
		return
	}
	errs := f.errs.Errors
	sort.Slice(errs, func(i, j int) bool { return errs[i].(*hostError).host < errs[j].(*hostError).host })
	fmt.Fprintf(w, "provision: %d of %d hosts %s:\n", len(errs), hosts, what)
	for _, err := range errs {
		fmt.Fprintf(w, "  %s\n", err)
	}
}
