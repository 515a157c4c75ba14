package systemd

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/provision-tool/provision/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name:    "linger",
		Summary: "let a user's systemd manager run without a login (loginctl enable-linger), over D-Bus",
		Doc: `With lingering, systemd-logind starts the user's manager
(user@UID.service) at boot and keeps it after the user's last session ends, so
the user's services, such as rootless Podman containers from Quadlet files,
run without anyone logged in (loginctl(1); domain notes §5.3).

**Check** asks logind for the user's Linger property
(org.freedesktop.login1; a user logind does not know has no lingering) and,
when lingering is wanted, asks the system manager whether user@UID.service is
active. It plans ` + "`linger`" + ` and ` + "`user manager`" + ` changes.

**Apply** calls logind's SetUserLinger(UID, enabled, interactive=false), which
also writes /var/lib/systemd/linger/USER. When enabling, it then starts
user@UID.service through the job API (merging with the start logind queues)
and waits for the job, so the user's manager is running when the task ends
and the next task can use ` + "`scope: user`" + `. Disabling does not stop the
manager; logind stops it once the user has no session.

**Offline** (an image root, or no systemd as PID 1) the module creates or
removes /var/lib/systemd/linger/USER, which logind reads at boot, and warns
that the manager starts only then.`,
		Example: `- name: alice's containers run without her logging in
  linger:
    user: alice`,
		New: func() tasks.Task { return new(Linger) },
	})
}

// Linger is whether a user's manager lingers.
type Linger struct {
	User    string `yaml:"user" required:"true" doc:"the user (name)"`
	Enabled *bool  `yaml:"enabled" default:"true" doc:"lingering on (true) or off (false)"`
}

// lingerDir is logind's state directory for lingering users.
const lingerDir = "/var/lib/systemd/linger"

// Validate implements tasks.Validator.
func (l *Linger) Validate() error {
	switch {
	case l.User == "":
		return tasks.BadArg("user", "is required")
	case strings.HasPrefix(l.User, "-") || strings.HasPrefix(l.User, ".") || strings.ContainsAny(l.User, ":/ \t\n"):
		return tasks.BadArg("user", "is not a valid user name: "+l.User)
	}
	return nil
}

func (l *Linger) want() bool { return l.Enabled == nil || *l.Enabled }

// lingerOps is what Apply does.
type lingerOps struct {
	Offline      bool
	User         string
	UID          uint32
	Set          bool // call SetUserLinger (or write/remove the file)
	StartManager bool
	// Replan: the user did not exist at Check (an earlier task creates it
	// in this run).
	Replan bool
}

// Check implements tasks.Task.
func (l *Linger) Check(ctx context.Context, sys *tasks.System) (tasks.Plan, error) {
	if err := l.Validate(); err != nil {
		return tasks.Plan{}, err
	}
	var p tasks.Plan
	want := l.want()
	u, ok := sys.Facts.LookupUser(l.User)
	if offline(sys) {
		ops := &lingerOps{Offline: true, User: l.User}
		if want && !ok {
			return tasks.Plan{}, fmt.Errorf("no such user %q", l.User)
		}
		has := sys.Exists(path.Join(lingerDir, l.User))
		if has != want {
			p.Add("linger", fmt.Sprint(has), fmt.Sprint(want))
			ops.Set = true
			p.Data = ops
			if want {
				p.Warn("systemd is not running here (offline): " + l.User + "'s manager starts at the next boot")
			}
		}
		return p, nil
	}
	if !ok {
		if !want {
			return p, nil
		}
		p.Warn(fmt.Sprintf("user %s does not exist yet", l.User))
		p.Add("linger", "false", "true")
		p.Add("user manager", "(no user)", "running")
		p.Data = &lingerOps{User: l.User, Replan: true}
		return p, nil
	}
	ops := &lingerOps{User: u.Name, UID: uint32(u.UID)}
	if err := l.plan(ctx, ops, &p); err != nil {
		return tasks.Plan{}, err
	}
	if !p.Empty() {
		p.Data = ops
	}
	return p, nil
}

// plan compares logind's and the system manager's view with the task.
func (l *Linger) plan(ctx context.Context, ops *lingerOps, p *tasks.Plan) error {
	ld, err := connectLogind(ctx)
	if err != nil {
		return err
	}
	defer ld.Close()
	on, err := ld.Linger(ctx, ops.UID)
	if err != nil {
		return err
	}
	want := l.want()
	if on != want {
		p.Add("linger", fmt.Sprint(on), fmt.Sprint(want))
		ops.Set = true
	}
	if !want {
		return nil
	}
	m, err := connectManager(ctx, scope{})
	if err != nil {
		return err
	}
	defer m.Close()
	svc := fmt.Sprintf("user@%d.service", ops.UID)
	us, err := m.Unit(ctx, svc)
	if err != nil {
		return err
	}
	if us.ActiveState != "active" {
		p.Add("user manager", svc+" "+us.ActiveState, "running")
		ops.StartManager = true
	}
	return nil
}

// Apply implements tasks.Task.
func (l *Linger) Apply(ctx context.Context, sys *tasks.System, p tasks.Plan) error {
	ops, ok := p.Data.(*lingerOps)
	if !ok {
		return errors.New("apply without a plan from check")
	}
	if ops.Offline {
		f := path.Join(lingerDir, ops.User)
		if !l.want() {
			return sys.FS().Remove(f)
		}
		if err := sys.FS().MkdirAll(lingerDir, 0o755, 0, 0); err != nil {
			return err
		}
		return sys.WriteFile(f, nil, tasks.FileAttrs{Mode: 0o644, UID: 0, GID: 0}, "")
	}
	if ops.Replan {
		u, ok := sys.Facts.LookupUser(ops.User)
		if !ok {
			return fmt.Errorf("no such user %q", ops.User)
		}
		fresh := &lingerOps{User: u.Name, UID: uint32(u.UID)}
		var np tasks.Plan
		if err := l.plan(ctx, fresh, &np); err != nil {
			return err
		}
		ops = fresh
	}
	if ops.Set {
		ld, err := connectLogind(ctx)
		if err != nil {
			return err
		}
		err = ld.SetLinger(ctx, ops.UID, l.want())
		ld.Close()
		if err != nil {
			return err
		}
	}
	if l.want() && (ops.Set || ops.StartManager) {
		m, err := connectManager(ctx, scope{})
		if err != nil {
			return err
		}
		defer m.Close()
		svc := fmt.Sprintf("user@%d.service", ops.UID)
		if err := runJob(ctx, sys, m, scope{}, "start", svc); err != nil {
			return fmt.Errorf("%s's manager: %w", ops.User, err)
		}
	}
	return nil
}

var _ tasks.Task = (*Linger)(nil)
