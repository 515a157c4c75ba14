package systemd

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/provision-tool/provision/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name:    "service",
		Summary: "start, stop, restart, enable or mask a systemd unit of the system or of a user, over D-Bus",
		Doc: `The service module talks to systemd over D-Bus (go-systemd): to the
system manager, or with ` + "`scope: user`" + ` to the manager of ` + "`user`" + ` through
its private socket /run/user/UID/systemd/private (the linger module makes that
manager exist without a login). ` + "`name`" + ` is a unit (a name without a suffix
means NAME.service) or a Quadlet file (` + "`web.container`" + ` stands for the
web.service Podman generates from it).

**Check** reads the unit's LoadState, ActiveState and NeedDaemonReload
properties and its unit file state (with ListUnitFilesByPatterns, which reads
the links on disk as ` + "`systemctl is-enabled`" + ` does; the UnitFileState
property is cached until the next reload) and plans one change per
difference:

- ` + "`daemon-reload`" + ` when the unit's files changed on disk since systemd
  loaded them (NeedDaemonReload=yes: a unit file, a drop-in or the Quadlet
  source was written), when the unit is not loaded yet and the task needs it
  (a new Quadlet file produces its unit only when the generator runs), or when
  it is unmasked (the manager keeps a unit masked until a reload, which is why
  ` + "`systemctl unmask`" + ` reloads);
- ` + "`masked`" + `, ` + "`enabled`" + ` (EnableUnitFiles/DisableUnitFiles, like
  ` + "`systemctl --no-reload enable`" + `; static, indirect, alias and generated units
  count as enabled, and a generated unit's enablement comes from the
  [Install] section of its Quadlet file);
- ` + "`state`" + `: started and stopped are states; restarted and reloaded are
  actions (below).

**Apply** makes the changes in this order: unmask, daemon-reload, enable or
disable, the job, mask. Jobs go through the job API (StartUnit, StopUnit,
RestartUnit, ReloadUnit in mode replace) and Apply waits for the job's result.
A job that does not end in ` + "`done`" + `, or a unit that is failed right after
its start (Apply looks again 250ms later, so a simple service that dies at
once is caught), fails the task with the unit's last journal lines since the
job was queued (read with ` + "`journalctl -u UNIT -o cat`" + `: go-systemd's
sdjournal needs cgo, and provision is built without it).

**daemon-reload happens once per run.** systemd_unit only writes files. The
first service task for a unit whose files changed sees NeedDaemonReload=yes
and reloads; the reload refreshes every unit, so later service tasks see
nothing stale and do not reload again. Write all unit files first, then the
service tasks, and a run reloads exactly once. A run that fails between
writing a file and its service task leaves NeedDaemonReload=yes behind, and
the next run reloads then: the flag lives in systemd, not in provision. To
reload after writing a drop-in for a unit you do not otherwise manage, add a
bare ` + "`service: {name: UNIT}`" + ` task.

**restarted and reloaded are actions, for handlers.** A restart is never
planned from the unit's state, so a converged host is never restarted: notify
a handler ` + "`service: {name: web, state: restarted}`" + ` from the tasks that
change the unit or its configuration, and the handler runs only in a run that
changed them. The task is imperative (the engine does not run a verifying
second Check, whose plan would again be "restart"); instead Apply verifies
itself: the job's result must be ` + "`done`" + ` and the unit active afterwards. A
stopped unit is started rather than restarted (reloaded also starts a stopped
unit). Used as a plain task, restarted restarts on every run.

**Offline** (an image root given with --root, or a host whose PID 1 is not
systemd) there is no manager: ` + "`enabled`" + ` and ` + "`masked`" + ` are done on the
files as ` + "`systemctl --root`" + ` does them, creating the symlinks the unit's
[Install] section names (WantedBy=, RequiredBy=, UpheldBy=, Alias=, Also=,
read with go-systemd's unit parser) in /etc/systemd/system (or the user's
~/.config/systemd/user), and a warning says that starting is skipped.`,
		Example: `- name: nginx runs and starts at boot
  service:
    name: nginx
    state: started
    enabled: true
- name: alice's web container (a Quadlet file) runs in her user manager
  service:
    name: web.container
    scope: user
    user: alice
    state: started
# handlers:
- name: restart nginx
  service:
    name: nginx
    state: restarted`,
		New: func() tasks.Task { return new(Service) },
	})
}

