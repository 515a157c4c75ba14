package transport

import (
	"io"
	"os"

	"github.com/provision-tool/provision/report"
)

// StderrSink is implemented by sinks that carry a writer for logs.
type StderrSink interface {
	Stderr() io.Writer
}

func stderrOf(s report.Sink) io.Writer {
	if w, ok := s.(StderrSink); ok {
		return w.Stderr()
	}
	return os.Stderr
}
