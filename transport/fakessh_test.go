package transport_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/provision-tool/provision/transport"
	"github.com/provision-tool/provision/transport/transporttest"
)

// The fake ssh runs the remote command with /bin/sh on this machine, with
// a fake id (non-root unless FAKE_UID says otherwise) and a fake sudo on
// PATH. The fake sudo prints its -p prompt on stderr and reads a password
// line until it gets FAKE_SUDO_PASSWORD, or asks nothing with
// FAKE_SUDO_NOPASSWD; it records what it read in FAKE_SUDO_READ and runs
// the command with FAKE_UID set to the real uid (standing for root). The
// fake agent keeps the first lines of its stdin in FAKE_AGENT_IN, and its
// own path in FAKE_AGENT_IN.path.
const (
	fakeSSH = `#!/bin/sh
for a; do last=$a; done
PATH=$FAKE_BIN:$PATH exec /bin/sh -c "$last"
`
	fakeID = `#!/bin/sh
echo "${FAKE_UID:-1000}"
`
	fakeSudo = `#!/bin/sh
ask=; prompt=
while [ $# -gt 0 ]; do
	case $1 in -S) ask=1;; -p) prompt=$2; shift;; --) shift; break;; esac
	shift
done
if [ -n "$ask" ] && [ -z "${FAKE_SUDO_NOPASSWD:-}" ]; then
	while :; do
		printf '%s' "$prompt" >&2
		IFS= read -r pw || exit 1
		printf '%s\n' "$pw" >> "$FAKE_SUDO_READ"
		[ "$pw" = "$FAKE_SUDO_PASSWORD" ] && break
	done
fi
FAKE_UID=$REAL_UID exec "$@"
`
	fakeAgent = `#!/bin/sh
echo "$0" > "$FAKE_AGENT_IN.path"
head -n "${FAKE_AGENT_LINES:-1}" > "$FAKE_AGENT_IN"
`
)

const password = "s3cret-become-Pa55"

type fakeHost struct {
	dir, state string
	ssh        *transport.SSH
}

func newFakeHost(t *testing.T) *fakeHost {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "ssh"), fakeSSH)
	write(filepath.Join(bin, "id"), fakeID)
	write(filepath.Join(bin, "sudo"), fakeSudo)
	write(filepath.Join(dir, "agent"), fakeAgent)
	t.Setenv("FAKE_BIN", bin)
	t.Setenv("REAL_UID", strconv.Itoa(os.Getuid()))
	t.Setenv("FAKE_SUDO_PASSWORD", password)
	t.Setenv("FAKE_SUDO_READ", filepath.Join(dir, "sudo-read"))
	t.Setenv("FAKE_AGENT_IN", filepath.Join(dir, "agent-in"))
	t.Setenv("FAKE_SUDO_NOPASSWD", "")
	t.Setenv("FAKE_UID", "")
	h := &fakeHost{dir: dir, state: filepath.Join(dir, "state")}
	h.ssh = &transport.SSH{Command: filepath.Join(dir, "ssh"), Binaries: &transport.Binaries{Self: filepath.Join(dir, "agent")},
		StateDir: h.state}
	return h
}

func (h *fakeHost) run(ctx context.Context, pass string) transport.Result {
	return h.ssh.Run(ctx, transport.Target{Name: "fake", BecomePassword: pass}, &transport.Job{}, &transporttest.Recorder{})
}

func (h *fakeHost) read(name string) string {
	b, _ := os.ReadFile(filepath.Join(h.dir, name))
	return string(b)
}

