package agent

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/provision-tool/provision/playbook"
	_ "github.com/provision-tool/provision/tasks/all"
)

// TestCollectFilesRefusesFIFO: a FIFO as a copy source must be refused,
// not block the controller.
func TestCollectFilesRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "motd"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "p.yml")
	src := "- hosts: all\n  tasks:\n    - copy: {src: motd, dest: /etc/motd}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	pb, err := playbook.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	_, err = CollectFiles(pb)
	if err == nil || !strings.Contains(err.Error(), "motd: not a regular file: it is a FIFO") {
		t.Errorf("CollectFiles: %v", err)
	}
}
