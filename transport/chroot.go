package transport

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/provision-tool/provision/report"
)

// Chroot provisions an image tree on this machine from outside: the agent
// (this very binary) is copied into a private root-only directory inside
// the tree and run chrooted there, with the tree's own package manager,
// useradd and files, as an image build (tasks.System.Image). It speaks the
// agent protocol SSH uses: the bundle on stdin, events on stdout.
//
// The helper that sets the chroot up runs in a mount and PID namespace of
// its own: a fresh /proc, /sys read-only, /dev and a tmpfs on /run exist
// only in that namespace, so the build machine never sees them and they
// vanish with the agent's last process, even after SIGKILL. The agent's
// directory is removed at the end; one left by a killed run is removed by
// the next run on the tree.
type Chroot struct {
	// Binary is the provision binary placed in the tree and run as the
	// helper; "" is this executable. It must be statically linked, since
	// it runs with the image's libraries.
	Binary string
}

// agentPrefix names the agent's directory at the top of the tree.
const agentPrefix = ".provision-agent-"

// Run implements Transport: t.Address is the tree's absolute path.
func (c *Chroot) Run(ctx context.Context, t Target, job *Job, sink report.Sink) Result {
	counts := &report.Counts{}
	root, bin, err := c.prepare(t.Address)
	if err != nil {
		return Result{Counts: counts, Err: err}
	}
	dir, lock, err := placeAgent(root, bin)
	if err != nil {
		return Result{Counts: counts, Err: err}
	}
	defer lock.Close()
	res := c.run(ctx, root, bin, dir, t, job, sink, counts)
	if err := os.RemoveAll(filepath.Join(root, dir)); err != nil && res.Err == nil {
		res.Err = fmt.Errorf("remove the agent from %s: %w", root, err)
	}
	return res
}

// prepare checks the tree and the binary, and removes agents that killed
// runs left behind.
func (c *Chroot) prepare(tree string) (root, bin string, err error) {
	if !filepath.IsAbs(tree) {
		return "", "", fmt.Errorf("chroot %q: want the image tree's absolute path", tree)
	}
	if root, err = filepath.EvalSymlinks(tree); err != nil {
		return "", "", fmt.Errorf("chroot %s: %w", tree, err)
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() || root == "/" {
		return "", "", fmt.Errorf("chroot %s: not an image tree (a directory other than /)", tree)
	}
	if bin = c.Binary; bin == "" {
		if bin, err = os.Executable(); err != nil {
			return "", "", fmt.Errorf("chroot %s: find this binary: %w", tree, err)
		}
	}
	if err := checkStatic(bin); err != nil {
		return "", "", err
	}
	removeStaleAgents(root)
	return root, bin, nil
}

// placeAgent makes ROOT/.provision-agent-RANDOM (root only, with a tmp
// directory for the agent's files) and copies bin into it. The name is new,
// so nothing the image holds is followed. It returns the name and the
// directory, held open with an flock that tells a live run from a stale
// directory (the lock goes when this process does, however it ends).
func placeAgent(root, bin string) (string, *os.File, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	name := agentPrefix + hex.EncodeToString(rnd[:])
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("place the agent in %s: %w", root, err)
	}
	lock, err := os.Open(dir)
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	}
	if err == nil {
		err = os.Mkdir(filepath.Join(dir, "tmp"), 0o700)
	}
	if err == nil {
		err = copyExecutable(bin, filepath.Join(dir, "provision"))
	}
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("place the agent in %s: %w", root, err)
	}
	return name, lock, nil
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, 0o700)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// removeStaleAgents removes agent directories whose run is gone (a
// controller killed before it could clean up): nobody holds their lock.
// Links and anything not a directory are left alone.
func removeStaleAgents(root string) {
	matches, _ := filepath.Glob(filepath.Join(root, agentPrefix+"*"))
	for _, m := range matches {
		if st, err := os.Lstat(m); err != nil || !st.IsDir() {
			continue
		}
		fd, err := syscall.Open(m, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.RemoveAll(m)
		}
		syscall.Close(fd)
	}
}

// run starts the helper in its own namespaces and relays the agent's events.
func (c *Chroot) run(ctx context.Context, root, bin, dir string, t Target, job *Job, sink report.Sink, counts *report.Counts) Result {
	cmd := exec.Command(bin, ChrootHelper, root, dir)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL,
		Cloneflags: syscall.CLONE_NEWPID, Unshareflags: syscall.CLONE_NEWNS}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return Result{Counts: counts, Err: err}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Result{Counts: counts, Err: err}
	}
	var stderr tailBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return Result{Counts: counts, Err: fmt.Errorf("chroot %s: start the agent: %w", root, err)}
	}
	j := *job
	j.Bundle.Image = true
	se := &session{t: t, job: &j, stdin: stdin, out: bufio.NewReaderSize(stdout, 64<<10), sink: sink, counts: counts}
	done := make(chan struct{})
	var stopOnce sync.Once
	go func() {
		select {
		case <-ctx.Done():
			stopOnce.Do(func() { io.WriteString(stdin, "stop\n") })
		case <-done:
		}
	}()
	relayErr := se.relay()
	close(done)
	if relayErr != nil {
		cmd.Process.Kill()
	}
	cmd.Wait()
	stdin.Close()
	code := cmd.ProcessState.ExitCode()
	return chrootResult(root, relayErr, code, stderr.String(), counts)
}

func chrootResult(root string, relayErr error, code int, stderr string, counts *report.Counts) Result {
	res := Result{Counts: counts}
	switch {
	case relayErr != nil && strings.TrimSpace(stderr) != "":
		res.Err = fmt.Errorf("chroot %s: %v: %s", root, relayErr, lastLines(stderr, 5))
	case relayErr != nil:
		res.Err = fmt.Errorf("chroot %s: %w", root, relayErr)
	case code != report.ExitOK && code != report.ExitPending && counts.Failed == 0:
		// The helper's own refusals already name the tree.
		msg := strings.TrimPrefix(lastLines(stderr, 5), "provision: ")
		if strings.HasPrefix(msg, "chroot "+root+": ") {
			res.Err = errors.New(msg)
		} else {
			res.Err = fmt.Errorf("chroot %s: agent exited %d: %s", root, code, msg)
		}
	}
	return res
}
