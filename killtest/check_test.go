package killtest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/provision-tool/provision/tasks/hostfs"
)

// checker reports failures: as test errors, or with
// PROVISION_KILL_KEEP_GOING=1 (to measure another build) counted by class,
// once per trial.
type checker struct {
	t         *testing.T
	keepGoing bool
	failed    bool
	classes   map[string]int
	trial     map[string]bool
}

func (c *checker) fail(class, format string, args ...any) {
	c.t.Helper()
	c.failed = true
	if !c.keepGoing {
		c.t.Errorf(format, args...)
		return
	}
	if !c.trial[class] {
		c.trial[class] = true
		c.classes[class]++
	}
}

// ref is what a run that is not killed starts from and ends with.
type ref struct {
	init, final map[string][]byte // nil: absent
	took        time.Duration
	events      int
}

var subidFiles = []string{"/etc/subuid", "/etc/subgid"}

func reference(t *testing.T, base, pb string) ref {
	t.Helper()
	init, done := filepath.Join(base, "init"), filepath.Join(base, "final")
	makeTree(t, init)
	var took time.Duration
	var r run
	for i := range 3 { // the shortest of three: the first is cold
		os.RemoveAll(done)
		makeTree(t, done)
		start := time.Now()
		if r = provision(t, done, pb, "apply", 0, 0); r.exit != 0 {
			t.Fatalf("reference run exited %d:\n%s", r.exit, r.out)
		}
		if d := time.Since(start); i == 0 || d < took {
			took = d
		}
	}
	return ref{init: snapshot(init), final: snapshot(done), took: took, events: r.events}
}

func snapshot(root string) map[string][]byte {
	m := map[string][]byte{}
	for _, p := range append(append([]string{}, contentFiles...), subidFiles...) {
		data, err := os.ReadFile(filepath.Join(root, p))
		if err == nil {
			m[p] = data
		}
	}
	return m
}

// trial checks the tree a killed run left, re-runs, and checks the end.
func trial(c *checker, root, pb string, ref ref, r run) outcome {
	t := c.t
	t.Helper()
	var o outcome
	switch {
	case r.killed:
		o.killed = 1
	case r.exit != 0:
		c.fail("run failed", "run ended %d without being killed:\n%s", r.exit, r.out)
	}
	checkFiles(c, root, ref, false)
	o.temps, o.shadow = len(temps(t, root)), len(shadowLocks(t, root))
	state, _ := os.ReadFile(filepath.Join(root, "/var/lib/provision/pending-handlers.json"))
	o.intents = bytes.Count(state, []byte(`"intent": true`))
	made := changesMade(t, root, ref)
	for _, m := range markers {
		ran := exists(filepath.Join(root, "/var/lib/markers", m))
		if ran {
			o.ranBefore++
		} else if made[m] {
			o.owed++
		}
	}
	again := provision(t, root, pb, "apply", 0, 0)
	if again.exit != 0 {
		c.fail("re-run failed", "re-run exited %d:\n%s", again.exit, again.out)
	}
	checkFiles(c, root, ref, true)
	for _, m := range markers {
		if !exists(filepath.Join(root, "/var/lib/markers", m)) {
			c.fail("handler lost", "handler for %s never ran (change made before the kill: %v)", m, made[m])
		}
	}
	if left := append(temps(t, root), shadowLocks(t, root)...); len(left) > 0 {
		c.fail("litter left", "left after the re-run: %v", left)
	}
	if exists(filepath.Join(root, "/var/lib/provision/pending-handlers.json")) {
		c.fail("handler state kept", "pending-handlers.json kept after the re-run")
	}
	if chk := provision(t, root, pb, "check", 0, 0); chk.exit != 0 {
		c.fail("check not converged", "check after the re-run exited %d:\n%s", chk.exit, chk.out)
	}
	return o
}

