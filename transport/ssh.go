package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/provision-tool/provision/engine"
	"github.com/provision-tool/provision/report"
)

// SSH runs the agent on a remote host over one OpenSSH client session, so
// that ssh_config, ssh-agent, ProxyJump and known_hosts work as they do for
// the user. Host keys are checked as ssh checks them (BatchMode: an
// unknown or changed key fails instead of prompting).
type SSH struct {
	// Command is the ssh client; "ssh" when empty.
	Command string
	// Binaries finds the agent binary to upload.
	Binaries *Binaries
	// ConnectTimeout bounds connection setup; 10 s when zero.
	ConnectTimeout time.Duration
	// ControlDir, when set, is where ssh keeps its connection-sharing
	// sockets (ControlMaster=auto, ControlPersist=60s, as Ansible does), so
	// that the next run to a host skips the key exchange. The user's own
	// -o options (ansible_ssh_common_args) win over these.
	ControlDir string
	// StateDir is the hosts' state directory; the agent binaries are kept
	// in its bin/ folder. "" is engine.DefaultStateDir (/var/lib/provision).
	StateDir string
	// Trace, when set, is told every ssh command line before it starts
	// (-vvv).
	Trace func(host string, argv []string)
}

// maxControlPath is the longest ControlPath ssh can listen on: a Unix
// socket's 108 bytes of path, less the NUL and the ".XXXXXXXXXXXXXXXX"
// ssh adds for the socket's temporary name. A longer one fails every
// connection ("ControlPath too long"), so a ControlDir too long for it
// (a home directory of more than 29 bytes) shares no connections.
const maxControlPath = 108 - 1 - 17

// controlHash stands for ssh's %C, 40 hex digits, in length checks.
const controlHash = "0123456789012345678901234567890123456789"

// DefaultControlDir is ~/.cache/provision/cp, or "" when there is no home.
func DefaultControlDir() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".cache", "provision", "cp")
}

// Args returns the ssh command line that runs provision with remoteArgs on
// a target (with a new sudo prompt marker when the target has a become
// password).
func (s *SSH) Args(t Target, remoteArgs ...string) []string {
	marker := ""
	if t.BecomePassword != "" {
		marker = newPromptMarker()
	}
	return s.args(t, marker, remoteArgs)
}

func (s *SSH) args(t Target, marker string, remoteArgs []string) []string {
	timeout := s.ConnectTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	args := []string{"-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=" + strconv.Itoa(int(timeout.Seconds()))}
	if t.Port != 0 {
		args = append(args, "-p", strconv.Itoa(t.Port))
	}
	if t.User != "" {
		args = append(args, "-l", t.User)
	}
	if t.KeyFile != "" {
		args = append(args, "-i", t.KeyFile, "-o", "IdentitiesOnly=yes")
	}
	// ssh takes the first value given for an option: the user's come first.
	args = append(args, t.SSHArgs...)
	if s.ControlDir != "" && len(filepath.Join(s.ControlDir, controlHash)) <= maxControlPath && os.MkdirAll(s.ControlDir, 0o700) == nil {
		args = append(args, "-o", "ControlMaster=auto", "-o", "ControlPersist=60s",
			"-o", "ControlPath="+filepath.Join(s.ControlDir, "%C"))
	}
	addr := t.Address
	if addr == "" {
		addr = t.Name
	}
	return append(args, "--", addr, remoteCommand(marker, s.binDir(), remoteArgs))
}

// binDir is where hosts keep agent binaries: bin/ in the state directory.
func (s *SSH) binDir() string {
	dir := s.StateDir
	if dir == "" {
		dir = engine.DefaultStateDir
	}
	return path.Join(dir, "bin")
}

// start starts ssh for remoteArgs, with its stdin and stdout piped and its
// stderr watched for the sudo prompt, in its own process group: a Ctrl-C
// on the terminal must not kill the session; the controller asks the agent
// to stop after its current task.
func (s *SSH) start(t Target, remoteArgs ...string) (*exec.Cmd, *session, error) {
	if strings.ContainsAny(t.BecomePassword, "\n\r") {
		return nil, nil, errors.New("the become password contains a line break, which sudo would not read")
	}
	command := s.Command
	if command == "" {
		command = "ssh"
	}
	se := &session{t: t, s: s, counts: &report.Counts{}}
	if t.BecomePassword != "" {
		se.stderr.marker = newPromptMarker()
		se.stderr.prompts = make(chan struct{}, 4)
	}
	cmd := exec.Command(command, s.args(t, se.stderr.marker, remoteArgs)...)
	if s.Trace != nil {
		s.Trace(t.Name, cmd.Args)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = &se.stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start ssh: %w", err)
	}
	se.stdin, se.out = stdin, bufio.NewReaderSize(stdout, 64<<10)
	return cmd, se, nil
}

