package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/provision-tool/provision/tasks"
)

// unitInfo is what the modules read of a loaded unit.
type unitInfo struct {
	Name string
	// LoadState is loaded, not-found, masked, bad-setting or error.
	LoadState string
	// ActiveState is active, reloading, inactive, failed, activating or
	// deactivating; SubState refines it (running, exited, auto-restart).
	ActiveState, SubState string
	// UnitFileState is enabled, disabled, static, masked, generated, ...
	UnitFileState    string
	NeedDaemonReload bool
	// FragmentPath is the unit file systemd loaded; SourcePath the file it
	// was generated from (a Quadlet .container).
	FragmentPath, SourcePath string
	// Result is a service's last result: success, exit-code, signal, ...;
	// "" for other unit types.
	Result string
}

// manager is what the modules need of one systemd manager (the system's or
// one user's). The real one speaks D-Bus through go-systemd; tests use a
// fake.
type manager interface {
	// Unit loads the unit if needed and returns its state.
	Unit(ctx context.Context, name string) (unitInfo, error)
	// DaemonReload is `systemctl daemon-reload`: generators run and unit
	// files are read again.
	DaemonReload(ctx context.Context) error
	// Job queues a start, stop, restart or reload job in mode "replace"
	// and waits for its result: done, canceled, timeout, failed,
	// dependency or skipped.
	Job(ctx context.Context, kind, name string) (string, error)
	// Enable, Disable, Mask and Unmask change unit file links, as
	// systemctl --no-reload does.
	Enable(ctx context.Context, name string) error
	Disable(ctx context.Context, name string) error
	Mask(ctx context.Context, name string) error
	Unmask(ctx context.Context, name string) error
	Close()
}

// logind is what the linger module needs of systemd-logind.
type logind interface {
	Linger(ctx context.Context, uid uint32) (bool, error)
	SetLinger(ctx context.Context, uid uint32, enable bool) error
	Close()
}

// errNoUserManager is returned when a user's manager is not running, so
// there is nothing to talk to.
var errNoUserManager = errors.New("user manager is not running")

// connectManager and connectLogind open the real D-Bus connections; unit
// tests replace them with fakes.
var (
	connectManager = dialManager
	connectLogind  = dialLogind
)

// dialManager connects to the system manager, or to the manager of the user
// with uid (scope user) through its private socket
// $XDG_RUNTIME_DIR/systemd/private, which root may use directly (as
// `systemctl --user` does for the user itself).
func dialManager(ctx context.Context, sc scope) (manager, error) {
	if !sc.user() {
		c, err := sd.NewSystemConnectionContext(ctx)
		if err != nil && os.Geteuid() == 0 {
			c, err = sd.NewSystemdConnectionContext(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("connect to systemd: %w", err)
		}
		return &dbusManager{c: c}, nil
	}
	sock := fmt.Sprintf("/run/user/%d/systemd/private", sc.UID)
	if _, err := os.Stat(sock); err != nil {
		return nil, fmt.Errorf("%s's %w (no %s): enable lingering with the linger module, or log in", sc.Name, errNoUserManager, sock)
	}
	if e := os.Geteuid(); e != 0 && e != int(sc.UID) {
		return nil, fmt.Errorf("connect to %s's user manager: needs root or uid %d", sc.Name, sc.UID)
	}
	c, err := sd.NewConnection(func() (*dbus.Conn, error) {
		conn, err := dbus.Dial("unix:path="+sock, dbus.WithContext(ctx))
		if err != nil {
			return nil, err
		}
		if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Geteuid()))}); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s's user manager: %w", sc.Name, err)
	}
	return &dbusManager{c: c}, nil
}

type dbusManager struct{ c *sd.Conn }

func (m *dbusManager) Close() { m.c.Close() }

func (m *dbusManager) Unit(ctx context.Context, name string) (unitInfo, error) {
	p, err := m.c.GetUnitPropertiesContext(ctx, name)
	if err != nil {
		return unitInfo{}, fmt.Errorf("read %s: %w", name, err)
	}
	str := func(k string) string { s, _ := p[k].(string); return s }
	u := unitInfo{
		Name:          name,
		LoadState:     str("LoadState"),
		ActiveState:   str("ActiveState"),
		SubState:      str("SubState"),
		UnitFileState: str("UnitFileState"),
		FragmentPath:  str("FragmentPath"),
		SourcePath:    str("SourcePath"),
	}
	u.NeedDaemonReload, _ = p["NeedDaemonReload"].(bool)
	// The UnitFileState property is computed once and cached until the
	// next reload, so right after DisableUnitFiles or UnmaskUnitFiles it
	// is stale; ListUnitFilesByPatterns reads the links on disk each time,
	// as `systemctl is-enabled` does. Instances have no file of their own
	// and keep the property.
	files, err := m.c.ListUnitFilesByPatternsContext(ctx, nil, []string{name})
	if err != nil {
		return unitInfo{}, fmt.Errorf("read the unit file state of %s: %w", name, err)
	}
	for _, f := range files {
		if path.Base(f.Path) == name {
			u.UnitFileState = f.Type
			break
		}
	}
	if strings.HasSuffix(name, ".service") && u.LoadState == "loaded" {
		sp, err := m.c.GetUnitTypePropertiesContext(ctx, name, "Service")
		if err != nil {
			return unitInfo{}, fmt.Errorf("read %s: %w", name, err)
		}
		u.Result, _ = sp["Result"].(string)
	}
	return u, nil
}

