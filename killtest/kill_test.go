package killtest

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binary    string
	binDir    string // removed after the tests
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// build compiles provision once, statically (CGO_ENABLED=0).
func build(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "killtest-bin")
		if err != nil {
			buildErr = err
			return
		}
		binDir, binary = dir, filepath.Join(dir, "provision")
		if pre := os.Getenv("PROVISION_KILL_BINARY"); pre != "" {
			binary = pre // another build to compare with, such as main's
			return
		}
		cmd := exec.Command("go", "build", "-o", binary, "github.com/provision-tool/provision/cmd/provision")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{err: err, out: out}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string {
	return "build provision: " + e.err.Error() + "\n" + string(e.out)
}

// lab is where the trees go: tmpfs when there is one, since the test is
// about kills, not power loss, and fsync on a busy disk would dominate.
func lab(t *testing.T) string {
	t.Helper()
	if dir, err := os.MkdirTemp("/dev/shm", "killtest"); err == nil {
		t.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return t.TempDir()
}

// trials is PROVISION_KILL_TRIALS, 40 by default.
func trials(t *testing.T) int {
	n := 40
	if s := os.Getenv("PROVISION_KILL_TRIALS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("PROVISION_KILL_TRIALS=%q: want a positive number", s)
		}
	}
	return n
}

// run is one provision command on a tree.
type run struct {
	exit   int  // exit code, -1 when killed
	killed bool // ended by our SIGKILL
	events int  // JSON lines seen on stdout
	out    []byte
}

// provision runs `provision VERB --root ROOT --output json PLAYBOOK`,
// killing it after delay (when > 0) or after the killAt-th event (when >
// 0).
func provision(t *testing.T, root, pb, verb string, delay time.Duration, killAt int) run {
	t.Helper()
	cmd := exec.Command(build(t), verb, "--root", root, "--output", "json", pb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	if delay > 0 {
		timer := time.AfterFunc(delay, func() { cmd.Process.Kill() })
		defer timer.Stop()
	}
	var r run
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		r.events++
		r.out = append(append(r.out, sc.Bytes()...), '\n')
		if killAt > 0 && r.events == killAt {
			cmd.Process.Kill()
		}
	}
	err = cmd.Wait()
	r.out = append(r.out, stderr.Bytes()...)
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.exit, r.killed = -1, ws.Signal() == syscall.SIGKILL
		return r
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			r.exit = ee.ExitCode()
			return r
		}
		t.Fatal(err)
	}
	return r
}

// outcome is how one trial ended, for the summary.
type outcome struct {
	timedKilled, eventKilled,
	killed, temps, shadow, intents, owed, ranBefore int
}

func TestKillAnywhere(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the file module chowns to alice")
	}
	base := lab(t)
	pb := filepath.Join(base, "playbook.yml")
	must(t, os.WriteFile(pb, []byte(playbook), 0o644))
	ref := reference(t, base, pb)
	n := trials(t)
	var sum outcome
	c := &checker{t: t, keepGoing: os.Getenv("PROVISION_KILL_KEEP_GOING") == "1", classes: map[string]int{}}
	for i := range n {
		c.trial, c.failed = map[string]bool{}, false
		root := filepath.Join(base, "trial-"+strconv.Itoa(i))
		makeTree(t, root)
		var r run
		if i%2 == 0 {
			r = provision(t, root, pb, "apply", time.Duration(rand.Int64N(int64(ref.took)))+1, 0)
		} else {
			r = provision(t, root, pb, "apply", 0, 1+rand.IntN(ref.events))
		}
		o := trial(c, root, pb, ref, r)
		if r.killed && i%2 == 0 {
			o.timedKilled = 1
		} else if r.killed {
			o.eventKilled = 1
		}
		sum.add(o)
		if c.failed && !c.keepGoing {
			t.Fatalf("trial %d (kill %s): stopping at the first failure", i, killDesc(i, r))
		}
		os.RemoveAll(root)
	}
	t.Logf("%d trials: %d killed mid-run (%d at a random instant, %d after a random event; run %v, %d events); after the kill: %d with temp files, %d with shadow lock/PID files, %d with intents on disk, %d owed handlers (change made, handler not run) all run by the re-run; %d handlers had run before the kill",
		n, sum.killed, sum.timedKilled, sum.eventKilled, ref.took, ref.events, sum.temps, sum.shadow, sum.intents, sum.owed, sum.ranBefore)
	if len(c.classes) > 0 {
		t.Errorf("trials failing, by class: %v", c.classes)
	}
}

func (s *outcome) add(o outcome) {
	s.killed += o.killed
	s.timedKilled += o.timedKilled
	s.eventKilled += o.eventKilled
	s.temps += min(o.temps, 1)
	s.shadow += min(o.shadow, 1)
	s.intents += o.intents
	s.owed += o.owed
	s.ranBefore += o.ranBefore
}

func killDesc(i int, r run) string {
	if i%2 == 0 {
		return "timed, " + strconv.Itoa(r.events) + " events seen"
	}
	return "after event " + strconv.Itoa(r.events)
}