// Run implements Transport.
func (s *SSH) Run(ctx context.Context, t Target, job *Job, sink report.Sink) Result {
	cmd, sess, err := s.start(t, "agent")
	if err != nil {
		return Result{Counts: &report.Counts{}, Unreachable: strings.HasPrefix(err.Error(), "start ssh"), Err: err}
	}
	sess.job, sess.sink = job, sink
	sess.sent = make(chan struct{})
	done := make(chan struct{})
	go sess.stopOn(ctx, done)
	handshakeErr := sess.run()
	close(done)
	if handshakeErr != nil {
		sess.stdin.Close()
		cmd.Process.Kill()
	}
	waitErr := cmd.Wait()
	sess.stdin.Close()
	code := cmd.ProcessState.ExitCode()
	return sess.result(handshakeErr, waitErr, code, sess.stderr.String())
}

// stopOn writes "stop" to the agent when ctx is done, but only once the
// bundle has been sent: before that, stdin carries the password, the
// handshake and the binary, which a stray line would corrupt. It gives up
// when done is closed.
func (se *session) stopOn(ctx context.Context, done <-chan struct{}) {
	select {
	case <-ctx.Done():
	case <-done:
		return
	}
	select {
	case <-se.sent:
		io.WriteString(se.stdin, "stop\n")
	case <-done:
	}
}

type session struct {
	t       Target
	job     *Job
	s       *SSH
	stdin   io.WriteCloser
	out     *bufio.Reader
	sink    report.Sink
	counts  *report.Counts
	stderr  promptWatcher
	started bool          // the agent is running: events may follow
	sent    chan struct{} // closed once the bundle is sent (Run only)
}

// run does the handshake, sends the bundle and relays the events.
func (se *session) run() error {
	if err := se.handshake(); err != nil {
		return err
	}
	return se.relay()
}

// handshake makes sure the host has the agent binary and starts it.
func (se *session) handshake() error {
	line, err := se.firstLine()
	if err != nil {
		return err
	}
	machine, ok := strings.CutPrefix(strings.TrimSpace(line), "provision-agent: arch ")
	if !ok {
		return fmt.Errorf("unexpected output from the host: %q", strings.TrimSpace(line))
	}
	bin, err := se.s.Binaries.For(machine)
	if err != nil {
		io.WriteString(se.stdin, "none 0\n")
		return err
	}
	fmt.Fprintf(se.stdin, "%s %d\n", bin.SHA256, bin.Size)
	reply, err := readLine(se.out, maxHandshakeLine)
	if err != nil {
		return errHandshake
	}
	line = string(reply)
	switch strings.TrimSpace(line) {
	case "provision-agent: have":
	case "provision-agent: need":
		f, err := os.Open(bin.Path)
		if err != nil {
			return err
		}
		_, err = io.Copy(se.stdin, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("upload %s: %w", bin.Path, err)
		}
	default:
		return fmt.Errorf("unexpected output from the host: %q", strings.TrimSpace(line))
	}
	return nil
}

// relay sends the bundle and relays the agent's events.
func (se *session) relay() error {
	b := se.job.Bundle
	b.Host, b.HostVars = se.t.Name, se.t.Vars
	if se.job.Match != nil {
		b.Plays = map[string]bool{}
		for _, p := range se.job.Playbook.Plays {
			b.Plays[p.Hosts] = se.job.Match(se.t.Name, p.Hosts)
		}
	}
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if _, err := se.stdin.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("send the playbook: %w", err)
	}
	se.started = true
	if se.sent != nil {
		close(se.sent)
	}
	for {
		line, err := readLine(se.out, MaxEventLine)
		if errors.Is(err, errLineTooLong) {
			return fmt.Errorf("an event from the agent is longer than %d MiB", MaxEventLine>>20)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			var ev report.Event
			if jerr := json.Unmarshal(line, &ev); jerr != nil {
				return fmt.Errorf("bad event from the agent: %v: %q", jerr, line)
			}
			ev.Host = se.t.Name
			if ev.Type == report.TaskResult {
				se.counts.Add(ev)
			}
			se.sink.Emit(ev)
		}
		if err != nil {
			return nil
		}
	}
}