func TestBecomePasswordGoesOnlyToSudosPrompt(t *testing.T) {
	for _, tc := range []struct {
		name, nopasswd, uid string
		sudoRead            string
	}{
		{name: "sudo asks", sudoRead: password + "\n"},
		{name: "sudo does not ask", nopasswd: "1"},
		{name: "login as root", uid: strconv.Itoa(os.Getuid())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost(t)
			t.Setenv("FAKE_SUDO_NOPASSWD", tc.nopasswd)
			t.Setenv("FAKE_UID", tc.uid)
			res := h.run(t.Context(), password)
			if res.Err != nil {
				t.Fatalf("run: %v", res.Err)
			}
			if got := h.read("sudo-read"); got != tc.sudoRead {
				t.Errorf("sudo read %q, want %q", got, tc.sudoRead)
			}
			if in := h.read("agent-in"); strings.Contains(in, password) || !strings.HasPrefix(in, "{") {
				t.Errorf("the agent got %q, want the bundle and no password", in)
			}
		})
	}
}

func TestWrongBecomePasswordIsSentOnce(t *testing.T) {
	h := newFakeHost(t)
	t.Setenv("FAKE_SUDO_PASSWORD", "another")
	res := h.run(t.Context(), password)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "did not accept the become password") || strings.Contains(res.Err.Error(), password) {
		t.Fatalf("want the password refused, got %+v", res)
	}
	if got := h.read("sudo-read"); got != password+"\n" {
		t.Errorf("sudo read %q, want the password once", got)
	}
}

func TestStopIsSentAfterTheBundle(t *testing.T) {
	h := newFakeHost(t)
	t.Setenv("FAKE_AGENT_LINES", "2")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res := h.run(ctx, "")
	if res.Err != nil {
		t.Fatalf("run: %v", res.Err)
	}
	lines := strings.Split(h.read("agent-in"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "{") || lines[1] != "stop" {
		t.Fatalf("the agent got %q, want the bundle, then stop", lines)
	}
}

func TestBootstrapRefusesAStateDirOthersCanWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(h *fakeHost)
	}{
		{"bin dir world-writable", func(h *fakeHost) { os.MkdirAll(h.state+"/bin", 0o755); os.Chmod(h.state+"/bin", 0o777) }},
		{"state dir group-writable", func(h *fakeHost) { os.MkdirAll(h.state+"/bin", 0o755); os.Chmod(h.state, 0o775) }},
		{"parent writable", func(h *fakeHost) { os.Chmod(h.dir, 0o777) }},
		{"bin dir owned by someone else", func(h *fakeHost) { os.MkdirAll(h.state+"/bin", 0o755); os.Chown(h.state+"/bin", 4242, 4242) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost(t)
			tc.setup(h)
			if tc.name == "bin dir owned by someone else" && os.Getuid() != 0 {
				t.Skip("needs root to chown")
			}
			res := h.run(t.Context(), "")
			if res.Err == nil || !strings.Contains(res.Err.Error(), "state directory is not safe") {
				t.Fatalf("want a refusal, got %+v", res)
			}
			if h.read("agent-in") != "" {
				t.Errorf("the agent ran")
			}
		})
	}
}

func TestBootstrapRunsAVerifiedPrivateCopy(t *testing.T) {
	h := newFakeHost(t)
	if res := h.run(t.Context(), ""); res.Err != nil {
		t.Fatalf("first run: %v", res.Err)
	}
	// A tampered installed binary is not run: the copy fails its hash, and
	// the controller uploads the right one again.
	m, _ := filepath.Glob(h.state + "/bin/provision-*")
	if len(m) != 1 {
		t.Fatalf("installed: %q", m)
	}
	os.WriteFile(m[0], []byte("#!/bin/sh\necho tampered > \"$FAKE_AGENT_IN\"\n"), 0o755)
	if res := h.run(t.Context(), ""); res.Err != nil {
		t.Fatalf("second run: %v", res.Err)
	}
	if in := h.read("agent-in"); !strings.HasPrefix(in, "{") {
		t.Fatalf("the tampered binary ran: %q", in)
	}
	if ran := strings.TrimSpace(h.read("agent-in.path")); !strings.HasPrefix(ran, h.state+"/bin/.run.") {
		t.Errorf("ran %s, want the private copy in bin/.run.*", ran)
	}
	if left, _ := filepath.Glob(h.state + "/bin/.run.*"); len(left) != 0 {
		t.Errorf("private copies left behind: %q", left)
	}
}
