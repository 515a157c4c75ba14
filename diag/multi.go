package diag

import (
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Problems found one by one (the files of a validate run, the hosts of a
// fleet, cleanups) are gathered with go-multierror: errors.Is and
// errors.As see every one of them, and they print one per line, as
// provision prints problems, rather than as go-multierror's bulleted
// "N errors occurred" block.

// Lines formats a multierror's errors one per line.
func Lines(errs []error) string {
	lines := make([]string, len(errs))
	for i, err := range errs {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Append adds errs to m, each *Error of an Errors list on its own, nil
// ones skipped, and returns m formatted by Lines (nil while there are
// none).
func Append(m *multierror.Error, errs ...error) *multierror.Error {
	for _, err := range errs {
		if list, ok := err.(Errors); ok {
			for _, e := range list {
				m = multierror.Append(m, e)
			}
			continue
		}
		if err != nil {
			m = multierror.Append(m, err)
		}
	}
	if m != nil {
		m.ErrorFormat = Lines
	}
	return m
}

// Join is Append to nothing: nil when every err is nil.
func Join(errs ...error) error {
	return Append(nil, errs...).ErrorOrNil()
}