var errHandshake = errors.New("no handshake")

// result turns the session's end into a Result, telling an unreachable
// host from a failed run.
func (se *session) result(runErr, waitErr error, code int, stderr string) Result {
	res := Result{Counts: se.counts}
	msg := strings.TrimSpace(se.stderr.clean(stderr))
	switch {
	case runErr != nil && runErr != errHandshake:
		res.Err = runErr
	case code == exitUntrusted && strings.Contains(msg, refusedPrefix):
		res.Err = fmt.Errorf("%s: the agent's state directory is not safe: %s", se.t.Name, lastLines(msg[strings.LastIndex(msg, refusedPrefix):], 1))
	case !se.started:
		res.Unreachable = true
		switch {
		case strings.Contains(msg, "a password is required") || strings.Contains(msg, "a terminal is required"):
			res.Unreachable = false
			res.Err = fmt.Errorf("sudo on %s wants a password for %s: allow passwordless sudo, log in as root, or use --ask-become-pass", se.t.Name, userOr(se.t.User))
		case code == 255 || msg != "":
			res.Err = fmt.Errorf("ssh: %s", sshMessage(msg))
		default:
			res.Err = fmt.Errorf("ssh exited %d before the agent started", code)
		}
	case code == 255:
		res.Unreachable = true
		res.Err = fmt.Errorf("connection lost: %s", lastLines(msg, 3))
	case code != report.ExitOK && code != report.ExitPending && se.counts.Failed == 0:
		res.Err = fmt.Errorf("agent exited %d: %s", code, lastLines(msg, 5))
	}
	if res.Err == nil && waitErr != nil && code < 0 {
		res.Err = fmt.Errorf("ssh: %v", waitErr)
	}
	return res
}

func userOr(u string) string {
	if u == "" {
		return "the login user"
	}
	return u
}

// sshMessage makes ssh's complaint readable on one line.
func sshMessage(msg string) string {
	if strings.Contains(msg, "REMOTE HOST IDENTIFICATION HAS CHANGED") {
		return "the host key has changed (REMOTE HOST IDENTIFICATION HAS CHANGED), so ssh refused to connect: Host key verification failed; if the change is expected, remove the old key with ssh-keygen -R"
	}
	return strings.TrimPrefix(lastLines(msg, 3), "ssh: ")
}

func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// tailBuffer keeps the last 16 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 16<<10 {
		t.buf = t.buf[len(t.buf)-16<<10:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// Exec runs this provision binary with args on the target as root, over
// the same handshake as Run (the binary is uploaded when missing), and
// returns its stdout and exit code. The error is set when the host could
// not be reached or the binary not started; unreachable says which.
func (s *SSH) Exec(ctx context.Context, t Target, args ...string) (stdout []byte, code int, unreachable bool, err error) {
	cmd, se, err := s.start(t, args...)
	if err != nil {
		return nil, -1, strings.HasPrefix(err.Error(), "start ssh"), err
	}
	stderr := &se.stderr
	stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	defer stop()
	herr := se.handshake()
	se.stdin.Close()
	if herr == nil {
		se.started = true
		stdout, _ = io.ReadAll(io.LimitReader(se.out, MaxExecOutput+1))
		if len(stdout) > MaxExecOutput {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, -1, false, fmt.Errorf("the output of provision %s is longer than %d MiB", strings.Join(args, " "), MaxExecOutput>>20)
		}
	} else {
		cmd.Process.Kill()
	}
	waitErr := cmd.Wait()
	code = cmd.ProcessState.ExitCode()
	if herr != nil {
		res := se.result(herr, waitErr, code, stderr.String())
		return nil, code, res.Unreachable, res.Err
	}
	if code == 255 {
		return stdout, code, true, fmt.Errorf("connection lost: %s", lastLines(stderr.clean(stderr.String()), 3))
	}
	if len(stdout) == 0 && code != 0 {
		return nil, code, false, fmt.Errorf("exit %d: %s", code, lastLines(stderr.clean(stderr.String()), 5))
	}
	return stdout, code, false, nil
}
