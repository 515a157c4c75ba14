//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provision-tool/provision/testhost"
)

// TestDebianRootlessPodman proves the Debian host: the real podman from the
// offline apt repository, and rootless podman for a user logged in by SSH
// (testhosts.md §3 and §4).
func TestDebianRootlessPodman(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	h := testhost.Boot(t, testhost.Debian, testhost.Options{})

	if got := h.SSH(t, ". /etc/os-release; echo $ID $VERSION_ID"); got != "debian 12" {
		t.Fatalf("os-release: %q, want debian 12", got)
	}
	if got := h.SSH(t, "systemd-detect-virt"); got != "systemd-nspawn" {
		t.Errorf("systemd-detect-virt: %q", got)
	}
	h.SSHExpect(t, "root", 1, "dpkg-query -W -f='${Status}' podman 2>/dev/null | grep -q 'install ok installed'")

	start := time.Now()
	h.SSH(t, "DEBIAN_FRONTEND=noninteractive apt-get install -y podman uidmap fuse-overlayfs containers-storage")
	t.Logf("apt-get install from the offline repository: %.2fs", time.Since(start).Seconds())
	for _, p := range []string{"podman", "uidmap", "fuse-overlayfs", "containers-storage", "libpam-systemd", "slirp4netns"} {
		if got := h.SSH(t, "dpkg-query -W -f='${Status}' "+p); got != "install ok installed" {
			t.Errorf("%s: %q after apt-get install", p, got)
		}
	}
	if out := h.SSH(t, "apt-get install -y podman uidmap fuse-overlayfs containers-storage"); !strings.Contains(out, "0 newly installed") {
		t.Errorf("second apt-get install is not a no-op:\n%s", out)
	}

	h.SSH(t, "useradd -m -s /bin/bash carol")
	h.AuthorizeUser(t, "carol")
	uid := h.SSH(t, "id -u carol")
	sub := strings.Split(h.SSH(t, "grep '^carol:' /etc/subuid"), ":")
	if len(sub) != 3 {
		t.Fatalf("carol's /etc/subuid line: %q", sub)
	}

	if got := h.SSHAs(t, "carol", "echo $XDG_RUNTIME_DIR"); got != "/run/user/"+uid {
		t.Errorf("carol's XDG_RUNTIME_DIR over ssh: %q, want /run/user/%s", got, uid)
	}
	if got := h.SSHAs(t, "carol", "podman info --format '{{.Store.GraphDriverName}}'"); got != "overlay" {
		t.Errorf("podman info graph driver: %q, want overlay", got)
	}
	uidMap := h.SSHAs(t, "carol", "podman unshare cat /proc/self/uid_map")
	want := [][]string{{"0", uid, "1"}, {"1", sub[1], sub[2]}}
	lines := strings.Split(uidMap, "\n")
	if len(lines) != len(want) {
		t.Fatalf("podman unshare uid_map:\n%s\nwant %v", uidMap, want)
	}
	for i, l := range lines {
		if f := strings.Fields(l); strings.Join(f, " ") != strings.Join(want[i], " ") {
			t.Errorf("uid_map line %d: %q, want %q", i, l, strings.Join(want[i], " "))
		}
	}

	bb := testhost.BusyboxRootfs(t)
	if err := h.CopyIn(bb, "/home/carol/busybox-rootfs.tar"); err != nil {
		t.Fatal(err)
	}
	h.SSH(t, "chown carol: /home/carol/busybox-rootfs.tar")
	h.SSHAs(t, "carol", `podman import -q --change 'CMD ["/bin/sh"]' ~/busybox-rootfs.tar localhost/bb:latest`)
	out := h.SSHAs(t, "carol", `podman run --rm localhost/bb:latest sh -c 'echo in-container uid=$(id -u)'`)
	if out != "in-container uid=0" {
		t.Errorf("podman run: %q, want in-container uid=0", out)
	}
	h.SSHAs(t, "carol", "podman run --rm --network=none localhost/bb:latest true")

	// Root() is the guest's root filesystem seen from the host.
	b, err := os.ReadFile(filepath.Join(h.Root(), "etc/hostname"))
	if err != nil || strings.TrimSpace(string(b)) != h.Name {
		t.Errorf("Root()/etc/hostname: %q, %v; want %s", b, err, h.Name)
	}
	// The guest's journal is readable for failure reports.
	if j := h.JournalTail(5); strings.Count(j, "\n") < 2 {
		t.Errorf("JournalTail(5): %q", j)
	}

	t.Run("provision binary", func(t *testing.T) {
		root, err := testhost.ModuleRoot()
		if err != nil {
			t.Fatal(err)
		}
		if goFiles, _ := filepath.Glob(filepath.Join(root, "cmd/provision/*.go")); len(goFiles) == 0 {
			t.Skip("cmd/provision has no Go files yet")
		}
		bin := testhost.BuildProvision(t)
		guest := h.InstallProvision(t)
		local, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(local)
		if got := h.SSH(t, "sha256sum "+guest+" | cut -d' ' -f1"); got != hex.EncodeToString(sum[:]) {
			t.Errorf("sha256 of %s in the guest: %s, want %x", guest, got, sum)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, code, err := h.Run(ctx, guest+" --help")
		if err != nil || code == 126 || code == 127 {
			t.Errorf("%s --help: exit %d, %v: %s", guest, code, err, out)
		}
	})
}

// TestFedoraDnf proves the Fedora-like host: os-release says fedora 39, real
// dnf installs podman (Debian's, repackaged) from the local repository with
// what it Requires, and rpm knows it.
func TestFedoraDnf(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	h := testhost.Boot(t, testhost.Fedora, testhost.Options{})

	if got := h.SSH(t, ". /etc/os-release; echo $ID $VERSION_ID"); got != "fedora 39" {
		t.Fatalf("os-release: %q, want fedora 39", got)
	}
	if got := h.SSH(t, "rpm --eval %_dbpath"); got != "/var/lib/rpm" {
		t.Errorf("rpm %%_dbpath: %q", got)
	}
	h.SSH(t, "busctl --no-pager list | grep -q org.freedesktop.systemd1")
	h.SSHExpect(t, "root", 1, "rpm -q podman")
	h.SSH(t, "dnf -y install podman")
	version := strings.TrimPrefix(h.SSH(t, "podman --version"), "podman version ")
	if got := h.SSH(t, "rpm -q podman"); got != "podman-"+version+"-1.fc39.x86_64" {
		t.Errorf("rpm -q podman: %q, want the version podman --version says (%s)", got, version)
	}
	deps := "containers-common containers-common-extra conmon catatonit crun netavark aardvark-dns passt slirp4netns"
	if got := h.SSH(t, "rpm -q --qf '%{NAME}\n' "+deps); got != strings.ReplaceAll(deps, " ", "\n") {
		t.Errorf("podman's dependencies: %q, want %s", got, deps)
	}
	// Every file of every package is what the package says (rpm -V).
	h.SSH(t, "rpm -V "+deps+" podman")
	if out := h.SSH(t, "dnf -y install podman 2>&1"); !strings.Contains(out, "Nothing to do") {
		t.Errorf("second dnf install is not a no-op:\n%s", out)
	}
	h.SSH(t, "dnf -y install shadow-utils fuse-overlayfs")
	h.SSH(t, "rpm -q shadow-utils fuse-overlayfs")
}

// TestYumOnly proves the yum-only variant: no dnf, yum (dnf-3) installs.
func TestYumOnly(t *testing.T) {
	testhost.Require(t)
	t.Parallel()
	h := testhost.Boot(t, testhost.Yum, testhost.Options{})
	h.SSHExpect(t, "root", 1, "command -v dnf")
	h.SSH(t, "yum -y install podman shadow-utils")
	if got := h.SSH(t, "rpm -q --qf '%{NAME}.%{ARCH}\n' podman shadow-utils"); got != "podman.x86_64\nshadow-utils.x86_64" {
		t.Errorf("rpm -q: %q", got)
	}
}

// TestFleet20 boots 20 hosts on one bridge and runs hostname on all of them
// at once.
func TestFleet20(t *testing.T) {
	testhost.Require(t)
	const n = 20
	hosts := testhost.Fleet(t, testhost.Debian, n)
	if len(hosts) != n {
		t.Fatalf("Fleet returned %d hosts, want %d", len(hosts), n)
	}
	start := time.Now()
	var wg sync.WaitGroup
	got := make([]string, n)
	errs := make([]error, n)
	for i, h := range hosts {
		wg.Add(1)
		go func(i int, h *testhost.Host) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, code, err := h.Run(ctx, "hostname; systemctl is-system-running")
			if err == nil && code != 0 {
				err = fmt.Errorf("exit %d", code)
			}
			got[i], errs[i] = strings.Join(strings.Fields(out), " "), err
		}(i, h)
	}
	wg.Wait()
	t.Logf("%d parallel ssh logins: %.2fs", n, time.Since(start).Seconds())
	running := 0
	for i, h := range hosts {
		if errs[i] != nil && got[i] == "" {
			t.Errorf("%s: %v", h.Name, errs[i])
			continue
		}
		if got[i] != h.Name+" running" {
			t.Errorf("%s: hostname and state %q, want %q", h.Name, got[i], h.Name+" running")
			continue
		}
		running++
	}
	t.Logf("%d/%d hosts answered with their name and state running", running, n)
	seen := map[string]bool{}
	for _, h := range hosts {
		if seen[h.IP] {
			t.Errorf("duplicate IP %s", h.IP)
		}
		seen[h.IP] = true
	}
	t.Logf("addresses: %s .. %s", hosts[0].IP, hosts[n-1].IP)
}