// Service is the wanted state of one systemd unit.
type Service struct {
	Name    string `yaml:"name" required:"true" doc:"the unit: nginx (nginx.service), web.socket, or a Quadlet file such as web.container for the service generated from it"`
	State   string `yaml:"state" enum:"started,stopped,restarted,reloaded" doc:"started, stopped, restarted or reloaded; unset leaves the unit running or not (restarted and reloaded are actions, for handlers)"`
	Enabled *bool  `yaml:"enabled" doc:"start at boot (true) or not (false); unset leaves it"`
	Masked  *bool  `yaml:"masked" doc:"mask (true) or unmask (false) the unit; unset leaves it"`
	Scope   string `yaml:"scope" default:"system" enum:"system,user" doc:"system, or user for the manager of user"`
	User    string `yaml:"user" doc:"the user whose manager to use, with scope: user"`
}

// settleDelay is how long Apply waits after a start before it looks at
// the unit again, to catch a simple service that dies at once.
var settleDelay = 250 * time.Millisecond

// Validate implements tasks.Validator.
func (s *Service) Validate() error {
	name := s.Name
	if !hasSuffix(name, unitSuffixes) && !hasSuffix(name, quadletSuffixes) {
		name += ".service" // as systemctl assumes
	}
	if err := validUnitName("name", name, true); err != nil {
		if ae, ok := err.(*tasks.ArgError); ok {
			ae.Msg = strings.ReplaceAll(ae.Msg, name, s.Name)
		}
		if s.Name == "" {
			return tasks.BadArg("name", "is required")
		}
		return err
	}
	switch s.State {
	case "", "started", "stopped", "restarted", "reloaded":
	default:
		return tasks.BadArg("state", "must be started, stopped, restarted or reloaded, not "+s.State)
	}
	if s.Masked != nil && *s.Masked {
		if s.State != "" && s.State != "stopped" {
			return tasks.BadArg("masked", "a masked unit cannot be "+s.State)
		}
		if s.Enabled != nil && *s.Enabled {
			return tasks.BadArg("masked", "a masked unit cannot be enabled")
		}
	}
	return validScope(s.Scope, s.User)
}

// Imperative implements tasks.Imperative: restarted and reloaded are
// actions, planned every time the task runs.
func (s *Service) Imperative() bool { return s.State == "restarted" || s.State == "reloaded" }

// serviceOps is what Apply does, decided by Check.
type serviceOps struct {
	Unit  string
	Scope scope
	// Offline: link changes only.
	Offline bool
	Links   []linkOp
	// Replan: Check could not see the unit (no user manager yet, or the
	// unit is not loaded before a daemon-reload); Apply plans again once
	// it can.
	Replan  bool
	Unmask  bool
	Reload  bool
	Enable  bool
	Disable bool
	Job     string // start, stop, restart or reload
	Mask    bool
}

// Check implements tasks.Task.
func (s *Service) Check(ctx context.Context, sys *tasks.System) (tasks.Plan, error) {
	if err := s.Validate(); err != nil {
		return tasks.Plan{}, err
	}
	sc, err := resolveScope(sys, s.Scope, s.User)
	if err != nil {
		return tasks.Plan{}, err
	}
	ops := &serviceOps{Unit: serviceName(s.Name), Scope: sc}
	var p tasks.Plan
	if s.Scope == "user" && sc.Name == "" {
		// An earlier task creates the user (check mode).
		p.Warn(fmt.Sprintf("user %s does not exist yet; the plan assumes the unit is stopped", s.User))
		ops.Replan = true
		if err := s.planUnit(sys, unitInfo{Name: ops.Unit, LoadState: "loaded", ActiveState: "inactive"}, ops, &p, "(no user)"); err != nil {
			return tasks.Plan{}, err
		}
		p.Data = ops
		return p, nil
	}
	if offline(sys) {
		ops.Offline = true
		if err := s.planOffline(sys, ops, &p); err != nil {
			return tasks.Plan{}, err
		}
	} else {
		m, err := connectManager(ctx, sc)
		if errors.Is(err, errNoUserManager) {
			// Check mode before the linger task has run: say what would
			// happen to a unit that is not running.
			p.Warn(err.Error() + "; the plan assumes the unit is stopped")
			ops.Replan = true
			if err := s.planUnit(sys, unitInfo{Name: ops.Unit, LoadState: "loaded", ActiveState: "inactive"}, ops, &p, "(user manager not running)"); err != nil {
				return tasks.Plan{}, err
			}
			p.Data = ops
			return p, nil
		}
		if err != nil {
			return tasks.Plan{}, err
		}
		defer m.Close()
		u, err := m.Unit(ctx, ops.Unit)
		if err != nil {
			return tasks.Plan{}, err
		}
		if err := s.planUnit(sys, u, ops, &p, ""); err != nil {
			return tasks.Plan{}, err
		}
	}
	if !p.Empty() {
		p.Data = ops
	}
	return p, nil
}

