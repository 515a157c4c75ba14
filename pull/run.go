package pull

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provision-tool/provision/engine"
	"github.com/provision-tool/provision/playbook"
	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/tasks"
)

// RunOptions tune one pull run.
type RunOptions struct {
	// Check runs in check mode: drift is reported, nothing changes.
	Check bool
	// Log receives the run's entries; nil means NewLogger(os.Stderr)
	// (the journal under systemd).
	Log *logrus.Logger
	// Sink, when set, also receives the engine's events (for example
	// the CLI's human or JSON output).
	Sink report.Sink
	// Engine is passed to engine.Run (Host, vars, tags); Check and Sink
	// are set from the fields above.
	Engine engine.Options
}

// RunOnce is what provision-pull.service runs: the playbook applied (or
// checked) locally with the engine, each task result logged through the
// logger (to the journal with TASK, STATUS, CHANGED, HOST fields under
// systemd), a summary entry with OK, CHANGED, FAILED, DRIFT and CHECK
// fields, and the run recorded in StatePath(Engine.StateDir). The error is the engine's
// (another run holds the lock, the state file is unreadable); task failures
// are in the counts, and report.ExitCode(counts, check) is the exit code.
func RunOnce(ctx context.Context, sys *tasks.System, pb *playbook.Playbook, o RunOptions) (*report.Counts, error) {
	log := o.Log
	if log == nil {
		log = NewLogger(os.Stderr)
	}
	if sys.Log == nil {
		sys.Log = TaskLogger(log)
	}
	eo := o.Engine
	eo.Check = o.Check
	sink := Sink(log)
	if o.Sink != nil {
		logSink, extra := sink, o.Sink
		sink = report.SinkFunc(func(e report.Event) { logSink.Emit(e); extra.Emit(e) })
	}
	eo.Sink = sink
	start := time.Now()
	counts, err := engine.Run(ctx, pb, sys, eo)
	run := NewRun(pb.File, o.Check, start, counts, err)
	fields := logrus.Fields{
		"PLAYBOOK": pb.File, "OK": run.OK, "CHANGED": run.Changed, "FAILED": run.Failed,
		"SKIPPED": run.Skipped, "DRIFT": run.Drift, "CHECK": o.Check,
	}
	if eo.Host != "" {
		fields["HOST"] = eo.Host
	}
	entry := log.WithFields(fields)
	msg := "pull run: " + run.Result()
	switch {
	case run.Error != "" || run.Failed > 0:
		entry.Error(msg)
	case run.Drift > 0:
		entry.Warn(msg)
	default:
		entry.Info(msg)
	}
	var locked *engine.ErrLocked
	if errors.As(err, &locked) {
		// Another run (an administrator's apply) holds the host: not a
		// pull run, nothing to record.
		return counts, err
	}
	if rerr := Record(sys, eo.StateDir, run); rerr != nil {
		log.WithField("ERROR", rerr.Error()).Error("record the pull run: " + rerr.Error())
		if err == nil {
			err = rerr
		}
	}
	return counts, err
}
