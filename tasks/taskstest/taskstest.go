// Package taskstest roots a tasks.System in a temp dir with a fake command
// runner, for module unit tests, and checks the task contract: Check has no
// side effects, Apply converges, and a second Check is empty.
package taskstest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/tasks"
)

// New returns a System rooted in a fresh temp dir with a FakeRunner. Write
// host files with WriteFile before the first fact is read.
func New(t testing.TB) (*tasks.System, *FakeRunner) {
	t.Helper()
	root := t.TempDir()
	// A host's "/" is searchable by everyone: reads made with a user's
	// rights (tasks.UserFiles) start there.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	run := &FakeRunner{T: t}
	return &tasks.System{Root: root, Runner: run, Facts: facts.New(root), SourceDir: root}, run
}

// HostPath is the path of p under the test root, without resolving any
// link: for tests that set up or inspect links themselves.
func HostPath(sys *tasks.System, p string) string {
	return filepath.Join(sys.Root, filepath.Clean("/"+p))
}

// WriteFile writes a file under the system's root, creating directories.
func WriteFile(t testing.TB, sys *tasks.System, path, content string) {
	t.Helper()
	hp := sys.MustPath(path)
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReadFile reads a file under the system's root; "" when it is absent.
func ReadFile(t testing.TB, sys *tasks.System, path string) string {
	t.Helper()
	data, err := os.ReadFile(sys.MustPath(path))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// FakeRunner answers commands from canned responses and records every call.
// Handlers may change files under the root to simulate what the program
// does (for instance dpkg installing a package). A command no handler
// answers fails the test (through T) and returns an error.
type FakeRunner struct {
	T        testing.TB
	mu       sync.Mutex
	handlers []handler
	Calls    []tasks.Cmd
}

type handler struct {
	prefix []string
	fn     func(tasks.Cmd) tasks.Result
	err    error
}

// On answers every command whose argv starts with prefix (words joined by
// single spaces) with fn's result. Later registrations win.
func (f *FakeRunner) On(prefix string, fn func(c tasks.Cmd) tasks.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers = append(f.handlers, handler{prefix: strings.Fields(prefix), fn: fn})
}

// Fail makes commands starting with prefix fail to start with err, as a
// missing program does.
func (f *FakeRunner) Fail(prefix string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers = append(f.handlers, handler{prefix: strings.Fields(prefix), err: err})
}

// Reply answers commands starting with prefix with fixed output.
func (f *FakeRunner) Reply(prefix, stdout string, exitCode int) {
	f.On(prefix, func(tasks.Cmd) tasks.Result { return tasks.Result{Stdout: stdout, ExitCode: exitCode} })
}

// Run implements tasks.Runner. An unexpected command fails the test.
func (f *FakeRunner) Run(_ context.Context, c tasks.Cmd) (tasks.Result, error) {
	f.mu.Lock()
	f.Calls = append(f.Calls, c)
	var match *handler
	for i := len(f.handlers) - 1; i >= 0; i-- {
		h := f.handlers[i]
		if len(h.prefix) <= len(c.Argv) && equal(h.prefix, c.Argv[:len(h.prefix)]) {
			match = &h
			break
		}
	}
	f.mu.Unlock()
	if match == nil {
		err := fmt.Errorf("taskstest: unexpected command %q", c.Argv)
		if f.T != nil {
			f.T.Errorf("%v", err)
		}
		return tasks.Result{}, err
	}
	if match.err != nil {
		return tasks.Result{}, match.err
	}
	return match.fn(c), nil
}

// Commands returns the recorded argv of every call, each joined by spaces.
func (f *FakeRunner) Commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.Calls))
	for i, c := range f.Calls {
		out[i] = strings.Join(c.Argv, " ")
	}
	return out
}

// Reset forgets the recorded calls.
func (f *FakeRunner) Reset() {
	f.mu.Lock()
	f.Calls = nil
	f.mu.Unlock()
}

func equal(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Converge runs the engine's contract on one task: Check, Apply, Check
// again. It fails the test when the second plan is not empty, and returns
// the first plan.
func Converge(t testing.TB, sys *tasks.System, task tasks.Task) tasks.Plan {
	t.Helper()
	ctx := context.Background()
	p, err := task.Check(ctx, sys)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if p.Empty() {
		return p
	}
	if err := task.Apply(ctx, sys, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	again, err := task.Check(ctx, sys)
	if err != nil {
		t.Fatalf("check after apply: %v", err)
	}
	if !again.Empty() {
		t.Fatalf("did not converge: second plan %s", again)
	}
	return p
}

// Snapshot returns every regular file under the root with its content, to
// prove that Check changed nothing.
func Snapshot(t testing.TB, sys *tasks.System) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(sys.Root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(sys.Root, p)
		switch {
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("%v %s", fi.Mode(), data)
		default:
			out[rel] = fi.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Check runs task.Check, failing the test on an error or when Check
// changed anything under the root.
func Check(t testing.TB, sys *tasks.System, task tasks.Task) tasks.Plan {
	t.Helper()
	before := Snapshot(t, sys)
	p, err := task.Check(context.Background(), sys)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if after := Snapshot(t, sys); !reflect.DeepEqual(before, after) {
		t.Fatal("check changed the host")
	}
	return p
}

// WantChanges fails the test unless the plan's changes are exactly want.
func WantChanges(t testing.TB, p tasks.Plan, want []tasks.Change) {
	t.Helper()
	if !reflect.DeepEqual(p.Changes, want) {
		t.Fatalf("plan:\n%#v\nwant:\n%#v", p.Changes, want)
	}
}
