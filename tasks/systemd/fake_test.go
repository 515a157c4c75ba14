package systemd

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/provision-tool/provision/tasks"
)

// fakeSystemd is a systemd manager in memory: units with states, and a log
// of the calls made. Jobs change states as systemd would; a unit in
// failOn fails its start.
type fakeSystemd struct {
	mu    sync.Mutex
	units map[string]*unitInfo
	// files are unit names whose file exists but are not loaded yet (a
	// new Quadlet file): daemon-reload loads them.
	pending map[string]unitInfo
	calls   []string
	// failOn maps a unit to the job result its start gets ("failed") or,
	// with the "after:" prefix, the state it falls into after a done job.
	failOn map[string]string
	// noManager makes connect fail as for a user without a manager.
	noManager bool
}

func newFake() *fakeSystemd {
	return &fakeSystemd{units: map[string]*unitInfo{}, pending: map[string]unitInfo{}, failOn: map[string]string{}}
}

func (f *fakeSystemd) add(u unitInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u.LoadState == "" {
		u.LoadState = "loaded"
	}
	if u.ActiveState == "" {
		u.ActiveState = "inactive"
	}
	f.units[u.Name] = &u
}

func (f *fakeSystemd) log(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

// Calls returns the calls that change something, joined by "; ".
func (f *fakeSystemd) Calls() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, "; ")
}

func (f *fakeSystemd) reset() {
	f.mu.Lock()
	f.calls = nil
	f.mu.Unlock()
}

// install replaces the connectors with this fake for the test.
func (f *fakeSystemd) install(t *testing.T, ld *fakeLogind) {
	t.Helper()
	oldM, oldL, oldS, oldI := connectManager, connectLogind, settleDelay, imageRoot
	t.Cleanup(func() { connectManager, connectLogind, settleDelay, imageRoot = oldM, oldL, oldS, oldI })
	settleDelay = 0
	imageRoot = func(*tasks.System) bool { return false }
	connectManager = func(_ context.Context, sc scope) (manager, error) {
		if f.noManager && sc.user() {
			return nil, fmt.Errorf("%s's %w", sc.Name, errNoUserManager)
		}
		return fakeConn{f}, nil
	}
	connectLogind = func(context.Context) (logind, error) {
		if ld == nil {
			return nil, fmt.Errorf("no logind in this test")
		}
		return ld, nil
	}
}

type fakeConn struct{ f *fakeSystemd }

func (c fakeConn) Close() {}

func (c fakeConn) Unit(_ context.Context, name string) (unitInfo, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	u, ok := c.f.units[name]
	if !ok {
		return unitInfo{Name: name, LoadState: "not-found", ActiveState: "inactive", SubState: "dead"}, nil
	}
	return *u, nil
}

func (c fakeConn) DaemonReload(context.Context) error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.f.log("daemon-reload")
	for _, u := range c.f.units {
		u.NeedDaemonReload = false
		switch {
		case u.UnitFileState == "masked":
			u.LoadState = "masked"
		case u.LoadState == "masked":
			u.LoadState = "loaded"
		}
	}
	for n, u := range c.f.pending {
		u := u
		if u.LoadState == "" {
			u.LoadState = "loaded"
		}
		if u.ActiveState == "" {
			u.ActiveState = "inactive"
		}
		c.f.units[n] = &u
		delete(c.f.pending, n)
	}
	return nil
}

func (c fakeConn) Job(_ context.Context, kind, name string) (string, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.f.log("%s %s", kind, name)
	u, ok := c.f.units[name]
	if !ok {
		return "", fmt.Errorf("%s %s: Unit %s not found", kind, name, name)
	}
	if kind != "stop" {
		if r := c.f.failOn[name]; r != "" {
			if after, ok := strings.CutPrefix(r, "after:"); ok {
				u.ActiveState, u.SubState, u.Result = after, after, "exit-code"
				return "done", nil
			}
			u.ActiveState, u.SubState, u.Result = "failed", "failed", "exit-code"
			return r, nil
		}
	}
	switch kind {
	case "start", "restart", "reload":
		u.ActiveState, u.SubState, u.Result = "active", "running", "success"
	case "stop":
		u.ActiveState, u.SubState = "inactive", "dead"
	}
	return "done", nil
}

func (c fakeConn) setFileState(name, state, call string) error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.f.log("%s %s", call, name)
	u, ok := c.f.units[name]
	if !ok {
		return fmt.Errorf("%s %s: no such unit", call, name)
	}
	// Like systemd, the manager's LoadState follows at the next reload.
	u.UnitFileState = state
	return nil
}

func (c fakeConn) Enable(_ context.Context, n string) error {
	return c.setFileState(n, "enabled", "enable")
}
func (c fakeConn) Disable(_ context.Context, n string) error {
	return c.setFileState(n, "disabled", "disable")
}
func (c fakeConn) Mask(_ context.Context, n string) error { return c.setFileState(n, "masked", "mask") }
func (c fakeConn) Unmask(_ context.Context, n string) error {
	return c.setFileState(n, "disabled", "unmask")
}

// fakeLogind keeps lingering users; enabling one starts its manager in the
// fake systemd, as logind does.
type fakeLogind struct {
	mu     sync.Mutex
	linger map[uint32]bool
	sd     *fakeSystemd
	calls  []string
}

func (l *fakeLogind) Close() {}

func (l *fakeLogind) Linger(_ context.Context, uid uint32) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.linger[uid], nil
}

func (l *fakeLogind) SetLinger(_ context.Context, uid uint32, on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, fmt.Sprintf("SetUserLinger %d %v", uid, on))
	l.linger[uid] = on
	return nil
}
