package doctor

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provision-tool/provision/tasks/taskstest"
)

// A user links the files doctor reads in their home to /etc/shadow: the
// report names each refused path and shows no byte of the secret.
func TestHomeLinksToShadowNotShown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to read as another user; CI runs it as root")
	}
	h := newHost(t)
	h.write("/etc/shadow", "root:$6$SECRETHASH\"=[:19000::::::\n")
	if err := os.Chmod(h.sys.MustPath("/etc/shadow"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.mkdir("/home/alice/.config/containers/systemd", 0o755)
	for _, d := range []string{"/home/alice/.config", "/home/alice/.config/containers"} {
		h.chown(d, 1000)
	}
	links := map[string]string{
		"/home/alice/.config/containers/storage.conf":                       "/etc/shadow",
		"/home/alice/.config/containers/registries.conf":                    "/etc/shadow",
		"/home/alice/.local/share/containers/storage/defaultNetworkBackend": "/etc/shadow",
	}
	for p, target := range links {
		hp := taskstest.HostPath(h.sys, p)
		if err := os.Symlink(target, hp); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(hp, 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	h.setInfo("alice", "host.networkBackend", "cni")
	rep := h.doctor(Options{})
	var out bytes.Buffer
	if err := Render(&out, rep, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "SECRETHASH") {
		t.Fatalf("the report shows /etc/shadow:\n%s", out.String())
	}
	// What podman as alice says of such a file.
	h.infoFail["alice"] = "Error: open /home/alice/.config/containers/storage.conf: permission denied\n"
	rep = h.doctor(Options{})
	out.Reset()
	if err := Render(&out, rep, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "SECRETHASH") {
		t.Fatalf("the report shows /etc/shadow:\n%s", out.String())
	}
	for _, p := range []string{"/home/alice/.config/containers/registries.conf"} {
		if !strings.Contains(out.String(), p+": refused: uid 1000 cannot read it") {
			t.Errorf("the report does not say %s was refused:\n%s", filepath.Base(p), out.String())
		}
	}
}
