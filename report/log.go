package report

import (
	"io"

	"github.com/sirupsen/logrus"

	"github.com/provision-tool/provision/tasks"
)

// NewLogger returns the logger modules and the engine use, writing to w
// through logrus: warnings by default, debug messages too when verbose.
func NewLogger(w io.Writer, verbose bool) tasks.Logger {
	l := logrus.New()
	l.SetOutput(w)
	l.SetLevel(logrus.WarnLevel)
	if verbose {
		l.SetLevel(logrus.DebugLevel)
	}
	return logger{l}
}

type logger struct{ l *logrus.Logger }

func (l logger) Debugf(format string, args ...any) { l.l.Debugf(format, args...) }
func (l logger) Warnf(format string, args ...any)  { l.l.Warnf(format, args...) }

// Exit codes of apply and check, documented in docs/cli.md.
const (
	ExitOK      = 0
	ExitFailed  = 1
	ExitPending = 2
)

// ExitCode is the exit code for a host's (or a fleet's summed) counts.
func ExitCode(c *Counts, check bool) int {
	switch {
	case c == nil || c.Failed > 0 || c.Unreachable:
		return ExitFailed
	case check && c.Pending > 0:
		return ExitPending
	}
	return ExitOK
}
