//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/provision-tool/provision/report"
	"github.com/provision-tool/provision/testhost"
)

// sysctlScript applies examples/sysctl.yml the way an admin would (check,
// apply, apply again, check), on a host of its own: a user, network and
// mount namespace where /proc/sys/user and /proc/sys/net belong to the
// namespaces and /etc/sysctl.d is a fresh tmpfs. The nspawn guests cannot
// do this (their /proc/sys is read-only but for net), and the machine
// running the tests must not change. Each step's JSON goes to $OUT/NAME.json
// and its exit code to $OUT/NAME.rc.
const sysctlScript = `set -u
mount -t tmpfs -o mode=0755 provision-e2e /etc/sysctl.d || exit 90
step() {
	name=$1; shift
	"$BIN" "$@" --output json --state-dir "$OUT/state" --lock-file "$OUT/state/lock" "$BOOK" >"$OUT/$name.json" 2>"$OUT/$name.err"
	echo $? >"$OUT/$name.rc"
}
step check-fresh check
step apply apply
step apply-again apply
step check-converged check
cat /proc/sys/user/max_user_namespaces /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range >"$OUT/values"
cat /etc/sysctl.d/90-provision.conf >"$OUT/conf"
`

// TestSysctlExample: the sysctl example really sets the running kernel's
// values and persists them, converges, and the machine's own values and
// /etc/sysctl.d stay as they were.
func TestSysctlExample(t *testing.T) {
	testhost.Require(t)
	bin := testhost.BuildProvision(t)
	root, err := testhost.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	machine := []string{"/proc/sys/user/max_user_namespaces", "/proc/sys/net/ipv4/ip_unprivileged_port_start", "/proc/sys/net/ipv4/ping_group_range"}
	before := readAll(t, machine...)
	etcBefore, _ := filepath.Glob("/etc/sysctl.d/*")

	out := t.TempDir()
	cmd := exec.Command("/bin/sh", "-c", sysctlScript)
	cmd.Env = append(os.Environ(), "BIN="+bin, "OUT="+out, "BOOK="+filepath.Join(root, "examples", "sysctl.yml"))
	// All IDs mapped to themselves: ping_group_range takes only mapped GIDs.
	all := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET | syscall.CLONE_NEWNS,
		UidMappings: all, GidMappings: all, GidMappingsEnableSetgroups: true,
		Unshareflags: syscall.CLONE_NEWNS,
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("namespaces for the sysctl host: %v\n%s", err, b)
	}

	steps := []struct {
		name            string
		code, changed   int
		pending, failed int
	}{
		{"check-fresh", 2, 0, 3, 0},
		{"apply", 0, 3, 0, 0},
		{"apply-again", 0, 0, 0, 0},
		{"check-converged", 0, 0, 0, 0},
	}
	for _, s := range steps {
		c := stepCounts(t, out, s.name)
		if code := strings.TrimSpace(readAll(t, filepath.Join(out, s.name+".rc"))[0]); code != strconv.Itoa(s.code) || c.Changed != s.changed || c.Pending != s.pending || c.Failed != s.failed {
			t.Errorf("%s: exit %s, counts %+v; want exit %d, changed %d, pending %d\nstderr: %s", s.name, code, *c, s.code, s.changed, s.pending,
				readAll(t, filepath.Join(out, s.name+".err"))[0])
		}
	}
	if got := strings.Fields(strings.Join(readAll(t, filepath.Join(out, "values")), " ")); strings.Join(got, " ") != "28633 80 0 2147483647" {
		t.Errorf("running values in the namespaces: %q", got)
	}
	if got := readAll(t, filepath.Join(out, "conf"))[0]; !strings.Contains(got, "user.max_user_namespaces = 28633\n") || !strings.Contains(got, "net.ipv4.ping_group_range = 0 2147483647\n") {
		t.Errorf("/etc/sysctl.d/90-provision.conf:\n%s", got)
	}
	if after := readAll(t, machine...); strings.Join(after, "|") != strings.Join(before, "|") {
		t.Errorf("the machine's own values changed: %q -> %q", before, after)
	}
	if etcAfter, _ := filepath.Glob("/etc/sysctl.d/*"); strings.Join(etcAfter, " ") != strings.Join(etcBefore, " ") {
		t.Errorf("the machine's /etc/sysctl.d changed: %q -> %q", etcBefore, etcAfter)
	}
}

// stepCounts sums the JSON Lines events of one step.
func stepCounts(t *testing.T, dir, name string) *report.Counts {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	c := &report.Counts{}
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var e report.Event
		if len(line) > 0 && json.Unmarshal(line, &e) == nil && e.Type == report.TaskResult {
			c.Add(e)
		}
	}
	return c
}

func readAll(t *testing.T, paths ...string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}
