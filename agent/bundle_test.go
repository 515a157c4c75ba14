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

// TestBundleCarriesImports: an agent gets the sample repository's
// imported files and role files in its bundle and parses the playbook from
// its run directory alone.
func TestBundleCarriesImports(t *testing.T) {
	sample, err := filepath.Abs("../cmd/provision/testdata/ansible/podman.yml")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := playbook.Load(sample)
	if err != nil {
		t.Fatal(err)
	}
	files, err := CollectFiles(pb)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"vars/main.yml", "roles/podman_users/tasks/main.yml",
		"roles/podman_users/tasks/subids.yml", "roles/podman_users/defaults/main.yml",
		"roles/podman_users/handlers/main.yml", "roles/podman_users/templates/subid.j2"} {
		if files[want] == nil {
			t.Errorf("bundle lacks %s", want)
		}
	}
	src, _ := os.ReadFile(sample)
	b := &Bundle{Playbook: "/nowhere/podman.yml", Source: src, Files: files}
	dir, err := b.unpack(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	remote, err := playbook.ParseVaultDir(b.Playbook, b.Source, nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(remote.Plays[0].Tasks), len(pb.Plays[0].Tasks); got != want {
		t.Errorf("agent sees %d tasks, controller %d", got, want)
	}
}
