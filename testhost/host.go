package testhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Options tune one boot.
type Options struct {
	// Fuse binds the host's /dev/fuse into the guest and makes it 0666 (the
	// host node's mode is restored afterwards). Needed only for
	// fuse-overlayfs; native overlay needs nothing.
	Fuse bool
	// NspawnArgs are added to systemd-nspawn's arguments (e.g. "--bind=...").
	NspawnArgs []string
	// BootTimeout bounds the wait for sshd (default 90s).
	BootTimeout time.Duration
	// Prepare runs once the guest's root is mounted and prepared
	// (hostname, keys, network) and before systemd-nspawn starts: a test
	// builds the image there, from outside (Root() is the tree).
	Prepare func(h *Host) error
	// HomeFromImage copies the image's /home into the directory bound on
	// the guest's /home (after Prepare), as a /home partition seeded from
	// the image: users created while building the image keep their homes.
	HomeFromImage bool
}

// Host is one booted guest.
type Host struct {
	// Name is the machine name, hostname and SSH host alias ("debian-1").
	Name string
	// Kind is what was booted.
	Kind Kind
	// IP is the guest's address; the host reaches it directly.
	IP string

	dir     string // host-side directory: root (mount point), home, console.log
	memDir  string // upper and work, on the run's tmpfs
	root    string
	home    string
	cgroups []string
	link    string // veth to configure on the host side ("" on a bridge)
	gw      string // host-side address of that veth
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	console *os.File
	tb      testing.TB

	stopOnce sync.Once
	stopErr  error
}

// Root returns the host-side path of the guest's root filesystem (the
// overlay mount), for byte-for-byte comparisons. The guest's /home is Home(),
// and /tmp and /run are tmpfs inside the guest, invisible here.
func (h *Host) Root() string { return h.root }

// Home returns the host-side directory bound on the guest's /home.
func (h *Host) Home() string { return h.home }

// ConsoleLog returns the path of the guest's console output.
func (h *Host) ConsoleLog() string { return filepath.Join(h.dir, "console.log") }

// Boot boots one host of the given kind and stops it when the test ends.
// It fails the test (with the console log) when sshd does not answer.
func Boot(tb testing.TB, kind Kind, opts Options) *Host {
	tb.Helper()
	p := ready(tb, kind)
	hs.mu.Lock()
	hs.nextNet++
	n := hs.nextNet
	hs.mu.Unlock()
	if n > 250 {
		tb.Fatalf("testhost: more than 250 single hosts in one run")
	}
	name := fmt.Sprintf("%s-%d", kind, n)
	h := &Host{
		Name: name, Kind: kind, IP: fmt.Sprintf("10.77.%d.2", n),
		gw: fmt.Sprintf("10.77.%d.1", n), link: "ve-" + name, tb: tb,
	}
	start := time.Now()
	if err := h.create(p, h.IP+"/24", h.gw, opts, []string{"--network-veth"}); err != nil {
		h.stop()
		tb.Fatalf("testhost: boot %s: %v", name, err)
	}
	tb.Cleanup(func() {
		start := time.Now()
		if err := h.stop(); err != nil {
			tb.Errorf("testhost: stop %s: %v", h.Name, err)
		}
		stage(tb, "stop "+h.Name, start)
	})
	timeout := opts.BootTimeout
	if timeout == 0 {
		timeout = 90 * time.Second
	}
	if err := h.waitBoot(timeout); err != nil {
		tb.Fatalf("testhost: boot %s: %v", name, err)
	}
	stage(tb, fmt.Sprintf("boot %s (overlay+prep+nspawn to sshd)", name), start)
	return h
}

// kindPaths is what booting a kind needs from the cache.
type kindPaths struct {
	kind             Kind
	lower            string
	debRepo, rpmRepo string
}

// ready checks the host tools, sets the run up and prepares the kind's
// image, failing the test when any of it fails.
func ready(tb testing.TB, kind Kind) kindPaths {
	tb.Helper()
	Require(tb)
	if err := setup(tb); err != nil {
		tb.Fatalf("testhost: %v", err)
	}
	p, err := prepareKind(tb, kind)
	if err != nil {
		tb.Fatalf("testhost: %v", err)
	}
	return p
}

