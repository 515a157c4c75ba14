package testhost

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// EnvCache names the cache directory; DefaultCache is used when it is unset.
const (
	EnvCache     = "PROVISION_E2E_CACHE"
	DefaultCache = "/var/cache/provision-e2e"
)

// CacheDir returns the harness's cache directory.
func CacheDir() string {
	if d := os.Getenv(EnvCache); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			return abs
		}
		return d
	}
	return DefaultCache
}

// harness is the process-wide state: one per test binary.
type harness struct {
	mu      sync.Mutex
	ready   bool
	err     error
	cache   string
	runDir  string
	mem     string // tmpfs for lowerdirs and upperdirs
	lock    *os.File
	key     string // client private key
	known   string // known_hosts
	hosts   map[string]*Host
	bridges map[string]bool
	nextNet int // veth subnets 10.77.N.0/24
	nextFl  int // fleet subnets 10.78.N.0/24
	lowers  map[string]*onceResult
	repos   map[string]*onceResult
	other   map[string]*onceResult
	timings []timing
	sigStop chan struct{}
	raised  bool // inotify limits raised by us
	fuse    bool // /dev/fuse mode changed by us
}

type timing struct {
	stage string
	d     time.Duration
}

type onceResult struct {
	once sync.Once
	val  string
	err  error
}

var hs = &harness{
	hosts:   map[string]*Host{},
	bridges: map[string]bool{},
	lowers:  map[string]*onceResult{},
	repos:   map[string]*onceResult{},
	other:   map[string]*onceResult{},
}

// do runs f once per key of m and remembers its result.
func (h *harness) do(m map[string]*onceResult, key string, f func() (string, error)) (string, error) {
	h.mu.Lock()
	o := m[key]
	if o == nil {
		o = new(onceResult)
		m[key] = o
	}
	h.mu.Unlock()
	o.once.Do(func() { o.val, o.err = f() })
	return o.val, o.err
}

// logger is the part of testing.TB the cache builders use; stderrLogger
// serves builds started by Main in the background.
type logger interface {
	Helper()
	Logf(format string, args ...any)
}

type stderrLogger struct{}

func (stderrLogger) Helper() {}
func (stderrLogger) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

// stage records and prints the wall time of one stage.
func stage(tb logger, name string, start time.Time) {
	d := time.Since(start)
	hs.mu.Lock()
	hs.timings = append(hs.timings, timing{name, d})
	hs.mu.Unlock()
	if tb == nil {
		tb = stderrLogger{}
	}
	tb.Helper()
	tb.Logf("testhost: %-40s %7.2fs", name, d.Seconds())
}

// setup prepares the run once per process: takes the cache lock (waiting for
// another run), removes what a killed run left behind, makes the run
// directory and the client key, and installs the signal handler.
func setup(tb logger) error {
	tb.Helper()
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.ready || hs.err != nil {
		return hs.err
	}
	hs.err = hs.setupLocked(tb)
	hs.ready = hs.err == nil
	return hs.err
}

func (h *harness) setupLocked(tb logger) error {
	start := time.Now()
	h.cache = CacheDir()
	if err := os.MkdirAll(h.cache, 0o755); err != nil {
		return err
	}
	if h.lock == nil {
		lock, err := os.OpenFile(filepath.Join(h.cache, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return err
		}
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			tb.Logf("testhost: waiting for another e2e run to release %s", lock.Name())
			if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
				lock.Close()
				return fmt.Errorf("lock %s: %w", lock.Name(), err)
			}
		}
		h.lock = lock
		lock.Truncate(0)
		fmt.Fprintf(lock, "%d\n", os.Getpid())
	}
	if err := h.cleanupStaleLocked(tb.Logf); err != nil {
		return fmt.Errorf("clean up an earlier run: %w", err)
	}
	h.runDir = filepath.Join(h.cache, "run", fmt.Sprintf("%s-%d", time.Now().Format("20060102-150405"), os.Getpid()))
	if err := os.MkdirAll(filepath.Join(h.runDir, "ssh"), 0o700); err != nil {
		return err
	}
	// Lowerdirs and upperdirs live on a tmpfs: unpacking the rootfs there
	// takes 0.3s instead of 8s on this VM's ext4, and dpkg's fsyncs are free.
	// /home stays on disk (podman's native overlay storage needs a real fs).
	h.mem = filepath.Join(h.runDir, "mem")
	if err := os.MkdirAll(h.mem, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", h.mem, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", h.mem, err)
	}
	h.key = filepath.Join(h.runDir, "ssh", "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "provision-e2e", "-f", h.key).CombinedOutput(); err != nil {
		return fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	h.known = filepath.Join(h.runDir, "ssh", "known_hosts")
	if err := os.WriteFile(h.known, nil, 0o600); err != nil {
		return err
	}
	h.sigStop = make(chan struct{})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "testhost: %v: stopping all test hosts\n", s)
			for _, err := range teardownAll() {
				fmt.Fprintf(os.Stderr, "testhost: cleanup: %v\n", err)
			}
			os.Exit(1)
		case <-h.sigStop:
			signal.Stop(sigs)
		}
	}()
	tb.Logf("testhost: run directory %s (setup %.2fs)", h.runDir, time.Since(start).Seconds())
	return nil
}

