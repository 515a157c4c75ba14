package testhost

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// EnvRequired is the environment variable that turns a missing prerequisite
// from a skip into a failure when set to "required" (CI sets it).
const EnvRequired = "PROVISION_E2E"

// tool is a program the harness runs and the Debian package that ships it.
type tool struct {
	name, pkg string
}

// tools are the host programs the harness needs, in the order a person
// installing them would like to read them.
var tools = []tool{
	{"mmdebstrap", "mmdebstrap"},
	{"systemd-nspawn", "systemd-container"},
	{"systemctl", "systemd"},
	{"journalctl", "systemd"},
	{"apt-get", "apt"},
	{"dpkg-scanpackages", "dpkg-dev"},
	{"gzip", "gzip"},
	{"rpmbuild", "rpm"},
	{"rpm", "rpm"},
	{"createrepo_c", "createrepo-c"},
	{"tar", "tar"},
	{"ip", "iproute2"},
	{"unshare", "util-linux"},
	{"chroot", "coreutils"},
	{"ssh", "openssh-client"},
	{"ssh-keygen", "openssh-client"},
}

// busyboxPath is the static busybox the container image of §4 is made of.
const busyboxPath = "/bin/busybox"

// Missing returns what this machine lacks to run the harness, one phrase per
// item ("not root", "mmdebstrap (apt-get install mmdebstrap)"), or nil.
func Missing() []string {
	var miss []string
	if os.Geteuid() != 0 {
		miss = append(miss, "not root")
	}
	var pkgs []string
	for _, tl := range tools {
		if _, err := exec.LookPath(tl.name); err != nil {
			miss = append(miss, tl.name)
			pkgs = appendUnique(pkgs, tl.pkg)
		}
	}
	if _, err := os.Stat(busyboxPath); err != nil {
		miss = append(miss, busyboxPath)
		pkgs = appendUnique(pkgs, "busybox-static")
	}
	if len(pkgs) > 0 {
		miss = append(miss, "install with: apt-get install -y --no-install-recommends "+strings.Join(pkgs, " "))
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		miss = append(miss, "no /sys/fs/cgroup")
	}
	if !hasOverlay() {
		miss = append(miss, "no overlay filesystem in the kernel")
	}
	return miss
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func hasOverlay() bool {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false
	}
	if strings.Contains(string(b), "\toverlay\n") {
		return true
	}
	// The module may simply not be loaded yet; mount(2) loads it on demand.
	_, err = os.Stat("/sys/module/overlay")
	if err == nil {
		return true
	}
	return exec.Command("modprobe", "-n", "overlay").Run() == nil
}

// Required reports whether PROVISION_E2E=required is set.
func Required() bool { return os.Getenv(EnvRequired) == "required" }

// Require skips the test with one line naming what is missing (root, host
// tools, kernel features), or fails it when PROVISION_E2E=required. In -short
// mode it skips unless required.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() && !Required() {
		t.Skip("testhost: skipped in -short mode (real hosts take minutes)")
	}
	miss := Missing()
	if len(miss) == 0 {
		return
	}
	msg := fmt.Sprintf("testhost: cannot make real test hosts: %s", strings.Join(miss, "; "))
	if Required() {
		t.Fatalf("%s (%s=required)", msg, EnvRequired)
		return
	}
	t.Skip(msg)
}

// Skipf skips a test that cannot run on this machine (a missing tool, not
// root), or fails it when PROVISION_E2E=required, where every test must
// run. Tests outside the e2e suite use it too, so that CI never hides a
// test behind a skip.
func Skipf(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (%s=required: this test must run here)", msg, EnvRequired)
		return
	}
	t.Skip(msg)
}
