package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/provision-tool/provision/tasks"
)

// Paths the engine keeps on each host.
const (
	DefaultStateDir = "/var/lib/provision"
	DefaultLockPath = "/run/provision.lock"
	handlersFile    = "pending-handlers.json"
)

// pendingHandler is a notification whose handler has not yet succeeded.
// It is persisted so that a run that fails or is killed before its handlers
// still runs them next time. Intent marks a notification written ahead of a
// change that may or may not have happened (the run was killed, or Apply
// failed, before the engine knew): the next run treats it as pending, so a
// handler may run once more than strictly needed, never once less.
type pendingHandler struct {
	Playbook string    `json:"playbook"`
	Play     string    `json:"play"`
	Handler  string    `json:"handler"`
	Items    []any     `json:"items,omitempty"`
	Intent   bool      `json:"intent,omitempty"`
	Since    time.Time `json:"since"`
}

type handlerState struct {
	Version int              `json:"version"`
	Pending []pendingHandler `json:"pending"`
}

type stateStore struct {
	sys  *tasks.System
	path string
	st   handlerState
}

func loadState(sys *tasks.System, dir string) (*stateStore, error) {
	s := &stateStore{sys: sys, path: filepath.Join(dir, handlersFile), st: handlerState{Version: 1}}
	data, ok, err := sys.ReadFileIfExists(s.path)
	if err != nil {
		return nil, err
	}
	if ok {
		if err := json.Unmarshal(data, &s.st); err != nil {
			return nil, fmt.Errorf("%s: %v (remove it to forget pending handlers)", s.path, err)
		}
	}
	return s, nil
}

func (s *stateStore) pending(playbook, play string) []pendingHandler {
	var out []pendingHandler
	for _, p := range s.st.Pending {
		if p.Playbook == playbook && p.Play == play {
			out = append(out, p)
		}
	}
	return out
}

// update is the new state of one handler's notification: pending with
// items (Intent when written ahead of a change), or not pending.
type update struct {
	Pending bool
	Intent  bool
	Items   []any
}

// put applies the updates of one play's handlers and saves once.
func (s *stateStore) put(playbook, play string, upd map[string]update) error {
	if len(upd) == 0 {
		return nil
	}
	since := map[string]time.Time{}
	kept := s.st.Pending[:0]
	for _, p := range s.st.Pending {
		if _, ok := upd[p.Handler]; ok && p.Playbook == playbook && p.Play == play {
			since[p.Handler] = p.Since
			continue
		}
		kept = append(kept, p)
	}
	s.st.Pending = kept
	now := time.Now().UTC()
	for _, h := range sortedKeys(upd) {
		u := upd[h]
		if !u.Pending {
			continue
		}
		t, ok := since[h]
		if !ok {
			t = now
		}
		s.st.Pending = append(s.st.Pending, pendingHandler{Playbook: playbook, Play: play, Handler: h, Items: u.Items, Intent: u.Intent, Since: t})
	}
	return s.save()
}

func sortedKeys(m map[string]update) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (s *stateStore) save() error {
	dir := filepath.Dir(s.path)
	if err := s.sys.FS().MkdirAll(dir, 0o755, -1, -1); err != nil {
		return err
	}
	if len(s.st.Pending) == 0 {
		return s.sys.FS().Remove(s.path)
	}
	data, err := json.MarshalIndent(s.st, "", "  ")
	if err != nil {
		return err
	}
	return s.sys.WriteFile(s.path, append(data, '\n'), tasks.FileAttrs{Mode: 0o600, UID: 0, GID: 0}, "")
}

// Lock is the per-host run lock.
type Lock struct{ f *os.File }

// ErrLocked is returned by AcquireLock when another run holds the lock.
type ErrLocked struct {
	Path string
	PID  int
}

func (e *ErrLocked) Error() string {
	who := "another provision run"
	if e.PID > 0 {
		who += " (PID " + strconv.Itoa(e.PID) + ")"
	}
	return who + " holds " + e.Path + "; wait for it to finish"
}

// AcquireLock takes the host's run lock without waiting.
func AcquireLock(sys *tasks.System, path string) (*Lock, error) {
	// Inside the root and never a device, FIFO or link: an image's
	// /run/provision.lock may be a device node, and the PID is written.
	if err := sys.FS().MkdirAll(filepath.Dir(path), 0o755, -1, -1); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := sys.FS().OpenRegular(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		data := make([]byte, 32)
		n, _ := f.ReadAt(data, 0)
		f.Close()
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data[:n])))
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &ErrLocked{Path: path, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &Lock{f: f}, nil
}

// Release frees the lock.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Truncate(0)
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
}