func (m *dbusManager) DaemonReload(ctx context.Context) error {
	if err := m.c.ReloadContext(ctx); err != nil {
		return fmt.Errorf("daemon-reload: %w", err)
	}
	return nil
}

func (m *dbusManager) Job(ctx context.Context, kind, name string) (string, error) {
	ch := make(chan string, 1)
	var err error
	switch kind {
	case "start":
		_, err = m.c.StartUnitContext(ctx, name, "replace", ch)
	case "stop":
		_, err = m.c.StopUnitContext(ctx, name, "replace", ch)
	case "restart":
		_, err = m.c.RestartUnitContext(ctx, name, "replace", ch)
	case "reload":
		_, err = m.c.ReloadUnitContext(ctx, name, "replace", ch)
	default:
		return "", fmt.Errorf("unknown job type %q", kind)
	}
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", kind, name, err)
	}
	select {
	case res := <-ch:
		return res, nil
	case <-ctx.Done():
		return "", fmt.Errorf("%s %s: waiting for the job: %w", kind, name, ctx.Err())
	}
}

func (m *dbusManager) Enable(ctx context.Context, name string) error {
	if _, _, err := m.c.EnableUnitFilesContext(ctx, []string{name}, false, false); err != nil {
		return fmt.Errorf("enable %s: %w", name, err)
	}
	return nil
}

func (m *dbusManager) Disable(ctx context.Context, name string) error {
	if _, err := m.c.DisableUnitFilesContext(ctx, []string{name}, false); err != nil {
		return fmt.Errorf("disable %s: %w", name, err)
	}
	return nil
}

func (m *dbusManager) Mask(ctx context.Context, name string) error {
	if _, err := m.c.MaskUnitFilesContext(ctx, []string{name}, false, false); err != nil {
		return fmt.Errorf("mask %s: %w", name, err)
	}
	return nil
}

func (m *dbusManager) Unmask(ctx context.Context, name string) error {
	if _, err := m.c.UnmaskUnitFilesContext(ctx, []string{name}, false); err != nil {
		return fmt.Errorf("unmask %s: %w", name, err)
	}
	return nil
}

// dialLogind connects to org.freedesktop.login1 on the system bus.
func dialLogind(ctx context.Context) (logind, error) {
	conn, err := dbus.SystemBusPrivate(dbus.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("connect to logind: %w", err)
	}
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect to logind: %w", err)
	}
	if err := conn.Hello(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect to logind: %w", err)
	}
	return &dbusLogind{conn: conn, obj: conn.Object("org.freedesktop.login1", "/org/freedesktop/login1")}, nil
}

type dbusLogind struct {
	conn *dbus.Conn
	obj  dbus.BusObject
}

func (l *dbusLogind) Close() { l.conn.Close() }

// Linger reads the Linger property of the user's logind object. logind
// knows only users with a session or lingering; for any other it answers
// NoSuchUser, which means no lingering.
func (l *dbusLogind) Linger(ctx context.Context, uid uint32) (bool, error) {
	var path dbus.ObjectPath
	err := l.obj.CallWithContext(ctx, "org.freedesktop.login1.Manager.GetUser", 0, uid).Store(&path)
	var de dbus.Error
	if errors.As(err, &de) && de.Name == "org.freedesktop.login1.NoSuchUser" {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("logind GetUser %d: %w", uid, err)
	}
	v, err := l.conn.Object("org.freedesktop.login1", path).GetProperty("org.freedesktop.login1.User.Linger")
	if err != nil {
		return false, fmt.Errorf("logind user %d Linger: %w", uid, err)
	}
	b, ok := v.Value().(bool)
	if !ok {
		return false, fmt.Errorf("logind user %d Linger: unexpected value %v", uid, v)
	}
	return b, nil
}

// SetLinger calls SetUserLinger(uid, enable, interactive=false).
func (l *dbusLogind) SetLinger(ctx context.Context, uid uint32, enable bool) error {
	if err := l.obj.CallWithContext(ctx, "org.freedesktop.login1.Manager.SetUserLinger", 0, uid, enable, false).Store(); err != nil {
		return fmt.Errorf("logind SetUserLinger %d %v: %w", uid, enable, err)
	}
	return nil
}

// journalLines returns the last lines the journal holds for the unit since
// the given time, for an error message. go-systemd's sdjournal needs cgo
// and libsystemd, and provision is built with CGO_ENABLED=0, so this runs
// journalctl (read-only) through the system's runner instead.
func journalLines(ctx context.Context, sys *tasks.System, sc scope, unit string, since time.Time) string {
	argv := []string{"journalctl", "--no-pager", "-o", "cat", "-n", "20"}
	if !since.IsZero() {
		argv = append(argv, "--since", "@"+strconv.FormatInt(since.Unix()-1, 10))
	}
	if sc.user() {
		// --user-unit matches the caller's UID; root asks for the user's.
		uid := strconv.FormatUint(uint64(sc.UID), 10)
		argv = append(argv, "_SYSTEMD_USER_UNIT="+unit, "_UID="+uid, "+", "USER_UNIT="+unit, "_UID="+uid)
	} else {
		argv = append(argv, "-u", unit)
	}
	r, err := sys.Run(ctx, tasks.Cmd{Argv: argv})
	if err != nil || r.ExitCode != 0 {
		return ""
	}
	return strings.TrimRight(r.Stdout, "\n")
}
