// Package pull is provision's pull mode: a systemd timer on the host that
// re-applies a local playbook every interval, so drift is corrected without
// a controller; its runs log to the journal with structured fields and are
// recorded in a state file that `provision status` prints.
//
// The command line (cmd/provision) wires it:
//
//	provision pull --playbook PATH --every 30m [--check]   Install
//	provision pull --remove                                Remove
//	provision pull --once --playbook PATH [--check]        RunOnce (what the service runs)
//	provision status [-n N]                                Status
//
// Install and Remove converge the units with the systemd_unit and service
// modules (Check, Apply, Check again, as the engine does), so installing is
// idempotent, a changed interval restarts the timer, and an image root
// (--root) gets the files and the enablement links with starting skipped.
package pull

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/provision-tool/provision/tasks"
	"github.com/provision-tool/provision/tasks/systemd"
)

// Names and paths of pull mode.
const (
	ServiceName = "provision-pull.service"
	TimerName   = "provision-pull.timer"
	// Identifier is the SYSLOG_IDENTIFIER of pull runs in the journal:
	// `journalctl -t provision`.
	Identifier = "provision"
	// MinInterval is the shortest interval Install accepts.
	MinInterval = 10 * time.Second
)

// Options describe the timer to install.
type Options struct {
	// Playbook is the playbook's absolute path on this host.
	Playbook string
	// Every is the interval between runs; the first run is one interval
	// after the timer starts (at install or boot).
	Every time.Duration
	// Check installs a timer that only checks: runs report drift (exit 2
	// counts as success for systemd) and change nothing.
	Check bool
	// Binary is provision's absolute path on this host; "" means the
	// running executable.
	Binary string
	// StateDir and LockFile, when set, are passed to every run
	// (--state-dir, --lock-file); "" keeps the defaults.
	StateDir, LockFile string
	// Image installs into an image being built: Binary and Playbook (paths
	// on the machine that builds it) are copied into the image at
	// ImageBinary and ImagePlaybookDir, and the units name those copies.
	Image bool
}

// Result is what Install or Remove did.
type Result struct {
	// Changed is true when any unit file, link or state changed.
	Changed bool
	// Changes lists what changed, one line per task change.
	Changes []string
	// Warnings are the modules' warnings (offline: starting is skipped).
	Warnings []string
}

func (o *Options) normalize() error {
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("provision's own path: %w", err)
		}
		o.Binary = exe
	}
	for _, p := range [][2]string{{"playbook", o.Playbook}, {"binary", o.Binary}, {"state dir", o.StateDir}, {"lock file", o.LockFile}} {
		if err := checkControl(p[0], p[1]); err != nil {
			return err
		}
	}
	switch {
	case !filepath.IsAbs(o.Playbook):
		return fmt.Errorf("playbook %q: must be an absolute path", o.Playbook)
	case !filepath.IsAbs(o.Binary):
		return fmt.Errorf("binary %q: must be an absolute path", o.Binary)
	case o.Every < MinInterval:
		return fmt.Errorf("interval %s: must be at least %s", o.Every, MinInterval)
	case o.Every%time.Second != 0:
		return fmt.Errorf("interval %s: must be whole seconds", o.Every)
	}
	return nil
}

// ExecArgs is the command line the service runs: one pull run.
func ExecArgs(o Options) []string {
	args := []string{o.Binary, "pull", "--once", "--playbook", o.Playbook}
	if o.Check {
		args = append(args, "--check")
	}
	if o.StateDir != "" {
		args = append(args, "--state-dir", o.StateDir)
	}
	if o.LockFile != "" {
		args = append(args, "--lock-file", o.LockFile)
	}
	return args
}

// Units returns the contents of provision-pull.service and
// provision-pull.timer for the options.
func Units(o Options) (service, timer string, err error) {
	if err := o.normalize(); err != nil {
		return "", "", err
	}
	quoted := make([]string, 0, 6)
	for _, a := range ExecArgs(o) {
		quoted = append(quoted, quoteExec(a))
	}
	mode := "apply"
	extra := ""
	if o.Check {
		mode = "check"
		// Exit code 2 is "changes pending": drift found, not a failure.
		extra = "SuccessExitStatus=2\n"
	}
	service = fmt.Sprintf(`# Written by provision pull; provision pull --remove takes it away.
[Unit]
Description=provision pull: %s %s
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=%s
%sSyslogIdentifier=%s
`, mode, escapeSpecifiers(o.Playbook), strings.Join(quoted, " "), extra, Identifier)
	secs := strconv.FormatInt(int64(o.Every/time.Second), 10) + "s"
	timer = fmt.Sprintf(`# Written by provision pull; provision pull --remove takes it away.
[Unit]
Description=provision pull every %s

[Timer]
OnActiveSec=%s
OnUnitActiveSec=%s
AccuracySec=1s

[Install]
WantedBy=timers.target
`, o.Every, secs, secs)
	return service, timer, nil
}

