package tasks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/provision-tool/provision/facts"
)

// Cmd is a program to run on the host. Programs are run with argv, never
// through a shell.
type Cmd struct {
	Argv []string
	// Env adds KEY=value pairs to the baseline environment (PATH, LC_ALL=C).
	Env []string
	// Dir is the working directory; "/" when empty.
	Dir string
	// Stdin is fed to the program.
	Stdin []byte
	// User runs the program as that user, with a session-like environment:
	// HOME, USER, LOGNAME, SHELL and XDG_RUNTIME_DIR=/run/user/UID when
	// that directory exists, as a login would set them.
	User string
}

// Result is what a command printed and how it exited.
type Result struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// A Runner runs commands. The error is for commands that could not be
// started; a command that ran and failed reports its exit code in Result.
type Runner interface {
	Run(ctx context.Context, c Cmd) (Result, error)
}

// BasePath is the PATH every command gets.
const BasePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// MaxOutput is the most of each of a command's stdout and stderr that
// ExecRunner keeps (for register, errors and modules that parse output).
const MaxOutput = 8 << 20

// CappedBuffer keeps the first MaxOutput bytes written to it and counts
// the rest, which String reports with an "output truncated" line.
type CappedBuffer struct {
	buf     bytes.Buffer
	dropped int64
}

// Write implements io.Writer; it never fails, so the program is not
// killed by a broken pipe.
func (c *CappedBuffer) Write(p []byte) (int, error) {
	room := MaxOutput - c.buf.Len()
	if room >= len(p) {
		return c.buf.Write(p)
	}
	c.buf.Write(p[:max(room, 0)])
	c.dropped += int64(len(p) - max(room, 0))
	return len(p), nil
}

// String returns what was kept, and the truncation marker if needed.
func (c *CappedBuffer) String() string {
	if c.dropped == 0 {
		return c.buf.String()
	}
	return fmt.Sprintf("%s\n[output truncated: %d more bytes not kept]\n", c.buf.String(), c.dropped)
}

// ExecRunner runs commands on the local host with os/exec.
type ExecRunner struct {
	// Facts resolves Cmd.User; required for commands run as a user.
	Facts *facts.Facts
}

// Run implements Runner.
func (r ExecRunner) Run(ctx context.Context, c Cmd) (Result, error) {
	if len(c.Argv) == 0 {
		return Result{}, errors.New("empty command")
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir = c.Dir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.Env = []string{"PATH=" + BasePath, "LC_ALL=C", "LANG=C"}
	if c.User != "" {
		env, cred, err := r.userSession(c.User)
		if err != nil {
			return Result{}, err
		}
		cmd.Env = append(cmd.Env, env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	} else {
		cmd.Env = append(cmd.Env, "HOME=/root")
	}
	cmd.Env = append(cmd.Env, c.Env...)
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var stdout, stderr CappedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := startGroup(cmd)
	if err == nil {
		err = waitGroup(cmd)
	}
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		res.ExitCode = exit.ExitCode()
		if res.ExitCode < 0 {
			return res, fmt.Errorf("%s: %v", c.Argv[0], err)
		}
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("run %s: %w", c.Argv[0], err)
	}
	return res, nil
}

func (r ExecRunner) userSession(name string) ([]string, *syscall.Credential, error) {
	if r.Facts == nil {
		return nil, nil, errors.New("cannot run as " + name + ": no facts to look the user up")
	}
	u, ok := r.Facts.LookupUser(name)
	if !ok {
		return nil, nil, fmt.Errorf("cannot run as %s: no such user", name)
	}
	groups := r.Facts.SupplementaryGroups(u.Name)
	cred := &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID)}
	for _, g := range groups {
		cred.Groups = append(cred.Groups, uint32(g))
	}
	env := []string{"HOME=" + u.Home, "USER=" + u.Name, "LOGNAME=" + u.Name, "SHELL=" + u.Shell}
	rt := "/run/user/" + strconv.FormatInt(u.UID, 10)
	if st, err := os.Stat(rt); err == nil && st.IsDir() {
		env = append(env, "XDG_RUNTIME_DIR="+rt, "DBUS_SESSION_BUS_ADDRESS=unix:path="+rt+"/bus")
	}
	return env, cred, nil
}
