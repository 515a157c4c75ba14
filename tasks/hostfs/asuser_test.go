package hostfs

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
)

// aliceHome is a tree with /etc/shadow (root's only), a system file
// anyone reads and alice's home, owned by alice.
func aliceHome(t *testing.T) *env {
	t.Helper()
	needRoot(t)
	e := newEnv(t)
	e.file("/etc/shadow", "root:$6$secret-hash:19000::::::\n", 0o600)
	e.file("/etc/containers/storage.conf", "[storage]\ndriver = \"overlay\"\n", 0o644)
	e.file("/root/notes.conf", "root's own\n", 0o644)
	if err := os.Chmod(e.h("/root"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.dir("/home/alice/.config/containers")
	for _, d := range []string{"/home/alice", "/home/alice/.config", "/home/alice/.config/containers"} {
		e.chown(d, alice)
	}
	return e
}

var aliceCred = Cred{UID: alice, GID: alice}

// userRefused asserts err is a UserReadError naming p, and that no byte of
// the secret is in its message.
func userRefused(t *testing.T, err error, p string) {
	t.Helper()
	var ue *UserReadError
	if !errors.As(err, &ue) || ue.Path != p {
		t.Fatalf("got %v, want a UserReadError on %s", err, p)
	}
	if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "root's own") {
		t.Fatalf("the refusal shows the file: %v", err)
	}
	if !strings.Contains(err.Error(), "uid 1000 cannot read it") {
		t.Errorf("the refusal does not say why: %v", err)
	}
}

func TestAttackUserLinkToShadowRefused(t *testing.T) {
	e := aliceHome(t)
	p := "/home/alice/.config/containers/storage.conf"
	for _, target := range []string{"/etc/shadow", "../../../../etc/shadow", "/root/notes.conf"} {
		os.Remove(e.h(p))
		e.link(target, p)
		e.chown(p, alice)
		_, err := e.fs.ReadFileAs(aliceCred, p, 1<<20)
		userRefused(t, err, p)
	}
	// The agent's own rights are back: root still reads the file.
	if data, err := e.fs.ReadFile("/etc/shadow"); err != nil || !strings.Contains(string(data), "secret") {
		t.Fatalf("root cannot read /etc/shadow after the user read: %q, %v", data, err)
	}
}

func TestAttackUserDirLinkToRootRefused(t *testing.T) {
	e := aliceHome(t)
	e.link("/root", "/home/alice/.config/containers/registries.conf.d")
	e.chown("/home/alice/.config/containers/registries.conf.d", alice)
	_, err := e.fs.ReadDirAs(aliceCred, "/home/alice/.config/containers/registries.conf.d", 100)
	userRefused(t, err, "/home/alice/.config/containers/registries.conf.d")
	_, err = e.fs.ReadFileAs(aliceCred, "/home/alice/.config/containers/registries.conf.d/notes.conf", 100)
	userRefused(t, err, "/home/alice/.config/containers/registries.conf.d/notes.conf")
}

func TestUserReadsWhatTheUserCan(t *testing.T) {
	e := aliceHome(t)
	e.link("/etc/containers/storage.conf", "/home/alice/.config/containers/storage.conf")
	e.chown("/home/alice/.config/containers/storage.conf", alice)
	data, err := e.fs.ReadFileAs(aliceCred, "/home/alice/.config/containers/storage.conf", 1<<20)
	if err != nil || !strings.Contains(string(data), "overlay") {
		t.Fatalf("got %q, %v", data, err)
	}
	// A file of a group alice is in, readable by the group only.
	e.file("/home/alice/.config/containers/group.conf", "group\n", 0o640)
	if err := os.Chown(e.h("/home/alice/.config/containers/group.conf"), 0, 4242); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.ReadFileAs(aliceCred, "/home/alice/.config/containers/group.conf", 100); err == nil {
		t.Fatal("read a file of a group alice is not in")
	}
	withGroup := Cred{UID: alice, GID: alice, Groups: []int{4242}}
	if data, err := e.fs.ReadFileAs(withGroup, "/home/alice/.config/containers/group.conf", 100); err != nil || string(data) != "group\n" {
		t.Fatalf("got %q, %v", data, err)
	}
	ents, err := e.fs.ReadDirAs(aliceCred, "/home/alice/.config/containers", 100)
	if err != nil || len(ents) != 2 || ents[0].Name() != "group.conf" {
		t.Fatalf("got %v, %v", ents, err)
	}
	if _, err := e.fs.ReadDirAs(aliceCred, "/home/alice/.config/containers", 1); err == nil {
		t.Fatal("listed more entries than the bound")
	}
}

func TestUserReadMissingTooLargeAndFIFO(t *testing.T) {
	e := aliceHome(t)
	_, err := e.fs.ReadFileAs(aliceCred, "/home/alice/.config/containers/none.conf", 100)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing: got %v", err)
	}
	e.file("/home/alice/.config/containers/big.conf", strings.Repeat("x", 101), 0o644)
	if _, err := e.fs.ReadFileAs(aliceCred, "/home/alice/.config/containers/big.conf", 100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too large: got %v", err)
	}
	if err := syscall.Mkfifo(e.h("/home/alice/.config/containers/fifo.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.ReadFileAs(aliceCred, "/home/alice/.config/containers/fifo.conf", 100); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("fifo: got %v", err)
	}
	// Alice's home closed to her (0700 root): nothing under it is read.
	if err := os.Chown(e.h("/home/alice"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(e.h("/home/alice"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err = e.fs.ReadFileAs(aliceCred, "/home/alice/.config/containers/none.conf", 100)
	userRefused(t, err, "/home/alice/.config/containers/none.conf")
}

// A huge file (a sparse one costs nothing to make) is refused before it is
// read into memory, by every read.
func TestAttackHugeFileRefused(t *testing.T) {
	e := newEnv(t)
	e.file("/etc/containers/registries.conf.d/huge.conf", "", 0o644)
	if err := os.Truncate(e.h("/etc/containers/registries.conf.d/huge.conf"), MaxReadFile+1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.ReadFile("/etc/containers/registries.conf.d/huge.conf"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadFile: got %v, want ErrTooLarge", err)
	}
	if _, _, err := e.fs.ReadFileNoFollow("/etc/containers/registries.conf.d/huge.conf"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadFileNoFollow: got %v, want ErrTooLarge", err)
	}
}
