package transport_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/provision-tool/provision/tasks/all"
	"github.com/provision-tool/provision/transport"
	"github.com/provision-tool/provision/transport/transporttest"

	"github.com/provision-tool/provision/testhost"
)

func TestLocalConformance(t *testing.T) {
	if os.Geteuid() != 0 {
		testhost.Skipf(t, "the local transport runs the agent's tasks as the current user; the suite needs root")
	}
	dir := t.TempDir()
	transporttest.Run(t, transport.Local{Root: "/"}, transport.Target{Name: "localhost", Connection: "local"}, dir,
		func(p string) (string, error) { b, err := os.ReadFile(p); return string(b), err })
}

// loopbackSSHD starts a real sshd on 127.0.0.1 with throwaway keys and
// returns a target for it, with a known_hosts file holding its key.
func loopbackSSHD(t *testing.T) (transport.Target, string) {
	t.Helper()
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	if _, err := os.Stat(sshd); err != nil || os.Geteuid() != 0 {
		testhost.Skipf(t, "needs root and sshd (apt-get install openssh-server)")
	}
	dir := t.TempDir()
	run := func(name string, args ...string) {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir+"/host_key")
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir+"/client_key")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	os.WriteFile(dir+"/authorized_keys", mustRead(t, dir+"/client_key.pub"), 0o600)
	cfg := fmt.Sprintf("Port %d\nListenAddress 127.0.0.1\nHostKey %s/host_key\nAuthorizedKeysFile %s/authorized_keys\n"+
		"PermitRootLogin prohibit-password\nPasswordAuthentication no\nUsePAM no\nStrictModes no\nPidFile none\n", port, dir, dir)
	os.WriteFile(dir+"/sshd_config", []byte(cfg), 0o600)
	// sshd insists on its privilege-separation directory, compiled in as
	// /run/sshd; one made here goes again after the test.
	if _, err := os.Stat("/run/sshd"); os.IsNotExist(err) {
		os.Mkdir("/run/sshd", 0o755)
		t.Cleanup(func() { os.Remove("/run/sshd") })
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", dir+"/sshd_config")
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", l.Addr().String())
		if err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatalf("sshd did not start: %s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	hostPub := strings.Fields(string(mustRead(t, dir+"/host_key.pub")))
	known := fmt.Sprintf("[127.0.0.1]:%d %s %s\n", port, hostPub[0], hostPub[1])
	os.WriteFile(dir+"/known_hosts", []byte(known), 0o600)
	return transport.Target{Name: "loop", Connection: "ssh", Address: "127.0.0.1", Port: port, User: "root",
		KeyFile: dir + "/client_key",
		SSHArgs: []string{"-F", "/dev/null", "-o", "UserKnownHostsFile=" + dir + "/known_hosts", "-o", "StrictHostKeyChecking=yes"}}, dir
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// buildProvision builds the real binary, which the SSH transport uploads.
func buildProvision(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "provision")
	cmd := exec.Command("go", "build", "-o", out, "../cmd/provision")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func TestSSHConformance(t *testing.T) {
	target, _ := loopbackSSHD(t)
	dir := t.TempDir()
	ssh := &transport.SSH{Binaries: &transport.Binaries{Self: buildProvision(t)}, StateDir: dir + "/state"}
	transporttest.Run(t, ssh, target, dir,
		func(p string) (string, error) { b, err := os.ReadFile(p); return string(b), err })
	assertAgentIn(t, dir+"/state/bin")
}

// assertAgentIn fails unless the agent binary was kept in binDir.
func assertAgentIn(t *testing.T, binDir string) {
	t.Helper()
	if m, _ := filepath.Glob(binDir + "/provision-*"); len(m) != 1 {
		t.Fatalf("agent binaries in %s: %q, want one", binDir, m)
	}
}

func TestSSHChangedHostKeyIsRefused(t *testing.T) {
	target, dir := loopbackSSHD(t)
	exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir+"/other").Run()
	other := strings.Fields(string(mustRead(t, dir+"/other.pub")))
	os.WriteFile(dir+"/known_hosts", []byte(fmt.Sprintf("[127.0.0.1]:%d %s %s\n", target.Port, other[0], other[1])), 0o600)
	ssh := &transport.SSH{Binaries: &transport.Binaries{Self: "/nonexistent"}}
	res := ssh.Run(t.Context(), target, &transport.Job{}, &transporttest.Recorder{})
	if !res.Unreachable || res.Err == nil || !strings.Contains(res.Err.Error(), "HOST IDENTIFICATION HAS CHANGED") && !strings.Contains(res.Err.Error(), "Host key verification failed") {
		t.Fatalf("want the changed key refused, got %+v", res)
	}
}

func TestSSHUnreachable(t *testing.T) {
	ssh := &transport.SSH{Binaries: &transport.Binaries{Self: "/nonexistent"}, ConnectTimeout: 2 * time.Second}
	target := transport.Target{Name: "nowhere", Address: "127.0.0.1", Port: 1, SSHArgs: []string{"-F", "/dev/null"}}
	res := ssh.Run(t.Context(), target, &transport.Job{}, &transporttest.Recorder{})
	if !res.Unreachable || !strings.Contains(res.Err.Error(), "Connection refused") {
		t.Fatalf("got %+v", res)
	}
}

func TestSSHExec(t *testing.T) {
	target, _ := loopbackSSHD(t)
	state := t.TempDir()
	ssh := &transport.SSH{Binaries: &transport.Binaries{Self: buildProvision(t)}, StateDir: state}
	out, code, unreachable, err := ssh.Exec(t.Context(), target, "facts", "--output", "json")
	if err != nil || unreachable || code != 0 || !strings.Contains(string(out), `"package_manager"`) {
		t.Fatalf("exec facts: %q %d %v %v", out, code, unreachable, err)
	}
	assertAgentIn(t, state+"/bin")
	out, code, _, err = ssh.Exec(t.Context(), target, "doc", "nosuchmodule")
	if code != 1 || err == nil || !strings.Contains(err.Error(), `no module "nosuchmodule"`) {
		t.Fatalf("exec failing command: %q %d %v", out, code, err)
	}
}