func prepareKind(tb logger, kind Kind) (kindPaths, error) {
	tb.Helper()
	p := kindPaths{kind: kind}
	sp, err := spec(kind)
	if err != nil {
		return p, err
	}
	if sp.rpm {
		if p.rpmRepo, err = rpmRepoDir(tb, sp.suite); err != nil {
			return p, err
		}
	}
	if p.lower, err = lowerDir(tb, sp.image); err != nil {
		return p, err
	}
	_, sources, _ := sourcesFile()
	p.debRepo = debRepoOf(sp.image, sources)
	return p, nil
}

// create mounts the overlay, prepares the guest and starts systemd-nspawn in
// the guest's own cgroups. It does not wait for the boot.
func (h *Host) create(p kindPaths, addr, gw string, opts Options, netArgs []string) error {
	hs.mu.Lock()
	h.dir = filepath.Join(hs.runDir, "hosts", h.Name)
	h.memDir = filepath.Join(hs.mem, "hosts", h.Name)
	hs.hosts[h.Name] = h
	err := raiseInotifyLocked(len(hs.hosts))
	hs.mu.Unlock()
	if err != nil {
		return err
	}
	h.root = filepath.Join(h.dir, "root")
	h.home = filepath.Join(h.dir, "home")
	for _, d := range []string{filepath.Join(h.memDir, "upper"), filepath.Join(h.memDir, "work"), h.root, h.home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	o := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", p.lower, filepath.Join(h.memDir, "upper"), filepath.Join(h.memDir, "work"))
	if err := unix.Mount("overlay", h.root, "overlay", 0, o); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", h.root, err)
	}
	if err := h.prep(addr, gw); err != nil {
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	if opts.Prepare != nil {
		if err := opts.Prepare(h); err != nil {
			return fmt.Errorf("build the image (Options.Prepare): %w", err)
		}
	}
	if opts.HomeFromImage {
		if err := run("cp", "-a", filepath.Join(h.root, "home")+"/.", h.home+"/"); err != nil {
			return fmt.Errorf("seed /home from the image: %w", err)
		}
	}
	args := []string{"-b", "-D", h.root, "-M", h.Name, "--register=no", "--keep-unit",
		"--console=read-only", "--system-call-filter=@keyring",
		"--bind=" + h.home + ":/home"}
	args = append(args, netArgs...)
	if p.debRepo != "" {
		args = append(args, "--bind-ro="+p.debRepo+":"+GuestDebRepo)
	}
	if p.rpmRepo != "" {
		args = append(args, "--bind-ro="+p.rpmRepo+":"+GuestRPMRepo)
	}
	if opts.Fuse {
		hs.mu.Lock()
		err := chmodRecorded(hs.cache, "/dev/fuse", 0o666)
		hs.fuse = hs.fuse || err == nil
		hs.mu.Unlock()
		if err != nil {
			return fmt.Errorf("/dev/fuse: %w", err)
		}
		args = append(args, "--bind=/dev/fuse")
	}
	args = append(args, opts.NspawnArgs...)
	return h.launch(args)
}

// prep writes what makes this guest itself: hostname, hosts, keys, network
// and machine-id (testhosts.md §2), then what the kind's table entry adds
// (the yum kind removes dnf).
func (h *Host) prep(addr, gw string) error {
	files := []struct {
		path, content string
		mode          os.FileMode
	}{
		{"etc/hostname", h.Name + "\n", 0o644},
		{"etc/hosts", fmt.Sprintf("127.0.0.1 localhost\n127.0.1.1 %s\n::1 localhost ip6-localhost ip6-loopback\n", h.Name), 0o644},
		{"etc/machine-id", "", 0o444},
		{"etc/systemd/network/10-host0.network", fmt.Sprintf(
			"[Match]\nName=host0\n\n[Network]\nAddress=%s\nGateway=%s\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n", addr, gw), 0o644},
	}
	for _, f := range files {
		if err := writeFile(h.root, f.path, f.content, f.mode); err != nil {
			return err
		}
	}
	pub, err := os.ReadFile(hs.key + ".pub")
	if err != nil {
		return err
	}
	if err := writeFile(h.root, "root/.ssh/authorized_keys", string(pub), 0o600); err != nil {
		return err
	}
	hostKey := filepath.Join(h.root, "etc/ssh/ssh_host_ed25519_key")
	os.Remove(hostKey)
	os.Remove(hostKey + ".pub")
	if err := run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@"+h.Name, "-f", hostKey); err != nil {
		return err
	}
	hk, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		return err
	}
	f := strings.Fields(string(hk))
	if len(f) < 2 {
		return fmt.Errorf("bad host key %s", hk)
	}
	hs.mu.Lock()
	kf, err := os.OpenFile(hs.known, os.O_APPEND|os.O_WRONLY, 0o600)
	if err == nil {
		_, err = fmt.Fprintf(kf, "%s,%s %s %s\n", h.Name, h.IP, f[0], f[1])
		if cerr := kf.Close(); err == nil {
			err = cerr
		}
	}
	hs.mu.Unlock()
	if err != nil {
		return err
	}
	if sp, err := spec(h.Kind); err != nil {
		return err
	} else if sp.prep != nil {
		return sp.prep(h.root)
	}
	return nil
}