// escapeSpecifiers doubles % so that systemd does not expand specifiers.
func escapeSpecifiers(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// quoteExec quotes one argument for ExecStart= (systemd.service(5),
// "Command lines"): specifiers and variables are escaped, and arguments
// with spaces or quotes are double-quoted with C-style escapes.
func quoteExec(a string) string {
	a = strings.ReplaceAll(escapeSpecifiers(a), "$", "$$")
	if a != "" && !strings.ContainsAny(a, " \t\n\"'\\;") {
		return a
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(a) + `"`
}

// Install writes provision-pull.service and .timer and enables and starts
// the timer, idempotently: a second Install with the same options changes
// nothing; a changed interval or mode rewrites the files and restarts the
// timer (after the one daemon-reload the service module does). It refuses
// a binary or playbook that anyone but root could change (checkTrusted).
func Install(ctx context.Context, sys *tasks.System, o Options) (Result, error) {
	var res Result
	if err := o.normalize(); err != nil {
		return res, err
	}
	if o.Image {
		if err := placeInImage(ctx, sys, &res, &o); err != nil {
			return res, err
		}
	}
	for _, f := range [][2]string{{"binary", o.Binary}, {"playbook", o.Playbook}} {
		if err := checkTrusted(sys, f[0], f[1]); err != nil {
			return res, err
		}
	}
	service, timer, err := Units(o)
	if err != nil {
		return res, err
	}
	if _, err := converge(ctx, sys, &res, &systemd.Unit{Name: ServiceName, Content: &service}); err != nil {
		return res, err
	}
	timerChanged, err := converge(ctx, sys, &res, &systemd.Unit{Name: TimerName, Content: &timer})
	if err != nil {
		return res, err
	}
	state := "started"
	if timerChanged {
		// A running timer keeps its old schedule until restarted.
		state = "restarted"
	}
	yes := true
	if _, err := converge(ctx, sys, &res, &systemd.Service{Name: TimerName, State: state, Enabled: &yes}); err != nil {
		return res, err
	}
	return res, nil
}

// Remove stops and disables the timer, removes both unit files and reloads
// systemd; it changes nothing when pull mode is not installed.
func Remove(ctx context.Context, sys *tasks.System) (Result, error) {
	var res Result
	no := false
	for _, t := range []tasks.Task{
		&systemd.Service{Name: TimerName, State: "stopped", Enabled: &no},
		&systemd.Service{Name: ServiceName, State: "stopped"},
		&systemd.Unit{Name: TimerName, State: "absent"},
		&systemd.Unit{Name: ServiceName, State: "absent"},
		// A bare service task reloads systemd when the files are gone.
		&systemd.Service{Name: TimerName},
	} {
		if _, err := converge(ctx, sys, &res, t); err != nil {
			return res, err
		}
	}
	return res, nil
}

// converge runs one task as the engine does: Check; if anything is
// planned, Apply and (unless the task is imperative) Check again, which
// must plan nothing.
func converge(ctx context.Context, sys *tasks.System, res *Result, t tasks.Task) (bool, error) {
	if v, ok := t.(tasks.Validator); ok {
		if err := v.Validate(); err != nil {
			return false, err
		}
	}
	p, err := t.Check(ctx, sys)
	if err != nil {
		return false, err
	}
	res.Warnings = append(res.Warnings, p.Warnings...)
	if p.Empty() {
		return false, nil
	}
	if err := t.Apply(ctx, sys, p); err != nil {
		return false, err
	}
	for _, c := range p.Changes {
		line := c.Field
		if c.Path != "" {
			line += " of " + c.Path
		} else {
			line += ": " + orAbsent(c.Before) + " -> " + orAbsent(c.After)
		}
		res.Changes = append(res.Changes, line)
	}
	res.Changed = true
	if i, ok := t.(tasks.Imperative); ok && i.Imperative() {
		return true, nil
	}
	again, err := t.Check(ctx, sys)
	if err != nil {
		return true, err
	}
	if !again.Empty() {
		return true, errors.New("did not converge: a second check still plans: " + again.String())
	}
	return true, nil
}

func orAbsent(s string) string {
	if s == "" {
		return "(absent)"
	}
	return s
}