// planUnit plans the changes for a unit as the manager reports it. unknown,
// when set, is the Before of changes whose current value is not known.
func (s *Service) planUnit(sys *tasks.System, u unitInfo, ops *serviceOps, p *tasks.Plan, unknown string) error {
	name := ops.Unit
	// The unit file state is read from disk; LoadState keeps "masked"
	// until the next reload.
	masked := strings.HasPrefix(u.UnitFileState, "masked") || (u.LoadState == "masked" && u.UnitFileState == "")
	if s.Masked != nil && !*s.Masked && masked {
		p.Add("masked", "true", "false")
		ops.Unmask = true
		masked = false
	}
	// A unit unmasked on disk stays masked in the manager until a reload:
	// reload before anything else happens to it (systemctl unmask does).
	staleMask := !masked && u.LoadState == "masked"
	wants := s.State == "started" || s.State == "restarted" || s.State == "reloaded" || (s.Enabled != nil && *s.Enabled)
	notFound := u.LoadState == "not-found"
	if masked && wants {
		return fmt.Errorf("%s is masked: set masked: false to unmask it", name)
	}
	if !masked && (u.NeedDaemonReload || (notFound && wants) || (staleMask && (wants || s.State != ""))) {
		why := "unit files changed on disk"
		switch {
		case notFound:
			why = "unit not loaded"
		case staleMask:
			why = "unit unmasked on disk"
		}
		if staleMask {
			ops.Replan = true
		}
		p.Add("daemon-reload", why, "reloaded")
		ops.Reload = true
		if notFound {
			// What the unit is after the reload is known only then.
			ops.Replan = true
			unknown = "(not loaded)"
		}
	}
	before := func(v string) string {
		if unknown != "" {
			return unknown
		}
		return v
	}
	if s.Enabled != nil && !masked {
		st := u.UnitFileState
		enabledNow := st == "enabled" || st == "enabled-runtime" || st == "alias" || st == "indirect"
		fixed := st == "static" || st == "generated" || st == "transient"
		switch {
		case unknown != "" && *s.Enabled && !isQuadlet(s.Name):
			p.Add("enabled", before(st), "true")
			ops.Enable = true
		case unknown != "":
		case st == "generated":
			// A Quadlet unit starts at boot through the [Install] section
			// of its source file, which the generator applies.
			if w := generatedEnablement(sys, ops.Scope, name, u.SourcePath, *s.Enabled); w != "" {
				p.Warn(w)
			}
		case fixed:
			p.Warn(fmt.Sprintf("%s is %s (no [Install] section to act on): enabled is ignored", name, st))
		case *s.Enabled && !enabledNow:
			p.Add("enabled", orDash(st), "true")
			ops.Enable = true
		case !*s.Enabled && (st == "enabled" || st == "enabled-runtime"):
			p.Add("enabled", st, "false")
			ops.Disable = true
		}
	}
	running := u.ActiveState == "active" || u.ActiveState == "reloading" ||
		(u.ActiveState == "activating" && u.SubState != "auto-restart")
	state := u.ActiveState
	if u.SubState != "" {
		state += " (" + u.SubState + ")"
	}
	switch {
	case s.State == "started" && !running:
		p.Add("state", before(state), "started")
		ops.Job = "start"
	case s.State == "stopped" && unknown == "" && !notFound && u.ActiveState != "inactive" && u.ActiveState != "failed":
		p.Add("state", state, "stopped")
		ops.Job = "stop"
	case (s.State == "restarted" || s.State == "reloaded") && !running:
		p.Add("state", before(state), "started")
		ops.Job = "start"
	case s.State == "restarted":
		p.Add("state", state, "restarted")
		ops.Job = "restart"
	case s.State == "reloaded":
		p.Add("state", state, "reloaded")
		ops.Job = "reload"
	}
	if s.Masked != nil && *s.Masked && !masked {
		if u.FragmentPath != "" && u.FragmentPath == path.Join(configDir(ops.Scope), name) {
			// systemd refuses: "File ... already exists".
			return fmt.Errorf("cannot mask %s: its unit file is %s (remove it first, with systemd_unit state: absent)", name, u.FragmentPath)
		}
		p.Add("masked", "false", "true")
		ops.Mask = true
	}
	return nil
}