// Main runs the tests of a package that uses the harness, then stops every
// host still running, removes this run's directory, restores host settings,
// checks that nothing is left behind (Leftovers), prints the per-stage
// timings and releases the cache lock. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(testhost.Main(m, testhost.Debian, testhost.Fedora)) }
//
// The kinds given are prepared in the background while the tests start (in
// parallel with each other), so that a cold cache builds the Debian and the
// Fedora-like rootfs at the same time instead of one after the other. With
// no kinds, everything is built on first use.
//
// When the test binary has a -test.timeout, Main stops every host 30s before
// it: the timeout panics without running t.Cleanup (systemd-nspawn would
// still get SIGTERM through its parent-death signal, but mounts would stay
// until the next run's CleanupStale).
func Main(m *testing.M, warm ...Kind) int {
	start := time.Now()
	flag.Parse()
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil && d > 2*time.Minute {
			timer := time.AfterFunc(d-30*time.Second, func() {
				fmt.Fprintf(os.Stderr, "testhost: the test binary times out in 30s (-test.timeout %v): stopping all test hosts\n", d)
				for _, err := range teardownAll() {
					fmt.Fprintf(os.Stderr, "testhost: cleanup: %v\n", err)
				}
			})
			defer timer.Stop()
		}
	}
	var warming sync.WaitGroup
	if len(warm) > 0 && len(Missing()) == 0 && (!testing.Short() || Required()) {
		warming.Add(1)
		go func() {
			defer warming.Done()
			if err := setup(stderrLogger{}); err != nil {
				return // the tests report it
			}
			fams := map[string]Kind{}
			for _, k := range warm {
				if sp, err := spec(k); err == nil {
					fams[sp.image] = k
				}
			}
			for _, k := range fams {
				warming.Add(1)
				go func(k Kind) {
					defer warming.Done()
					prepareKind(stderrLogger{}, k) // errors are cached and reported by Boot
				}(k)
			}
		}()
	}
	code := m.Run()
	warming.Wait()
	errs := teardownAll()
	for _, err := range errs {
		fmt.Fprintf(os.Stderr, "testhost: cleanup: %v\n", err)
	}
	hs.mu.Lock()
	if hs.cache != "" {
		for _, l := range Leftovers() {
			errs = append(errs, fmt.Errorf("left behind: %s", l))
			fmt.Fprintf(os.Stderr, "testhost: left behind: %s\n", l)
		}
	}
	if len(errs) > 0 && code == 0 {
		code = 1
	}
	if len(hs.timings) > 0 {
		fmt.Fprintf(os.Stderr, "testhost: timings (wall):\n")
		for _, tm := range hs.timings {
			fmt.Fprintf(os.Stderr, "  %-44s %7.2fs\n", tm.stage, tm.d.Seconds())
		}
		fmt.Fprintf(os.Stderr, "  %-44s %7.2fs\n", "total (tests and cleanup)", time.Since(start).Seconds())
	}
	if hs.sigStop != nil {
		close(hs.sigStop)
		hs.sigStop = nil
	}
	if hs.lock != nil {
		hs.lock.Close()
		hs.lock = nil
	}
	hs.mu.Unlock()
	return code
}

// teardownAll stops every live host, removes bridges, restores sysctls and
// /dev/fuse and deletes this run's directory. It is safe to call twice.
func teardownAll() []error {
	hs.mu.Lock()
	var live []*Host
	for _, h := range hs.hosts {
		live = append(live, h)
	}
	hs.mu.Unlock()
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range live {
		wg.Add(1)
		go func(h *Host) {
			defer wg.Done()
			if err := h.stop(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(h)
	}
	wg.Wait()
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for br := range hs.bridges {
		if err := deleteLink(br); err != nil {
			errs = append(errs, err)
		}
		delete(hs.bridges, br)
	}
	if err := restoreSettings(hs.cache); err != nil {
		errs = append(errs, err)
	}
	hs.raised, hs.fuse = false, false
	if hs.runDir != "" {
		start := time.Now()
		if err := unmount(hs.mem); err != nil {
			errs = append(errs, err)
		}
		if err := removeTree(hs.runDir); err != nil {
			errs = append(errs, err)
		} else {
			hs.timings = append(hs.timings, timing{"remove run directory", time.Since(start)})
		}
		hs.runDir = ""
		hs.ready = false
		// Caches (lowerdirs, built binaries) pointed into the run directory.
		hs.err = errors.New("the harness has been torn down (end of Main, timeout or interrupt)")
	}
	return errs
}

// removeTree deletes dir unless something is still mounted under it: a
// RemoveAll through a live overlay would delete the cached lowerdir.
func removeTree(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("not removing %s: still mounted: %s", dir, strings.Join(mounts, ", "))
	}
	return os.RemoveAll(dir)
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return parseMountsUnder(string(b), dir), nil
}

// parseMountsUnder picks from mountinfo text the mount points at or below
// dir, deepest first.
func parseMountsUnder(mountinfo, dir string) []string {
	dir = filepath.Clean(dir)
	var out []string
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMount undoes the octal escapes of /proc/self/mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmount detaches a mount point, retrying while it is busy and falling back
// to a lazy unmount.
func unmount(mp string) error {
	var err error
	for i := 0; i < 20; i++ {
		err = unix.Unmount(mp, 0)
		if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err2 := unix.Unmount(mp, unix.MNT_DETACH); err2 != nil {
		return fmt.Errorf("umount %s: %v (lazy: %v)", mp, err, err2)
	}
	return nil
}

// run runs a host command and returns its combined output in the error.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