// checkFiles checks every managed file: whole (old or new content, or
// with final the new), subid files without overlap, and the attributes of
// the file task never wider than both old and new.
func checkFiles(c *checker, root string, ref ref, final bool) {
	t := c.t
	t.Helper()
	for _, p := range contentFiles {
		data, err := os.ReadFile(filepath.Join(root, p))
		got := data
		if err != nil {
			got = nil
		}
		if !bytes.Equal(got, ref.final[p]) && (final || !bytes.Equal(got, ref.init[p])) {
			c.fail("torn file", "%s is neither its old nor its new content (final %v): %q", p, final, got)
		}
	}
	for _, p := range subidFiles {
		data, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			c.fail("subid broken", "%s: %v", p, err)
			continue
		}
		if err := checkSubid(data); err != nil {
			c.fail("subid broken", "%s: %v", p, err)
		}
		if final && !bytes.Equal(data, ref.final[p]) {
			c.fail("subid not converged", "%s differs from the reference run's", p)
		}
	}
	var st syscall.Stat_t
	must(t, syscall.Lstat(filepath.Join(root, "/etc/app/secret"), &st))
	mode := st.Mode & 0o7777
	switch {
	case final && (st.Uid != 1000 || mode != 0o600):
		c.fail("attributes not converged", "/etc/app/secret is %o uid %d after the re-run", mode, st.Uid)
	case st.Uid == 0 && mode&^0o666 != 0, st.Uid == 1000 && mode&^0o600 != 0, st.Uid != 0 && st.Uid != 1000:
		c.fail("attributes wider", "/etc/app/secret passed through %o uid %d, wider than both 0666 root and 0600 alice", mode, st.Uid)
	}
}

// checkSubid parses a subid file and checks that no two ranges overlap
// and no user has two.
func checkSubid(data []byte) error {
	type rng struct {
		owner      string
		start, end uint64
	}
	var rs []rng
	owners := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		f := strings.Split(line, ":")
		if len(f) != 3 {
			return fmt.Errorf("line %d: %q", i+1, line)
		}
		start, err1 := strconv.ParseUint(f[1], 10, 64)
		count, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil || count == 0 || owners[f[0]] {
			return fmt.Errorf("line %d: %q", i+1, line)
		}
		owners[f[0]] = true
		rs = append(rs, rng{f[0], start, start + count})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
	for i := 1; i < len(rs); i++ {
		if rs[i].start < rs[i-1].end {
			return fmt.Errorf("%s and %s overlap", rs[i-1].owner, rs[i].owner)
		}
	}
	return nil
}

// changesMade says, for each marker, whether the change that notifies its
// handler was (at least partly) made.
func changesMade(t *testing.T, root string, ref ref) map[string]bool {
	t.Helper()
	read := func(p string) []byte { data, _ := os.ReadFile(filepath.Join(root, p)); return data }
	differs := func(p string) bool { return !bytes.Equal(read(p), ref.init[p]) }
	made := map[string]bool{
		"copied":     differs("/etc/app/app.conf"),
		"templated":  differs("/etc/app/tpl.conf"),
		"registered": differs("/etc/containers/registries.conf.d/50-provision.conf"),
		"stored":     differs("/etc/containers/storage.conf"),
		"sysctled":   differs("/etc/sysctl.d/90-provision.conf"),
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		made["migrate-"+u] = bytes.Contains(read("/etc/subuid"), []byte("\n"+u+":")) || bytes.Contains(read("/etc/subgid"), []byte("\n"+u+":"))
	}
	var st syscall.Stat_t
	must(t, syscall.Lstat(filepath.Join(root, "/etc/app/secret"), &st))
	made["filed"] = st.Uid != 0 || st.Mode&0o7777 != 0o666
	return made
}

// temps lists provision's temp files anywhere in the tree.
func temps(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && (hostfs.IsTemp(d.Name()) || strings.Contains(d.Name(), ".provision-")) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

var shadowLockRe = regexp.MustCompile(`^sub[ug]id\.([0-9]+|lock)$`)

// shadowLocks lists shadow's lock and PID files in /etc.
func shadowLocks(t *testing.T, root string) []string {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(root, "/etc"))
	var out []string
	for _, e := range entries {
		if shadowLockRe.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