// generatedEnablement checks enabled against the [Install] section of a
// generated unit's source (a Quadlet file), which provision cannot change
// through systemd; it returns a warning when they disagree.
func generatedEnablement(sys *tasks.System, sc scope, unit, source string, enabled bool) string {
	if source == "" {
		return fmt.Sprintf("%s is generated: enabled is ignored", unit)
	}
	in, err := readInstall(sys, sc, unitFile{Path: source, Real: source})
	if err != nil {
		return fmt.Sprintf("%s is generated from %s: %v", unit, source, err)
	}
	wanted := len(in.WantedBy)+len(in.RequiredBy)+len(in.UpheldBy) > 0
	switch {
	case enabled && !wanted:
		return fmt.Sprintf("%s is generated from %s, whose [Install] section names no target: it will not start at boot (add [Install] WantedBy=default.target there)", unit, source)
	case !enabled && wanted:
		return fmt.Sprintf("%s is generated from %s, whose [Install] section starts it at boot: remove that section there to disable it", unit, source)
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// planOffline plans enablement and masking on the files.
func (s *Service) planOffline(sys *tasks.System, ops *serviceOps, p *tasks.Plan) error {
	if s.State != "" {
		p.Warn(fmt.Sprintf("systemd is not running here (offline): state %s of %s is skipped", s.State, ops.Unit))
	}
	if isQuadlet(s.Name) {
		if s.Enabled != nil || s.Masked != nil {
			p.Warn(fmt.Sprintf("%s is a Quadlet file: its unit is generated at boot, with enablement from its [Install] section; enabled and masked are ignored offline", s.Name))
		}
		return nil
	}
	if s.Masked != nil && !*s.Masked {
		lo, err := offlineMask(sys, ops.Scope, ops.Unit, false)
		if err != nil {
			return err
		}
		if len(lo) > 0 {
			p.Add("masked", "true", "false")
			ops.Links = append(ops.Links, lo...)
		}
	}
	if s.Enabled != nil {
		unmasking := len(ops.Links) > 0
		_, found, err := findUnitFile(sys, ops.Scope, ops.Unit)
		if err != nil {
			return err
		}
		switch {
		case maskedOffline(sys, ops.Scope, ops.Unit) && !unmasking && *s.Enabled:
			return fmt.Errorf("%s is masked: set masked: false to unmask it", ops.Unit)
		case !found && *s.Enabled:
			// An earlier task may write it (check mode); Apply looks again.
			p.Warn(fmt.Sprintf("no unit file for %s yet in %s", ops.Unit, strings.Join(unitPaths(ops.Scope), " ")))
			p.Add("enabled", "(no unit file)", "true")
			ops.Replan = true
		default:
			lo, static, err := offlineEnable(sys, ops.Scope, ops.Unit, *s.Enabled)
			if err != nil {
				return err
			}
			if static {
				p.Warn(fmt.Sprintf("%s has no [Install] section (static): enabled is ignored", ops.Unit))
			}
			if len(lo) > 0 {
				p.Add("enabled", fmt.Sprint(!*s.Enabled), fmt.Sprint(*s.Enabled)+": "+describeLinks(lo))
				ops.Links = append(ops.Links, lo...)
			}
		}
	}
	if s.Masked != nil && *s.Masked {
		lo, err := offlineMask(sys, ops.Scope, ops.Unit, true)
		if err != nil {
			return err
		}
		if len(lo) > 0 {
			p.Add("masked", "false", "true")
			ops.Links = append(ops.Links, lo...)
		}
	}
	return nil
}

// Apply implements tasks.Task.
func (s *Service) Apply(ctx context.Context, sys *tasks.System, p tasks.Plan) error {
	ops, ok := p.Data.(*serviceOps)
	if !ok {
		return errors.New("apply without a plan from check")
	}
	if ops.Replan && ops.Scope.Name == "" && s.Scope == "user" {
		again, err := s.Check(ctx, sys)
		if err != nil {
			return err
		}
		next, _ := again.Data.(*serviceOps)
		if next == nil {
			return nil
		}
		if next.Scope.Name == "" {
			return fmt.Errorf("no such user %q", s.User)
		}
		ops = next
	}
	if ops.Offline {
		if ops.Replan {
			again, err := s.Check(ctx, sys)
			if err != nil {
				return err
			}
			next, _ := again.Data.(*serviceOps)
			if next == nil {
				return nil
			}
			if next.Replan {
				return fmt.Errorf("no unit file for %s in %s", ops.Unit, strings.Join(unitPaths(ops.Scope), " "))
			}
			ops = next
		}
		return applyLinkOps(sys, ops.Links)
	}
	m, err := connectManager(ctx, ops.Scope)
	if err != nil {
		return err
	}
	defer m.Close()
	if ops.Replan && !ops.Reload {
		// The user manager was not running at Check.
		u, err := m.Unit(ctx, ops.Unit)
		if err != nil {
			return err
		}
		fresh := &serviceOps{Unit: ops.Unit, Scope: ops.Scope}
		var np tasks.Plan
		if err := s.planUnit(sys, u, fresh, &np, ""); err != nil {
			return err
		}
		ops = fresh
	}
	if ops.Unmask {
		if err := m.Unmask(ctx, ops.Unit); err != nil {
			return err
		}
	}
	if ops.Reload {
		if err := m.DaemonReload(ctx); err != nil {
			return err
		}
		if ops.Replan {
			u, err := m.Unit(ctx, ops.Unit)
			if err != nil {
				return err
			}
			if u.LoadState == "not-found" {
				return fmt.Errorf("no unit %s (not found after daemon-reload)", ops.Unit)
			}
			fresh := &serviceOps{Unit: ops.Unit, Scope: ops.Scope}
			var np tasks.Plan
			if err := s.planUnit(sys, u, fresh, &np, ""); err != nil {
				return err
			}
			fresh.Reload, fresh.Unmask = false, false
			ops = fresh
		}
	}
	if ops.Enable {
		if err := m.Enable(ctx, ops.Unit); err != nil {
			return err
		}
	}
	if ops.Disable {
		if err := m.Disable(ctx, ops.Unit); err != nil {
			return err
		}
	}
	if ops.Job != "" {
		if err := runJob(ctx, sys, m, ops.Scope, ops.Job, ops.Unit); err != nil {
			return err
		}
	}
	if ops.Mask {
		if err := m.Mask(ctx, ops.Unit); err != nil {
			return err
		}
	}
	return nil
}

// runJob runs a job and waits for it; a job that fails, or a unit that is
// not running after a start, is reported with its journal lines.
func runJob(ctx context.Context, sys *tasks.System, m manager, sc scope, kind, unit string) error {
	since := time.Now()
	res, err := m.Job(ctx, kind, unit)
	if err != nil {
		return err
	}
	if res != "done" {
		return jobError(ctx, sys, sc, kind, unit, "job "+res, since)
	}
	if kind == "stop" {
		return nil
	}
	for i := 0; i < 2; i++ {
		if i == 1 {
			if settleDelay <= 0 {
				break
			}
			time.Sleep(settleDelay)
		}
		u, err := m.Unit(ctx, unit)
		if err != nil {
			return err
		}
		switch {
		case u.ActiveState == "failed":
			return jobError(ctx, sys, sc, kind, unit, "unit failed right after the job ("+orDash(u.Result)+")", since)
		case u.ActiveState == "inactive" && u.Result != "" && u.Result != "success":
			return jobError(ctx, sys, sc, kind, unit, "unit stopped right after the job ("+u.Result+")", since)
		case u.SubState == "auto-restart":
			return jobError(ctx, sys, sc, kind, unit, "unit is restarting after a failure ("+orDash(u.Result)+")", since)
		}
	}
	return nil
}

func jobError(ctx context.Context, sys *tasks.System, sc scope, kind, unit, why string, since time.Time) error {
	msg := fmt.Sprintf("%s %s: %s", kind, unit, why)
	if sc.user() {
		msg = fmt.Sprintf("%s %s (user %s): %s", kind, unit, sc.Name, why)
	}
	lines := settledJournalLines(ctx, sys, sc, unit, since)
	if lines == "" {
		return errors.New(msg)
	}
	return fmt.Errorf("%s; last journal lines:\n    %s", msg, strings.ReplaceAll(lines, "\n", "\n    "))
}

var _ tasks.Task = (*Service)(nil)

// settledJournalLines waits (up to about 2 s) for the journal to hold
// systemd's own account of the failure before reading the unit's lines:
// journald receives the service's output and systemd's messages on
// different sockets, so right after a failure it may not have them yet.
func settledJournalLines(ctx context.Context, sys *tasks.System, sc scope, unit string, since time.Time) string {
	var lines string
	for i := 0; i < 20; i++ {
		lines = journalLines(ctx, sys, sc, unit, since)
		if strings.Contains(lines, "Failed with result") || strings.Contains(lines, "Main process exited") {
			// One more look for the service's own late lines.
			time.Sleep(journalPoll)
			return journalLines(ctx, sys, sc, unit, since)
		}
		time.Sleep(journalPoll)
	}
	return lines
}

// journalPoll is how often settledJournalLines looks; tests shorten it.
var journalPoll = 100 * time.Millisecond
