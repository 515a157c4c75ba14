package tasks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/provision-tool/provision/facts"
	"github.com/provision-tool/provision/tasks/hostfs"
)

// System is the host a task runs on, as modules see it: a filesystem rooted
// at Root, a command runner and the host's facts. On a live host Root is
// "/"; tests root it in a temp dir and give it a recording Runner. Modules
// reach files only through System's methods and sys.FS(), never os.*, so
// that both work and no path leaves Root.
type System struct {
	// Root is the directory that stands for "/" on this host.
	Root string
	// Runner runs programs on the host.
	Runner Runner
	// Facts describes the host.
	Facts *facts.Facts
	// Log receives debug and warning messages.
	Log Logger
	// SourceDir is the directory relative source paths (copy, template)
	// are resolved against: the playbook's directory.
	SourceDir string
	// Render expands {{ expr }} in text with the task's variables; set by
	// the engine for the template module.
	Render func(text string) (string, error)
	// Memo is shared by the tasks of one run on this host; the engine
	// sets it. Nil (in unit tests) stores nothing.
	Memo *Memo
	// Image is true when the host is an image being built (--image, a
	// container build step, a chroot, --root): nothing runs in it yet. Modules
	// persist state and never start, reload or apply anything live: units
	// are enabled by link, sysctl values only written, no user sessions.
	Image bool
	// CheckOnly is true in check mode (provision check): even the
	// queries of Check, which change nothing by themselves, must leave
	// the host as it was, writing no cache or log a package manager
	// would write (see tasks/pkg).
	CheckOnly bool
	// Sweeper removes the temp files a killed run left in the directories
	// this run writes in; the engine sets one per run, under its lock.
	Sweeper *hostfs.Sweeper
	// Labels gives new files the SELinux label of the tree's policy,
	// reading it once per run; the engine sets one per run.
	Labels *hostfs.Labels
}

// Logger is the small logging interface modules and the engine use.
type Logger interface {
	Debugf(format string, args ...any)
	Warnf(format string, args ...any)
}

type nopLogger struct{}

func (nopLogger) Debugf(string, ...any) {}
func (nopLogger) Warnf(string, ...any)  {}

// NopLogger discards everything.
var NopLogger Logger = nopLogger{}

// Logf returns sys.Log, or a logger that discards when it is nil.
func (s *System) Logf() Logger {
	if s.Log == nil {
		return NopLogger
	}
	return s.Log
}

// FS is the host's file system under Root, for changes made by root:
// every module reads and writes host files through it (or through the
// System methods below, which use it). See package hostfs for the rules.
func (s *System) FS() hostfs.FS {
	return hostfs.FS{Root: s.Root, Sweeper: s.Sweeper, Labels: s.Labels}
}

// Path maps an absolute host path to the path under Root, with every
// symlink resolved inside Root (an absolute link in an image tree stays in
// the tree). It refuses relative paths, which would depend on the agent's
// working directory. The result is a plain string: use it only to show or
// to pass to programs, and the System or FS methods to touch files.
func (s *System) Path(p string) (string, error) {
	return s.FS().Resolve(p)
}

// MustPath is Path for paths the module itself names (constants such as
// /etc/subuid), which are always absolute.
func (s *System) MustPath(p string) string {
	hp, err := s.Path(p)
	if err != nil {
		panic(err)
	}
	return hp
}

// ReadFile reads a regular host file, following links inside Root. A
// missing file is reported with errors.Is(err, fs.ErrNotExist).
func (s *System) ReadFile(p string) ([]byte, error) {
	return s.FS().ReadFile(p)
}

// ReadFileIfExists reads a host file, returning exists=false and no error
// when it is absent.
func (s *System) ReadFileIfExists(p string) (data []byte, exists bool, err error) {
	data, err = s.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	return data, err == nil, err
}

// Lstat stats a host path without following a final symlink.
func (s *System) Lstat(p string) (fs.FileInfo, error) {
	return s.FS().Lstat(p)
}

// Stat stats a host path, following links inside Root.
func (s *System) Stat(p string) (fs.FileInfo, error) {
	return s.FS().Stat(p)
}

// ReadDir lists a host directory sorted by name.
func (s *System) ReadDir(p string) ([]fs.DirEntry, error) {
	return s.FS().ReadDir(p)
}

// Exists reports whether a host path exists (without following a final
// symlink).
func (s *System) Exists(p string) bool {
	_, err := s.Lstat(p)
	return err == nil
}

// Run runs a command on the host.
func (s *System) Run(ctx context.Context, c Cmd) (Result, error) {
	if s.Runner == nil {
		return Result{}, errors.New("no command runner on this system")
	}
	return s.Runner.Run(ctx, c)
}

// RunOK runs a command and turns a non-zero exit into an error that quotes
// the command and its stderr.
func (s *System) RunOK(ctx context.Context, c Cmd) (Result, error) {
	r, err := s.Run(ctx, c)
	if err != nil {
		return r, err
	}
	if r.ExitCode != 0 {
		return r, &ExitError{Cmd: c, Result: r}
	}
	return r, nil
}

// ExitError is a command that ran and exited non-zero.
type ExitError struct {
	Cmd    Cmd
	Result Result
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Result.Stderr)
	if msg == "" {
		msg = strings.TrimSpace(e.Result.Stdout)
	}
	if len(msg) > 2000 {
		msg = "..." + msg[len(msg)-2000:]
	}
	s := fmt.Sprintf("%s: exit status %d", strings.Join(e.Cmd.Argv, " "), e.Result.ExitCode)
	if msg != "" {
		s += ": " + msg
	}
	return s
}