// launchScript moves the shell into the guest's cgroups and execs
// systemd-nspawn, so nspawn and its /payload live in provision-e2e/NAME.
const launchScript = `for d in $PE2E_CGROUPS; do echo $$ > "$d/cgroup.procs" || exit 125; done
unset PE2E_CGROUPS
exec systemd-nspawn "$@"`

func (h *Host) launch(args []string) error {
	dirs, err := makeGuestCgroups(h.Name)
	h.cgroups = dirs
	if err != nil {
		return err
	}
	console, err := os.Create(h.ConsoleLog())
	if err != nil {
		return err
	}
	h.console = console
	cmd := exec.Command("/bin/sh", append([]string{"-c", launchScript, "sh"}, args...)...)
	cmd.Env = append(os.Environ(), "PE2E_CGROUPS="+strings.Join(dirs, " "))
	if sp, err := spec(h.Kind); err == nil && sp.unified {
		cmd.Env = append(cmd.Env, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1")
	}
	cmd.Stdout, cmd.Stderr = console, console
	// Own session (no terminal signals); SIGTERM (clean poweroff) if this
	// test binary dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start systemd-nspawn: %w", err)
	}
	h.cmd = cmd
	h.done = make(chan struct{})
	go func() {
		h.waitErr = cmd.Wait()
		close(h.done)
	}()
	return nil
}

// exited reports whether nspawn has exited.
func (h *Host) exited() bool {
	if h.done == nil {
		return true
	}
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// waitBoot configures the host side of the veth and waits until sshd
// answers and systemd has finished booting.
func (h *Host) waitBoot(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if h.link != "" {
		for !fileExists("/sys/class/net/" + h.link) {
			if h.exited() {
				return h.bootError("systemd-nspawn exited before creating " + h.link)
			}
			if time.Now().After(deadline) {
				return h.bootError("no " + h.link + " after " + timeout.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := run("ip", "addr", "add", h.gw+"/24", "dev", h.link); err != nil {
			return err
		}
		if err := run("ip", "link", "set", h.link, "up"); err != nil {
			return err
		}
	}
	for {
		if h.exited() {
			return h.bootError("systemd-nspawn exited during boot")
		}
		if time.Now().After(deadline) {
			return h.bootError(fmt.Sprintf("sshd on %s:22 not reachable after %s", h.IP, timeout))
		}
		c, err := net.DialTimeout("tcp", h.IP+":22", 300*time.Millisecond)
		if err == nil {
			c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			_, code, err := h.Run(ctx, "true")
			cancel()
			if err == nil && code == 0 {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(30*time.Second))
	defer cancel()
	out, _, err := h.Run(ctx, "systemctl is-system-running --wait")
	if err != nil {
		return h.bootError("systemctl is-system-running: " + err.Error())
	}
	if state := strings.TrimSpace(out); state != "running" {
		failed, _, _ := h.Run(ctx, "systemctl --failed --no-legend --plain")
		h.tb.Logf("testhost: %s: system state %q; failed units:\n%s", h.Name, state, failed)
	}
	return nil
}

func (h *Host) bootError(msg string) error {
	b, _ := os.ReadFile(h.ConsoleLog())
	return fmt.Errorf("%s\n--- console of %s (last 40 lines, %s)\n%s", msg, h.Name, h.ConsoleLog(), tail(string(b), 40))
}

// stop powers the guest off (SIGTERM to nspawn, SIGKILL to its cgroups after
// 20s), unmounts the overlay, removes the cgroups and the veth, and deletes
// the host's directory. It runs once.
func (h *Host) stop() error {
	h.stopOnce.Do(func() { h.stopErr = h.doStop() })
	return h.stopErr
}

func (h *Host) doStop() error {
	var errs []error
	if h.cmd != nil && h.cmd.Process != nil && !h.exited() {
		h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.done:
		case <-time.After(20 * time.Second):
			errs = append(errs, fmt.Errorf("%s: systemd-nspawn pid %d ignored SIGTERM for 20s; killing", h.Name, h.cmd.Process.Pid))
			h.cmd.Process.Kill()
		}
	}
	if len(h.cgroups) > 0 {
		if err := killCgroups(h.cgroups, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if h.done != nil {
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			errs = append(errs, fmt.Errorf("%s: systemd-nspawn pid %d did not exit", h.Name, h.cmd.Process.Pid))
		}
	}
	if h.console != nil {
		h.console.Close()
	}
	if len(h.cgroups) > 0 {
		if err := removeCgroups(h.cgroups); err != nil {
			errs = append(errs, err)
		}
		for _, d := range h.cgroups {
			os.Remove(filepath.Dir(d)) // provision-e2e itself, once the last guest is gone
		}
	}
	if h.link != "" {
		if err := deleteLink(h.link); err != nil {
			errs = append(errs, err)
		}
	}
	if h.root != "" {
		if mounts, err := mountsUnder(h.dir); err != nil {
			errs = append(errs, err)
		} else {
			for _, mp := range mounts {
				if err := unmount(mp); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if h.dir != "" && len(errs) == 0 {
		if err := removeTree(h.dir); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(h.memDir); err != nil {
			errs = append(errs, err)
		}
	}
	hs.mu.Lock()
	delete(hs.hosts, h.Name)
	last := len(hs.hosts) == 0
	hs.mu.Unlock()
	if last {
		if err := restoreIfIdle(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Result is what one command on a guest did.
type Result struct {
	Host, User, Cmd string
	Stdout, Stderr  string
	Code            int
	Duration        time.Duration
}

// Output returns stdout followed by stderr.
func (r Result) Output() string { return r.Stdout + r.Stderr }

// sshArgs returns the ssh client arguments for user on this host: the run's
// key, the run's known_hosts (pinned host key, accept-new for anything else),
// no user ssh_config.
func (h *Host) sshArgs(user string) []string {
	return []string{"-F", "/dev/null", "-i", hs.key,
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=accept-new",
		"-o", "UserKnownHostsFile=" + hs.known, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
		"-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=6",
		"-l", user, h.IP}
}

// SSHCommand returns the argv of an ssh client logging in to this host as
// user, without a remote command, for tests that drive ssh themselves.
func (h *Host) SSHCommand(user string) []string {
	return append([]string{"ssh"}, h.sshArgs(user)...)
}

// SSHConfig returns a ssh_config(5) stanza for this host (Host NAME with its
// address, user root, the run's key and known_hosts), for tools such as
// provision's SSH transport.
func (h *Host) SSHConfig() string {
	return fmt.Sprintf("Host %s\n  HostName %s\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n  BatchMode yes\n  UserKnownHostsFile %s\n  StrictHostKeyChecking accept-new\n  LogLevel ERROR\n",
		h.Name, h.IP, hs.key, hs.known)
}

// Exec runs a shell command line on the guest as user, over ssh, with stdin
// (nil for none). The error is non-nil only when ssh itself failed (could
// not connect: exit 255) or ctx ended; a command's own non-zero exit is in
// Result.Code.
func (h *Host) Exec(ctx context.Context, user, cmdline string, stdin io.Reader) (Result, error) {
	r, err := h.exec(ctx, user, cmdline, stdin, false)
	return r, err
}

func (h *Host) exec(ctx context.Context, user, cmdline string, stdin io.Reader, combined bool) (Result, error) {
	args := append(h.sshArgs(user), "--", cmdline)
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	if combined {
		cmd.Stderr = &out
	} else {
		cmd.Stderr = &errb
	}
	start := time.Now()
	err := cmd.Run()
	r := Result{Host: h.Name, User: user, Cmd: cmdline, Stdout: out.String(), Stderr: errb.String(), Duration: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		r.Code = -1
		return r, fmt.Errorf("ssh %s@%s %q: %w", user, h.Name, cmdline, ctx.Err())
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
		if r.Code == 255 {
			return r, fmt.Errorf("ssh %s@%s %q: exit 255 (connection failed?): %s", user, h.Name, cmdline, strings.TrimSpace(r.Output()))
		}
	default:
		r.Code = -1
		return r, fmt.Errorf("ssh %s@%s: %w", user, h.Name, err)
	}
	return r, nil
}

// Run runs a shell command line on the guest as root and returns its
// combined output and exit code; err is as for Exec.
func (h *Host) Run(ctx context.Context, cmdline string) (string, int, error) {
	r, err := h.exec(ctx, "root", cmdline, nil, true)
	return r.Stdout, r.Code, err
}

// RunAs is Run as another user (who must have the run's key; see
// AuthorizeUser).
func (h *Host) RunAs(ctx context.Context, user, cmdline string) (string, int, error) {
	r, err := h.exec(ctx, user, cmdline, nil, true)
	return r.Stdout, r.Code, err
}

// SSH runs args (joined by spaces into one remote shell command line, as ssh
// does) as root, fails the test unless it exits 0, and returns its stdout
// with surrounding white space trimmed. The command and its time are logged.
func (h *Host) SSH(tb testing.TB, args ...string) string {
	tb.Helper()
	return strings.TrimSpace(h.SSHExpect(tb, "root", 0, args...).Stdout)
}

// SSHAs is SSH as user.
func (h *Host) SSHAs(tb testing.TB, user string, args ...string) string {
	tb.Helper()
	return strings.TrimSpace(h.SSHExpect(tb, user, 0, args...).Stdout)
}

// SSHExpect runs args as user and fails the test unless the exit code is
// want; a failure prints the host, command, output and the journal tail.
func (h *Host) SSHExpect(tb testing.TB, user string, want int, args ...string) Result {
	tb.Helper()
	cmdline := strings.Join(args, " ")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r, err := h.exec(ctx, user, cmdline, nil, false)
	tb.Logf("testhost: %s@%s$ %s  (exit %d, %.2fs)", user, h.Name, cmdline, r.Code, r.Duration.Seconds())
	if err != nil || r.Code != want {
		tb.Fatalf("%s", h.Failure(r, fmt.Sprintf("want exit %d", want), err))
	}
	return r
}

// Failure formats a failed command for a test log: host, user, command,
// exit code, stdout, stderr and the guest's journal tail.
func (h *Host) Failure(r Result, why string, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "testhost: on %s (%s, %s) as %s: %s\n", h.Name, h.Kind, h.IP, r.User, r.Cmd)
	fmt.Fprintf(&b, "exit %d, %s", r.Code, why)
	if err != nil {
		fmt.Fprintf(&b, ": %v", err)
	}
	fmt.Fprintf(&b, "\n--- stdout\n%s\n--- stderr\n%s\n--- journal of %s (last 40 lines)\n%s", strings.TrimRight(r.Stdout, "\n"), strings.TrimRight(r.Stderr, "\n"), h.Name, h.JournalTail(40))
	return b.String()
}

// JournalTail returns the last n lines of the guest's journal, without the
// noise of SSH logins (sshd, logind, session scopes, which the harness's own
// commands cause): over ssh when the guest answers, else read from its
// persistent journal on the host side, else the console log.
func (h *Host) JournalTail(n int) string {
	// Ask for more than n: the filter drops the harness's own logins.
	query := fmt.Sprint(n*4 + 100)
	if !h.exited() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		out, code, err := h.Run(ctx, "journalctl --no-pager -q -n "+query)
		cancel()
		if err == nil && code == 0 {
			return filterJournal(out, n)
		}
	}
	if h.root != "" {
		out, err := exec.Command("journalctl", "--no-pager", "-q", "-n", query, "-D", filepath.Join(h.root, "var/log/journal")).Output()
		if err == nil && len(bytes.TrimSpace(out)) > 0 {
			return filterJournal(string(out), n)
		}
	}
	b, _ := os.ReadFile(h.ConsoleLog())
	return "(no journal; console log)\n" + tail(string(b), n)
}

// journalNoise marks journal lines caused by the harness's SSH logins.
var journalNoise = []string{" sshd[", " systemd-logind[", "session-", "User Manager for UID", "user@0.service", "user-runtime-dir@0.service", "User Runtime Directory /run/user/0", "user-0.slice", "User Slice of UID 0"}

func filterJournal(out string, n int) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		noisy := false
		for _, m := range journalNoise {
			if strings.Contains(l, m) {
				noisy = true
				break
			}
		}
		if !noisy {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "\n")
}

// hostPath maps a guest path to where the host can write it, or "" when it
// lives on a guest tmpfs (/tmp, /run, /dev/shm) and must go over ssh.
func (h *Host) hostPath(guest string) (string, error) {
	if !filepath.IsAbs(guest) {
		return "", fmt.Errorf("guest path %q is not absolute", guest)
	}
	g := filepath.Clean(guest)
	for _, tmpfs := range []string{"/tmp", "/run", "/dev", "/proc", "/sys"} {
		if g == tmpfs || strings.HasPrefix(g, tmpfs+"/") {
			return "", nil
		}
	}
	if g == "/home" || strings.HasPrefix(g, "/home/") {
		return filepath.Join(h.home, strings.TrimPrefix(g, "/home")), nil
	}
	return filepath.Join(h.root, g), nil
}

// WriteFile writes data to a guest path with mode, owned by root; missing
// parent directories are created (0755). Paths on the overlay or /home are
// written from the host side, paths on guest tmpfs over ssh.
func (h *Host) WriteFile(guest string, data []byte, mode os.FileMode) error {
	hp, err := h.hostPath(guest)
	if err != nil {
		return err
	}
	if hp != "" {
		if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
			return err
		}
		tmp := hp + ".testhost-tmp"
		if err := os.WriteFile(tmp, data, mode); err != nil {
			return err
		}
		if err := os.Chmod(tmp, mode); err != nil {
			return err
		}
		return os.Rename(tmp, hp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	q := shellQuote(guest)
	r, err := h.Exec(ctx, "root", fmt.Sprintf("mkdir -p \"$(dirname %s)\" && cat > %s && chmod %o %s", q, q, mode.Perm(), q), bytes.NewReader(data))
	if err != nil {
		return err
	}
	if r.Code != 0 {
		return fmt.Errorf("write %s on %s: exit %d: %s", guest, h.Name, r.Code, r.Output())
	}
	return nil
}

// CopyIn copies a local file to a guest path, keeping its mode.
func (h *Host) CopyIn(local, guest string) error {
	fi, err := os.Stat(local)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(local)
	if err != nil {
		return err
	}
	return h.WriteFile(guest, b, fi.Mode().Perm())
}

// AuthorizeUser lets the run's key log in as user (who must exist), so that
// SSHAs and RunAs work and the session is a real login (logind, XDG_RUNTIME_DIR).
func (h *Host) AuthorizeUser(tb testing.TB, user string) {
	tb.Helper()
	if strings.HasPrefix(user, "-") || strings.ContainsAny(user, " '\"$;&|/\\") {
		tb.Fatalf("testhost: bad user name %q", user)
	}
	h.SSH(tb, fmt.Sprintf(`d=$(getent passwd %[1]s | cut -d: -f6) && install -d -m 700 -o %[1]s -g $(id -g %[1]s) "$d/.ssh" && install -m 600 -o %[1]s -g $(id -g %[1]s) /root/.ssh/authorized_keys "$d/.ssh/authorized_keys"`, user))
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ImageTree mounts a fresh overlay of kind's cached rootfs, not booted,
// and returns its path: a tree to build an image in from outside. It is
// unmounted when the test ends.
func ImageTree(tb testing.TB, kind Kind) string {
	tb.Helper()
	p := ready(tb, kind)
	dir, err := os.MkdirTemp(hs.mem, "tree-")
	if err != nil {
		tb.Fatalf("testhost: %v", err)
	}
	root := filepath.Join(dir, "root")
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			tb.Fatalf("testhost: %v", err)
		}
	}
	o := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", p.lower, filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := unix.Mount("overlay", root, "overlay", 0, o); err != nil {
		tb.Fatalf("testhost: mount overlay on %s: %v", root, err)
	}
	tb.Cleanup(func() {
		if err := unmount(root); err != nil {
			tb.Errorf("testhost: %v", err)
		}
		if err := os.RemoveAll(dir); err != nil {
			tb.Errorf("testhost: remove %s: %v", dir, err)
		}
	})
	return root
}
